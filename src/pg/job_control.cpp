#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/error.hpp"

#include <csignal>
#include <optional>

#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "incremental_source.hpp"
#include "interrupted_backups.hpp"
#include "job_control.hpp"
#include "job_worker.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"
#include "storage_settings.hpp"

namespace pgvault::pg {

void register_static_worker(const char* function, const char* name, int flags) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = flags;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 10;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgvault");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
  snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
  RegisterBackgroundWorker(&worker);
}

WorkerHandle launch_worker(const char* function, const std::string& name, const char* type,
                           Datum arg) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgvault");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name.c_str());
  snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
  worker.bgw_main_arg = arg;
  worker.bgw_notify_pid = MyProcPid;
  BackgroundWorkerHandle* handle = nullptr;
  const bool ok = pg_guard([&] {
    // pg_guard restores the memory context if this throws.
    const MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);
    const bool registered = RegisterDynamicBackgroundWorker(&worker, &handle);
    MemoryContextSwitchTo(caller);
    return registered;
  });
  if (!ok) {
    throw Error(ErrorKind::conflict, std::string("could not start the ") + type +
                                         " worker: no background worker slot is free "
                                         "(raise max_worker_processes)");
  }
  return WorkerHandle(handle, [](BackgroundWorkerHandle* h) { pfree(h); });
}

namespace {

bool process_alive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

bool slot_busy(const JobSlot& job) {
  if (job.state == JobState::idle) return false;
  return job.state == JobState::starting ? process_alive(job.requester_pid)
                                         : process_alive(job.worker_pid);
}

std::string describe(const JobSlot& job) {
  const char* since = pg_guard([&] { return timestamptz_to_str(job.started_at); });
  return std::string("backup \"") + job.name + "\" (id " + std::to_string(job.backup_id) +
         ") is already running since " + since;
}

// Claims the slot or throws naming the running backup. A slot whose process
// is gone (killed) is reclaimed.
void claim_job_slot(long long id, const std::string& name, const JobRequest& r) {
  if (r.options.size() >= static_cast<std::size_t>(kOptionsLen))
    throw Error(ErrorKind::invalid_argument,
                "the logical backup's table patterns are too long (" +
                    std::to_string(r.options.size()) + " bytes as JSON, at most " +
                    std::to_string(kOptionsLen - 1) + "); use patterns such as 'sales.*'");
  lock_shared();
  JobSlot& job = shared()->job;
  const JobSlot seen = job;
  const bool busy = slot_busy(seen);
  if (!busy) {
    memset(&job, 0, sizeof(job));
    job.state = JobState::starting;
    job.backup_id = id;
    job.requester_pid = MyProcPid;
    job.requester_latch = MyLatch;
    job.database = MyDatabaseId;
    job.started_at = GetCurrentTimestamp();
    job.scheduled_for = r.scheduled_for;
    job.attempt = r.attempt;
    copy_fixed(job.name, kNameLen, name.c_str());
    copy_fixed(job.kind, kWordLen, r.kind.c_str());
    copy_fixed(job.trigger, kWordLen, r.trigger.c_str());
    copy_fixed(job.initiated_by, NAMEDATALEN, r.initiated_by.c_str());
    copy_fixed(job.label, kLabelLen, r.label.c_str());
    copy_fixed(job.target_database, NAMEDATALEN, r.database.c_str());
    copy_fixed(job.options, kOptionsLen, r.options.c_str());
  }
  unlock_shared();
  if (busy) throw Error(ErrorKind::conflict, describe(seen) + "; only one backup runs at a time");
}

// The worker released the job slot: its outcome is on its row. (A slot
// that holds another job now was released first.)
bool job_released(long long id) {
  lock_shared();
  const bool released = shared()->job.backup_id != id || shared()->job.state == JobState::idle;
  unlock_shared();
  return released;
}

void release_if_starting(long long id) {
  lock_shared();
  if (shared()->job.backup_id == id && shared()->job.state == JobState::starting) {
    shared()->job.state = JobState::idle;
  }
  unlock_shared();
}

// The previous job's caller returned as soon as its worker released the job
// slot, which may still be exiting and hold its background worker slot for a
// few milliseconds: a job started right after it waits up to a second for a
// free one before it reports that there is none.
WorkerHandle launch_job_worker(long long id, const std::string& name) {
  for (int attempt = 1;; ++attempt) {
    try {
      return launch_worker(kJobWorkerEntry, "pgvault backup " + name, "pgvault backup",
                           Int64GetDatum(id));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict || attempt == 50) throw;
    }
    pg_guard([] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    });
  }
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

long long next_backup_id() {
  const auto rows =
      spi_query("SELECT pg_catalog.nextval('vault.backups_id_seq'::pg_catalog.regclass)");
  return std::stoll(rows.at(0).at(0).value_or("0"));
}

