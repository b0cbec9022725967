#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_read.hpp"

#include <fstream>
#include <sstream>

#include "storage_settings.hpp"

#include "configured_retention.hpp"
#include "history.hpp"
#include "logging.hpp"
#include "settings.hpp"

#include "postgres_headers.hpp"

extern "C" {
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
}

namespace pgvault::pg {
namespace {

// Objects of an incomplete backup untouched for this long belong to no live
// writer (a backup from another cluster sharing the repository included).
constexpr std::int64_t kLeftoverMinAge = 86400;

// Where this server is: its timeline's history (PostgreSQL keeps the history
// file of every timeline it went through in pg_wal; the backend's working
// directory is the data directory) and its WAL position. Without the file
// the timeline has no known ancestors, so backups of older timelines count as
// another server's and are kept: the safe side.
ServerPosition current_server_position() {
  ServerPosition self;
  TimeLineID tli = 0;
  XLogRecPtr position = InvalidXLogRecPtr;
  if (RecoveryInProgress()) {
    position = GetXLogReplayRecPtr(&tli);
  } else {
    tli = GetWALInsertionTimeLine();
    position = GetXLogInsertRecPtr();
  }
  self.position = Lsn{static_cast<std::uint64_t>(position)};
  self.wal_segment_size = static_cast<std::uint64_t>(wal_segment_size);
  self.history = TimelineHistory(tli);
  if (tli > 1) {
    char name[MAXFNAMELEN];
    TLHistoryFileName(name, tli);
    std::ifstream file(std::string(XLOGDIR) + "/" + name, std::ios::binary);
    if (file) {
      std::ostringstream text;
      text << file.rdbuf();
      self.history = TimelineHistory::parse(tli, text.str());
    }
  }
  return self;
}

}  // namespace

RetentionPolicies configured_retention() {
  RetentionPolicies p;
  p.physical = {guc_retention_count, guc_retention_days};
  p.logical = {guc_logical_retention_count < 0 ? guc_retention_count : guc_logical_retention_count,
               guc_logical_retention_days < 0 ? guc_retention_days : guc_logical_retention_days};
  return p;
}

RetentionResult apply_configured_retention(Repository& repo, const std::string& repository_url,
                                           const std::string& system_identifier,
                                           const std::string& running,
                                           const std::vector<history::PendingCleanup>& pending) {
  std::vector<std::string> abandoned_here;
  std::vector<history::PendingCleanup> elsewhere;
  for (const auto& p : pending) {
    if (p.repository == repository_url && p.system_identifier == system_identifier) {
      abandoned_here.push_back(p.name);
    } else if (!p.repository.empty() && !p.system_identifier.empty()) {
      elsewhere.push_back(p);
    }  // store unknown (a row from before 0.2 without location): stays pending
  }
  // History files of encrypted archives are read with the archiver's key.
  const EncryptionSettings encryption = configured_encryption();
  const ServerPosition self = current_server_position();
  RetentionResult result = apply_retention(
      repo, system_identifier, configured_retention(), unix_now(), running, kLeftoverMinAge,
      abandoned_here, wal_history_reader(repo.storage(), restore_key_provider(encryption)), &self);
  for (const auto& p : elsewhere) {
    try {
      auto storage = open_repository(p.repository);
      storage->remove_prefix(Repository::backup_dir(p.system_identifier, p.name));
      result.leftovers.push_back(p.name);
    } catch (const std::exception& e) {
      log_message(WARNING, "could not remove the leftovers of incomplete backup \"" + p.name +
                               "\" from " + p.repository + " (where it was written): " + e.what() +
                               "; tried again after the next successful backup");
    }
  }
  for (const auto& name : result.expired) {
    log_message(LOG, "backup \"" + name + "\" expired by the retention policy and removed");
  }
  for (const auto& name : result.leftovers) {
    log_message(LOG, "removed the leftovers of incomplete backup \"" + name + "\"");
  }
  for (const auto& range : result.wal_removed_ranges) {
    log_message(LOG, "archived WAL " + range + " removed: no remaining physical backup needs it");
  }
  if (!result.wal_kept_reason.empty()) log_message(LOG, result.wal_kept_reason);
  for (const auto& other : result.kept_other_servers) {
    log_message(LOG, "retention keeps " + other +
                         "; that server's retention expires it, or remove it with "
                         "vault.delete_backup()");
  }
  for (const auto& reason : result.kept_for_chains) log_message(LOG, "retention: " + reason);
  for (const auto& unreadable : result.kept_unreadable) {
    log_message(WARNING, "retention keeps " + unreadable);
  }
  return result;
}

}  // namespace pgvault::pg
