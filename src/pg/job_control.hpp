// Starting backups: the cluster's single job slot and the job worker launch,
// shared by vault.create_backup() and the scheduler.
#pragma once

#include <memory>
#include <string>

#include "postgres_headers.hpp"

namespace pgvault {
class Repository;
}

namespace pgvault::pg {

struct JobRequest {
  std::string kind = "physical";
  std::string label;
  std::string trigger = "manual";
  std::string initiated_by;
  TimestampTz scheduled_for = 0;
  int attempt = 1;
  std::string database;  // logical: the database to dump
  std::string options;   // logical: LogicalOptions as JSON
};

// A dynamic worker's handle. RegisterDynamicBackgroundWorker pallocs it in
// the current memory context, which is the launching transaction's (or its
// SPI connection's) and is freed at commit; the scheduler and the SQL
// functions that wait for a job read it afterwards. So it lives in
// TopMemoryContext and is pfree'd with its last owner.
using WorkerHandle = std::shared_ptr<BackgroundWorkerHandle>;

struct LaunchedJob {
  long long id = 0;
  std::string name;
  WorkerHandle handle;
};

// Kinds create_backup accepts, for messages.
constexpr const char* kValidKinds = "physical, logical, incremental";

// Allocates an id and a unique name, claims the job slot and launches the
// job worker in this database; returns once the worker has committed the
// history row. Must run inside a transaction with SPI connected. Throws
// Error(conflict) naming the running backup if one runs.
LaunchedJob start_job(const JobRequest& request);

// Registers a static background worker (from _PG_init) that the postmaster
// restarts 10 s after it exits: pgvault's long-lived processes. flags:
// BGWORKER_SHMEM_ACCESS, with BGWORKER_BACKEND_DATABASE_CONNECTION if it
// connects. Started once recovery is over (a standby's start at promotion).
void register_static_worker(const char* function, const char* name, int flags);

// Registers a dynamic background worker of pgvault.so running function(arg)
// in pgvault.database's connection slot type; the caller is notified when
// it stops. Throws Error(conflict) when no worker slot is free.
WorkerHandle launch_worker(const char* function, const std::string& name, const char* type,
                           Datum arg);

// For SQL functions: start_job with SPI connected for it.
LaunchedJob start_job_in_function(const JobRequest& request);

// Waits until the job worker of a job this backend started has exited
// (wait event Extension: PostgreSQL's own wait would show
// IPC/BgWorkerShutdown, as if the worker were shutting down), then reads its
// row. Unless the row says 'completed', throws PgError "<failure>: <the
// row's error_message>" with DETAIL "See vault.history, id N.". A query
// cancel while waiting is rethrown with cancel_detail as its DETAIL: the job
// itself goes on.
void wait_for_job_to_complete(const LaunchedJob& job, const std::string& cancel_detail,
                              const std::string& failure);

// Allocates an id and a name unique in vault.backups and, with repo, in
// the repository (SPI connected).
long long next_backup_id();
std::string new_backup_name(const std::string& kind, Repository* repo = nullptr);

}  // namespace pgvault::pg
