// Verification from SQL (vault.verify_backup) and on a schedule
// (pgvault.verify_schedule, in its own background worker): the core's
// verify_backup against this cluster's repository, with the configured
// encryption key, the outcome recorded on the backup's row (verified_at,
// verify_status, verify_error) so an auditor sees when each backup was last
// proven readable, and in the repository (<sysid>/verifications/<name>.json)
// for `pgvault metrics` and `pgvault list`, which have no database.
// A check of the stored bytes alone (depth 'stored') proves less than that:
// as `pgvault verify --stored-only`, only its failure is recorded.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/wal/wal_read.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_verify.hpp"

#include <functional>
#include <string>

#include "storage_settings.hpp"

#include "alerts.hpp"
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
  VerifyDepth depth = VerifyDepth::decoded;
  bool passed = false;
  VerifyReport report;
  std::string error;
};

// Whether an outcome counts as a verification, for the backup's row, the
// repository's record and the alerts: a pass of the stored bytes alone does
// not prove the backup readable (a failure of them disproves it).
bool recorded(const VerifyOutcome& o) {
  return o.depth == VerifyDepth::decoded || !o.passed;
}

// Reads the backup back. A problem with the backup is an outcome, not an
// error; not finding it, and interrupts (PgError), are errors. The outcome
// is also written to the repository (verification_record.hpp) for the
// tools that read it without the database, unless recorded() says it is
// not one; verified_by says who asked.
VerifyOutcome verify_named(const std::string& name_or_latest, VerifyDepth depth,
                           const std::string& verified_by,
                           const std::function<void()>& check_interrupts) {
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  const BackupMeta meta = repo.resolve(name_or_latest, system_identifier_string());
  VerifyOutcome out;
  out.name = meta.name;
  out.depth = depth;
  VerifyOptions options;
  options.depth = depth;
  options.decryptor = decryptor_for(meta, configured_encryption());
  // An incremental's chain: each backup with its own key derivation.
  const EncryptionSettings encryption = configured_encryption();
  options.decryptor_of = [encryption](const BackupMeta& b) { return decryptor_for(b, encryption); };
  options.on_progress = [&](std::uint64_t, std::uint64_t) { check_interrupts(); };
  try {
    out.report = verify_backup(repo, meta, options);
    out.passed = true;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    out.error = e.what();
  }
  if (!recorded(out)) return out;
  VerificationRecord record;
  record.backup = meta.name;
  record.system_identifier = meta.system_identifier;
  record.kind = meta.kind;
  record.verified_at = utc_timestamp_now();
  record.passed = out.passed;
  record.error = out.error;
  record.verified_by = verified_by;
  record.objects = out.report.objects;
  record.bytes_read = out.report.bytes_read;
  if (auto warning = record_verification(repo, record)) log_message(WARNING, *warning);
  return out;
}

// Inside the caller's SPI connection; nothing for an outcome that is not recorded().
void record(const VerifyOutcome& o) {
  if (!recorded(o)) return;
  spi_query(
      "UPDATE vault.backups SET verified_at = pg_catalog.now(), verify_status = $2, "
      "verify_error = $3 "
      "WHERE name = $1",
      {o.name, std::string(o.passed ? "passed" : "failed"),
       o.passed ? SqlValue() : SqlValue(o.error)});
  queue_alert_outcome_at_commit("verify", o.passed,
                                {{"name", o.name}, {"error", o.passed ? "" : o.error}});
}

void log_outcome(const VerifyOutcome& o) {
  if (o.passed && o.depth == VerifyDepth::stored) {
    log_message(LOG, "backup \"" + o.name + "\": the stored bytes of " +
                         std::to_string(o.report.objects) +
                         " objects match backup.json (contents not decoded, not recorded as a "
                         "verification)");
  } else if (o.passed) {
    log_message(LOG, "backup \"" + o.name + "\" verified: " + std::to_string(o.report.objects) +
                         " objects, " + std::to_string(o.report.files) + " files");
  } else {
    log_message(WARNING, "backup \"" + o.name + "\" failed verification: " + o.error);
  }
}

struct WalVerifyOutcome {
  std::string name;
  bool passed = false;
  WalVerifyReport report;
  std::string error;
};

// The archived WAL of a physical backup ("latest": the newest physical
// one). As with verify_named, a problem with the WAL is an outcome; not
// finding the backup, naming a logical one, and interrupts are errors.
WalVerifyOutcome verify_wal_named(const std::string& name_or_latest) {
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  BackupSelector physical;
  physical.kind = "physical";
  const std::string system_identifier = system_identifier_string();
  const BackupMeta meta = repo.resolve(name_or_latest, system_identifier, physical);
  if (!meta.is_physical()) {
    throw Error(ErrorKind::invalid_argument,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; vault.verify_wal() checks the archived WAL of physical backups only");
  }
  WalVerifyOutcome out;
  out.name = meta.name;
  try {
    const KeyProvider keys = restore_key_provider(configured_encryption());
    const WalCatalog catalog =
        read_wal_catalog(*storage, system_identifier, repo.list_backups(system_identifier), keys);
    out.report = verify_backup_wal(*storage, catalog, meta, keys, [](std::string_view) {
      pg_guard([] { CHECK_FOR_INTERRUPTS(); });
    });
    out.passed = true;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    out.error = e.what();
  }
  return out;
}

}  // namespace

}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

