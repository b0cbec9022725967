// The static "pgvault scheduler" worker. It starts with the server (and
// again after a crash restart), and turns backups left 'running' by a crash
// into 'failed', removing their partial objects. The cron scheduler builds
// on this process.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"

#include <string>

#include "error_boundary.hpp"
#include "history.hpp"
#include "job_worker.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

namespace pgvault::pg {
namespace {

void log_line(int level, const std::string& message) {
  pg_guard([&] { ereport(level, (errmsg("pgvault: %s", message.c_str()))); });
}

bool extension_installed() {
  return !spi_query("SELECT 1 FROM pg_extension WHERE extname = 'pgvault'").empty();
}

// Partial objects of an interrupted backup are never listed (no
// backup.json); removing them keeps the repository tidy. A backup that did
// get its backup.json is complete and is left alone.
void remove_partial_objects(const std::string& name) {
  try {
    auto storage = open_storage(guc_repository);
    Repository repo(*storage);
    const std::string sysid = system_identifier_string();
    if (!repo.backup_exists(sysid, name)) {
      storage->remove_prefix(Repository::backup_dir(sysid, name));
    }
  } catch (const std::exception& e) {
    log_line(WARNING, "could not remove the partial objects of backup \"" + name + "\": " + e.what());
  }
}

void recover_interrupted_backups() {
  lock_shared();
  const long long live_job =
      shared()->job.state == JobState::idle ? 0 : static_cast<long long>(shared()->job.backup_id);
  unlock_shared();
  std::vector<history::Interrupted> interrupted;
  in_own_transaction([&] {
    if (extension_installed()) {
      interrupted = history::fail_interrupted("interrupted by server restart", live_job);
    }
  });
  for (const auto& row : interrupted) {
    log_line(LOG, "backup \"" + row.name + "\" was interrupted by a server restart; marked failed");
    remove_partial_objects(row.name);
  }
}

void scheduler_main() {
  pg_guard([] {
    BackgroundWorkerInitializeConnection(guc_database, nullptr, 0);
    pgstat_report_appname("pgvault scheduler");
  });
  lock_shared();
  shared()->scheduler_pid = MyProcPid;
  unlock_shared();

  recover_interrupted_backups();

  while (!ShutdownRequestPending) {
    pg_guard([] {
      // No timeout: nothing to do until a signal arrives.
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
      }
    });
  }
  lock_shared();
  shared()->scheduler_pid = 0;
  unlock_shared();
}

}  // namespace

void register_scheduler() {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 10;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgvault");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgvault_scheduler_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "pgvault scheduler");
  snprintf(worker.bgw_type, BGW_MAXLEN, "pgvault scheduler");
  RegisterBackgroundWorker(&worker);
}

}  // namespace pgvault::pg

extern "C" PGDLLEXPORT void pgvault_scheduler_main(Datum arg);

void pgvault_scheduler_main(Datum) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  pgvault::pg::guarded_entry([] { pgvault::pg::scheduler_main(); });
}
