// SQL entry points that start and wait for backups.
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"

#include <csignal>
#include <string>

#include "error_boundary.hpp"
#include "history.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

namespace pgvault::pg {
namespace {

constexpr const char* kValidKinds = "physical";

std::string text_arg(FunctionCallInfo fcinfo, int n) {
  return pg_guard([&] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
}

void validate_kind(const std::string& kind) {
  if (kind != "physical") {
    throw Error(ErrorKind::invalid_argument,
                "unknown backup kind \"" + kind + "\"; valid kinds: " + kValidKinds);
  }
}

void validate_label(const std::string& label) {
  if (label.size() > 200) {
    throw Error(ErrorKind::invalid_argument, "backup label is too long (" +
                                                 std::to_string(label.size()) +
                                                 " bytes); at most 200 bytes are allowed");
  }
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ErrorKind::invalid_argument,
                  "backup label contains a control character; use printable text");
    }
  }
}

bool process_alive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

// A name unique in vault.backups: "<UTC time>-<kind>", suffixed on collision.
std::string new_backup_name(const std::string& kind) {
  const std::string base = compact_timestamp(utc_timestamp_now()) + "-" + kind;
  std::string name = base;
  for (int n = 2;; ++n) {
    auto rows = spi_query("SELECT 1 FROM vault.backups WHERE name = $1", {name});
    if (rows.empty()) return name;
    name = base + "-" + std::to_string(n);
  }
}

// Claims the cluster's single job slot, or throws naming the running backup.
// A slot whose process is gone (killed) is reclaimed.
void claim_job_slot(long long id, const std::string& name, const std::string& kind,
                    const std::string& label, const std::string& initiated_by) {
  lock_shared();
  JobSlot& job = shared()->job;
  const JobSlot seen = job;
  const bool busy = seen.state != JobState::idle &&
                    (seen.state == JobState::starting ? process_alive(seen.requester_pid)
                                                      : process_alive(seen.worker_pid));
  if (!busy) {
    memset(&job, 0, sizeof(job));
    job.state = JobState::starting;
    job.backup_id = id;
    job.requester_pid = MyProcPid;
    job.requester_latch = MyLatch;
    job.database = MyDatabaseId;
    job.started_at = GetCurrentTimestamp();
    copy_fixed(job.name, kNameLen, name.c_str());
    copy_fixed(job.kind, kWordLen, kind.c_str());
    copy_fixed(job.trigger, kWordLen, "manual");
    copy_fixed(job.initiated_by, NAMEDATALEN, initiated_by.c_str());
    copy_fixed(job.label, kLabelLen, label.c_str());
  }
  unlock_shared();
  if (busy) {
    const char* since = pg_guard([&] { return timestamptz_to_str(seen.started_at); });
    throw Error(ErrorKind::conflict,
                std::string("backup \"") + seen.name + "\" (id " + std::to_string(seen.backup_id) +
                    ") is already running since " + since + "; only one backup runs at a time");
  }
}

void release_if_ours(long long id) {
  lock_shared();
  if (shared()->job.backup_id == id && shared()->job.state == JobState::starting) {
    shared()->job.state = JobState::idle;
  }
  unlock_shared();
}

BackgroundWorkerHandle* launch_job_worker(long long id, const std::string& name) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgvault");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgvault_job_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "pgvault backup %s", name.c_str());
  snprintf(worker.bgw_type, BGW_MAXLEN, "pgvault backup");
  worker.bgw_main_arg = Int64GetDatum(id);
  worker.bgw_notify_pid = MyProcPid;
  BackgroundWorkerHandle* handle = nullptr;
  const bool ok = pg_guard([&] { return RegisterDynamicBackgroundWorker(&worker, &handle); });
  if (!ok) {
    throw Error(ErrorKind::conflict,
                "could not start the pgvault job worker: no background worker slot is free "
                "(raise max_worker_processes)");
  }
  return handle;
}