// vault.verify_backup(name text DEFAULT 'latest', depth text DEFAULT
// 'decoded', OUT backup text, OUT verified boolean, OUT objects bigint, OUT
// files bigint, OUT bytes_read bigint, OUT error text). files is NULL for
// depth 'stored', which opens no archive.
PGVAULT_FUNCTION(pgvault_verify_backup) {
  require_pgvault_database();
  const std::string name = PG_ARGISNULL(0) ? std::string("latest") : text_arg(fcinfo, 0);
  const VerifyDepth depth =
      PG_ARGISNULL(1) ? VerifyDepth::decoded : parse_verify_depth(text_arg(fcinfo, 1));
  const VerifyOutcome o = verify_named(
      name, depth,
      depth == VerifyDepth::stored ? "vault.verify_backup (stored bytes)" : "vault.verify_backup",
      [] { pg_guard([] { CHECK_FOR_INTERRUPTS(); }); });
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
    bool nulls[6] = {false, false, false, o.depth == VerifyDepth::stored, false, o.passed};
    values[0] = CStringGetTextDatum(o.name.c_str());
    values[1] = BoolGetDatum(o.passed);
    values[2] = Int64GetDatum(static_cast<int64>(o.report.objects));
    values[3] = Int64GetDatum(static_cast<int64>(o.report.files));
    values[4] = Int64GetDatum(static_cast<int64>(o.report.bytes_read));
    values[5] = o.passed ? Datum(0) : CStringGetTextDatum(o.error.c_str());
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
  });
}

// vault.verify_wal(name text DEFAULT 'latest', OUT backup text, OUT verified
// boolean, OUT timelines integer[], OUT from_lsn pg_lsn, OUT to_lsn pg_lsn,
// OUT to_timeline integer, OUT first_segment text, OUT last_segment text,
// OUT objects bigint, OUT bytes_read bigint, OUT error text)
PGVAULT_FUNCTION(pgvault_verify_wal) {
  require_pgvault_database();
  const std::string name = PG_ARGISNULL(0) ? std::string("latest") : text_arg(fcinfo, 0);
  const WalVerifyOutcome o = verify_wal_named(name);
  const WalVerifyReport& r = o.report;
  if (o.passed) {
    log_message(LOG, "archived WAL of backup \"" + o.name +
                         "\" verified: " + std::to_string(r.objects) + " objects from " +
                         format_lsn(r.from) + " to " + format_lsn(r.to) + " on timeline " +
                         std::to_string(r.to_timeline));
  } else {
    log_message(WARNING,
                "archived WAL of backup \"" + o.name + "\" failed verification: " + o.error);
  }
  // At commit, as verify_backup's outcome: the alerts worker raises
  // verify_failed (subject "WAL verification") and its recovery.
  queue_alert_outcome_at_commit(
      "verify", o.passed, {{"what", "wal"}, {"name", o.name}, {"error", o.passed ? "" : o.error}});
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "vault.verify_wal must return a record");
    desc = BlessTupleDesc(desc);
    constexpr int kColumns = 11;
    Datum values[kColumns] = {};
    bool nulls[kColumns] = {};
    values[0] = CStringGetTextDatum(o.name.c_str());
    values[1] = BoolGetDatum(o.passed);
    if (o.passed) {
      Datum* timelines = static_cast<Datum*>(palloc(sizeof(Datum) * (r.timelines.size() + 1)));
      for (std::size_t i = 0; i < r.timelines.size(); ++i)
        timelines[i] = Int32GetDatum(static_cast<int32>(r.timelines[i]));
      values[2] = PointerGetDatum(construct_array(timelines, static_cast<int>(r.timelines.size()),
                                                  INT4OID, sizeof(int32), true, TYPALIGN_INT));
      values[3] = LSNGetDatum(r.from.value);
      values[4] = LSNGetDatum(r.to.value);
      values[5] = Int32GetDatum(static_cast<int32>(r.to_timeline));
      values[6] = CStringGetTextDatum(r.first_segment.c_str());
      values[7] = CStringGetTextDatum(r.last_segment.c_str());
      values[8] = Int64GetDatum(static_cast<int64>(r.objects));
      values[9] = Int64GetDatum(static_cast<int64>(r.stored_bytes));
      nulls[10] = true;
    } else {
      for (int i = 2; i < 10; ++i) nulls[i] = true;
      values[10] = CStringGetTextDatum(o.error.c_str());
    }
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
    o = verify_named("latest", VerifyDepth::decoded, "scheduled verification",
                     [] { pg_guard([] { CHECK_FOR_INTERRUPTS(); }); });
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    log_message(LOG, "scheduled verification: no backup to verify yet");
    return;
  }
  in_own_transaction([&] { record(o); });
  log_outcome(o);
}