std::string new_backup_name(const std::string& kind, Repository* repo) {
  const std::string base = compact_timestamp(utc_timestamp_now()) + "-" + kind;
  std::string name = base;
  for (int n = 2;; ++n) {
    if (spi_query("SELECT 1 FROM vault.backups WHERE name = $1", {name}).empty() &&
        !(repo && repo->backup_name_in_use(system_identifier_string(), name)))
      return name;
    name = base + "-" + std::to_string(n);
  }
}

namespace {

// A name no backup in the repository has either: another server of the same
// system (a restored copy) may have written one this second. An unreachable
// store (repo null, or failing) is the job's to report; the job worker checks
// the name again.
std::string new_job_name(const std::string& kind, Repository* repo) {
  if (repo != nullptr) {
    try {
      return new_backup_name(kind, repo);
    } catch (const Error&) {
      // as without the repository
    }
  }
  return new_backup_name(kind);
}

// pgvault.incremental_fallback = full: an incremental with no backup to be
// taken against becomes a full backup, decided before it is named so that
// its name, row and kind agree (pgBackRest converts such an incremental too).
// 'error', or a repository that cannot be read now (repo null, or failing),
// leaves it to the job worker, whose failure is recorded in vault.history.
JobRequest with_incremental_fallback(JobRequest r, Repository* repo) {
  if (r.kind != "incremental" ||
      guc_incremental_fallback != static_cast<int>(IncrementalFallback::full) || repo == nullptr)
    return r;
  std::string reason;
  try {
    (void)incremental_parent_now(*repo, system_identifier_string(), guc_repository);
    return r;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) return r;
    reason = e.what();
  } catch (const PgError&) {
    throw;  // PostgreSQL's own error: the caller's to report
  } catch (const std::exception&) {
    return r;  // cannot tell now: the job worker looks again and reports
  }
  r.kind = "physical";
  const std::string text =
      "taking a full backup instead of an incremental (pgvault.incremental_fallback = full): " +
      reason;
  log_message(LOG, text);
  if (!IsBackgroundWorker) log_message(NOTICE, text);
  return r;
}

struct NamedRequest {
  JobRequest request;
  std::string name;
};

// What the caller reads of the repository before the job starts: the
// fallback's parent and a free name, through one storage (one connection,
// one read of the format file; they were two, one after the other, before
// every incremental's worker started).
NamedRequest kind_and_name(const JobRequest& requested) {
  std::unique_ptr<Storage> storage;
  try {
    storage = open_repository(guc_repository);
  } catch (const std::exception&) {
    // left null: the job worker opens it again and reports why
  }
  std::optional<Repository> repo;
  if (storage) repo.emplace(*storage);
  Repository* const checks = repo ? &*repo : nullptr;
  NamedRequest out{with_incremental_fallback(requested, checks), ""};
  out.name = new_job_name(out.request.kind, checks);
  return out;
}

}  // namespace

LaunchedJob start_job(const JobRequest& requested) {
  require_pgvault_database();
  require_chosen_repository();
  const NamedRequest named = kind_and_name(requested);
  const JobRequest& r = named.request;
  LaunchedJob job;
  job.id = next_backup_id();
  job.name = named.name;
  claim_job_slot(job.id, job.name, r);
  try {
    // The previous job released the slot (its process may still be exiting,
    // its work is over): a row it left 'running' is stale.
    settle_interrupted_backups("interrupted: its job worker exited without recording an outcome",
                               job.id);
    job.handle = launch_job_worker(job.id, job.name);
    wait_until_running(job.id, job.handle.get());
  } catch (...) {
    release_if_starting(job.id);
    throw;
  }
  return job;
}

LaunchedJob start_job_in_function(const JobRequest& request) {
  pg_guard([] { SPI_connect(); });
  LaunchedJob job = start_job(request);
  pg_guard([] { SPI_finish(); });
  return job;
}

void wait_for_job_to_complete(const LaunchedJob& job, const std::string& cancel_detail,
                              const std::string& failure) {
  BackgroundWorkerHandle* const handle = job.handle.get();
  try {
    pg_guard([&] {
      for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (job_released(job.id)) return;
        pid_t pid = 0;
        const BgwHandleStatus st = GetBackgroundWorkerPid(handle, &pid);
        if (st == BGWH_STOPPED || st == BGWH_POSTMASTER_DIED) return;
        // The worker sets our latch when it releases the job slot, and
        // (bgw_notify_pid) the postmaster when the worker exits.
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
      }
    });
  } catch (const PgError& e) {
    if (e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;
    throw PgError(e.sqlerrcode(), e.what(), cancel_detail, "");
  }
  const auto rows = spi_query_in_function(
      "SELECT status, coalesce(error_message, '') FROM vault.backups "
      "WHERE id = $1::pg_catalog.int8",
      {std::to_string(job.id)});
  const std::string status = rows.empty() ? "missing" : rows[0][0].value_or("");
  if (status == "completed") return;
  std::string error = rows.empty() ? "" : rows[0][1].value_or("");
  if (error.empty()) error = "the job worker exited without recording an outcome";
  throw PgError(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, failure + ": " + error,
                "See vault.history, id " + std::to_string(job.id) + ".", "");
}

}  // namespace pgvault::pg
