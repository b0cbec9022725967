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

// Rows left 'running' (except_id, the live job, left out), oldest first,
// with the store each was being written to (empty when unknown: a row from
// before 0.2). Runs inside the caller's SPI connection.
struct UnfinishedRow {
  long long id;
  std::string name, repository, system_identifier;
};
std::vector<UnfinishedRow> unfinished(long long except_id);

// The same state changes as mark_completed / mark_failed / set_cleanup_pending,
// inside the caller's SPI connection and transaction.
void record_completed(long long id, const BackupMeta& meta);
void record_failed(long long id, const std::string& error_message,
                   const std::string& status = "failed");
void record_cleanup_pending(long long id);

}  // namespace pgvault::pg::history
