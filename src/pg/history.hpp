// vault.backups rows: every state change of a backup in its own committed
// transaction (the audit trail must survive whatever happens next).
#pragma once

#include "pgvault/catalog/backup_meta.hpp"

#include <string>
#include <vector>

namespace pgvault::pg::history {

struct NewRow {
  long long id;
  std::string name, kind, trigger, label, initiated_by, compression, location;
  std::string repository, system_identifier;  // the store it is written to
  int worker_pid;
  std::string scheduled_for;  // timestamptz text; empty = NULL
  int attempt;
  std::string database;  // the database backed up (logical) or connected to
  std::string options;   // logical: LogicalOptions JSON; empty = NULL
};

void insert_running(const NewRow& row);
void mark_completed(long long id, const BackupMeta& meta);
// status: "failed" or "cancelled".
void mark_failed(long long id, const std::string& error_message,
                 const std::string& status = "failed");

// A scheduled run that did not start (a backup was running, or it was
// missed while the server was down). Runs inside the caller's SPI connection.
void record_skipped(long long id, const std::string& name, const std::string& kind,
                    const std::string& trigger, const std::string& scheduled_for,
                    const std::string& reason);

// Rows of backups removed from the repository: status 'expired' (retention)
// or 'deleted' (by hand). Runs inside the caller's SPI connection.
void mark_removed(const std::vector<std::string>& names, const std::string& status);

// Failed backups whose partial objects are still to be removed (with the
// store they were written to; empty when unknown), and marking them done.
// Run inside the caller's SPI connection.
struct PendingCleanup {
  std::string name, repository, system_identifier;
};
std::vector<PendingCleanup> pending_cleanups();
void clear_cleanup_pending(const std::vector<std::string>& names);
// In its own transaction: this failed backup's objects could not be removed.
void set_cleanup_pending(long long id);

// Unix time of the cron fire time of the newest scheduled run of a kind (0 if none).
long long last_scheduled_for(const std::string& kind);

// Settles rows left 'queued' or 'running' by processes that are gone
// (except_id, the live job, is left alone). A backup whose backup.json is in
// the repository did complete — its row was copied before it finished, as
// in a cluster restored from it — and becomes 'completed'; any other becomes
// 'failed' with reason and its partial objects are removed from the
// repository. Runs inside the caller's SPI connection and transaction.
void settle_unfinished(const std::string& reason, long long except_id);

}  // namespace pgvault::pg::history
