// The static "pgvault scheduler" worker. It starts with the server (and
// again after a crash restart), and turns backups left 'running' by a crash
// into 'failed', removing their partial objects. The cron scheduler builds
// on this process.
#include "pgvault/error.hpp"

#include <string>

#include "error_boundary.hpp"
#include "logging.hpp"
#include "history.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

namespace pgvault::pg {
namespace {

bool extension_installed() {
  return !spi_query("SELECT 1 FROM pg_extension WHERE extname = 'pgvault'").empty();
}

void recover_interrupted_backups() {
  lock_shared();
  const long long live_job =
      shared()->job.state == JobState::idle ? 0 : static_cast<long long>(shared()->job.backup_id);
  unlock_shared();
  in_own_transaction([&] {
    if (extension_installed())
      history::settle_unfinished("interrupted by server restart", live_job);
  });
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
