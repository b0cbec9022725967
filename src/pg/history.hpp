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
  int worker_pid;
};

void insert_running(const NewRow& row);
void mark_completed(long long id, const BackupMeta& meta);
void mark_failed(long long id, const std::string& error_message);

struct Interrupted {
  std::string name;
};
// Rows left 'running' or 'queued' by a process that no longer exists become
// 'failed' with reason; except_id (the live job, or 0) is left alone.
std::vector<Interrupted> fail_interrupted(const std::string& reason, long long except_id);

}  // namespace pgvault::pg::history