// Waits until the worker has committed the history row (or died trying).
void wait_until_running(long long id, BackgroundWorkerHandle* handle) {
  for (;;) {
    lock_shared();
    const bool still_starting =
        shared()->job.backup_id == id && shared()->job.state == JobState::starting;
    unlock_shared();
    if (!still_starting) return;
    pid_t pid = 0;
    const BgwHandleStatus st = pg_guard([&] { return GetBackgroundWorkerPid(handle, &pid); });
    if (st == BGWH_STOPPED || st == BGWH_POSTMASTER_DIED) {
      release_if_ours(id);
      throw Error(ErrorKind::internal,
                  "the pgvault job worker exited before it could start the backup; see the "
                  "server log");
    }
    pg_guard([] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    });
  }
}

}  // namespace

}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

// vault._start_backup(kind text, label text, wait boolean) RETURNS bigint
PGVAULT_FUNCTION(pgvault_start_backup) {
  if (PG_ARGISNULL(0)) {
    throw Error(ErrorKind::invalid_argument,
                std::string("backup kind must not be NULL; valid kinds: ") + kValidKinds);
  }
  if (IsolationUsesXactSnapshot()) {
    // The outcome is committed by the job worker; this transaction's
    // snapshot would never see it.
    throw Error(ErrorKind::unsupported,
                "vault.create_backup() cannot run in a REPEATABLE READ or SERIALIZABLE "
                "transaction; call it in READ COMMITTED (the default)");
  }
  const std::string kind = text_arg(fcinfo, 0);
  validate_kind(kind);
  const std::string label = PG_ARGISNULL(1) ? "" : text_arg(fcinfo, 1);
  validate_label(label);
  const bool wait = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
  const std::string initiated_by =
      pg_guard([] { return GetUserNameFromId(GetSessionUserId(), false); });

  pg_guard([] { SPI_connect(); });
  const long long id =
      std::stoll(spi_query("SELECT nextval('vault.backups_id_seq')").at(0).at(0).value_or("0"));
  const std::string name = new_backup_name(kind);
  claim_job_slot(id, name, kind, label, initiated_by);
  // The previous job's process is gone: a row it left 'running' is stale.
  history::settle_unfinished("interrupted: its job worker exited without recording an outcome", id);
  pg_guard([] { SPI_finish(); });

  BackgroundWorkerHandle* handle = nullptr;
  try {
    handle = launch_job_worker(id, name);
    wait_until_running(id, handle);
  } catch (...) {
    release_if_ours(id);
    throw;
  }
  if (!wait) PG_RETURN_INT64(id);

  try {
    pg_guard([&] { (void)WaitForBackgroundWorkerShutdown(handle); });
  } catch (const PgError& e) {
    if (e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;
    throw PgError(e.sqlerrcode(), e.what(),
                  "Backup \"" + name + "\" (id " + std::to_string(id) +
                      ") continues in the background; vault.cancel_backup() stops it.",
                  "");
  }
  const auto rows = spi_query_in_function(
      "SELECT status, coalesce(error_message, '') FROM vault.backups WHERE id = $1::bigint",
      {std::to_string(id)});
  const std::string status = rows.empty() ? "missing" : rows[0][0].value_or("");
  if (status != "completed") {
    const std::string why = rows.empty() ? "" : rows[0][1].value_or("");
    throw PgError(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
                  "backup \"" + name + "\" failed: " +
                      (why.empty() ? "the job worker exited without recording an outcome" : why),
                  "See vault.history, id " + std::to_string(id) + ".", "");
  }
  PG_RETURN_INT64(id);
}

// vault.cancel_backup() RETURNS boolean: asks the running backup to stop.
// Its row becomes 'cancelled' once the job worker has removed its objects.
PGVAULT_FUNCTION(pgvault_cancel_backup) {
  lock_shared();
  JobSlot& job = shared()->job;
  const bool running = job.state == JobState::running || job.state == JobState::starting;
  if (running) job.cancel_requested = true;
  unlock_shared();
  PG_RETURN_BOOL(running);
}
