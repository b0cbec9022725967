// Verification from SQL (vault.verify_backup) and on a schedule
// (pgvault.verify_schedule, in its own background worker): the core's
// verify_backup against this cluster's repository, with the configured
// encryption key, the outcome recorded on the backup's row (verified_at,
// verify_status, verify_error) so an auditor sees when each backup was last
// proven readable.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/restore/verify.hpp"

#include <functional>
#include <string>

#include "storage_settings.hpp"

#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "job_control.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "verify_functions.hpp"
#include "worker_connection.hpp"

namespace pgvault::pg {

namespace {

struct VerifyOutcome {
  std::string name;
  bool passed = false;
  VerifyReport report;
  std::string error;
};

// Reads the backup back. A problem with the backup is an outcome, not an
// error; not finding it, and interrupts (PgError), are errors.
VerifyOutcome verify_named(const std::string& name_or_latest,
                           const std::function<void()>& check_interrupts) {
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  const BackupMeta meta = repo.resolve(name_or_latest, system_identifier_string());
  VerifyOutcome out;
  out.name = meta.name;
  VerifyOptions options;
  options.decryptor =
      decryptor_for(meta, {guc_encryption_key_file ? guc_encryption_key_file : "",
                           guc_encryption_passphrase ? guc_encryption_passphrase : ""});
  options.on_progress = [&](std::uint64_t, std::uint64_t) { check_interrupts(); };
  try {
    out.report = verify_backup(repo, meta, options);
    out.passed = true;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    out.error = e.what();
  }
  return out;
}

// Inside the caller's SPI connection.
void record(const VerifyOutcome& o) {
  spi_query(
      "UPDATE vault.backups SET verified_at = pg_catalog.now(), verify_status = $2, "
      "verify_error = $3 "
      "WHERE name = $1",
      {o.name, std::string(o.passed ? "passed" : "failed"),
       o.passed ? SqlValue() : SqlValue(o.error)});
}

void log_outcome(const VerifyOutcome& o) {
  if (o.passed) {
    log_message(LOG, "backup \"" + o.name + "\" verified: " + std::to_string(o.report.objects) +
                         " objects, " + std::to_string(o.report.files) + " files");
  } else {
    log_message(WARNING, "backup \"" + o.name + "\" failed verification: " + o.error);
  }
}

}  // namespace

}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

// vault.verify_backup(name text DEFAULT 'latest', OUT backup text, OUT verified
// boolean, OUT objects bigint, OUT files bigint, OUT bytes_read bigint, OUT
// error text)
PGVAULT_FUNCTION(pgvault_verify_backup) {
  require_pgvault_database();
  const std::string name = PG_ARGISNULL(0) ? std::string("latest") : text_arg(fcinfo, 0);
  const VerifyOutcome o = verify_named(name, [] { pg_guard([] { CHECK_FOR_INTERRUPTS(); }); });
  pg_guard([] { SPI_connect(); });
  record(o);
  pg_guard([] { SPI_finish(); });
  log_outcome(o);
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "vault.verify_backup must return a record");
    desc = BlessTupleDesc(desc);
    Datum values[6];
    bool nulls[6] = {false, false, false, false, false, o.passed};
    values[0] = CStringGetTextDatum(o.name.c_str());
    values[1] = BoolGetDatum(o.passed);
    values[2] = Int64GetDatum(static_cast<int64>(o.report.objects));
    values[3] = Int64GetDatum(static_cast<int64>(o.report.files));
    values[4] = Int64GetDatum(static_cast<int64>(o.report.bytes_read));
    values[5] = o.passed ? Datum(0) : CStringGetTextDatum(o.error.c_str());
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
  });
}

namespace pgvault::pg {

// The scheduled verification worker: the newest complete backup.
void launch_verify_worker() {
  (void)launch_worker("pgvault_verify_main", "pgvault verify", "pgvault verify", Datum(0));
}

}  // namespace pgvault::pg

PGVAULT_WORKER(pgvault_verify_main) {
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  connect_worker(guc_database);
  pg_guard([] { pgstat_report_appname("pgvault verify"); });
  VerifyOutcome o;
  try {
    o = verify_named("latest", [] { pg_guard([] { CHECK_FOR_INTERRUPTS(); }); });
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    log_message(LOG, "scheduled verification: no backup to verify yet");
    return;
  }
  in_own_transaction([&] { record(o); });
  log_outcome(o);
}
