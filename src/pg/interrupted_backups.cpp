#include "pgvault/catalog/repository.hpp"
#include "pgvault/storage/storage.hpp"

#include "storage_settings.hpp"

#include "history.hpp"
#include "interrupted_backups.hpp"
#include "logging.hpp"

#include "postgres_headers.hpp"

namespace pgvault::pg {

void settle_interrupted_backups(const std::string& reason, long long except_id) {
  for (const auto& row : history::unfinished(except_id)) {
    // The store the backup was being written to (recorded when it started).
    if (row.repository.empty() || row.system_identifier.empty()) {
      history::record_failed(row.id, reason);
      continue;
    }
    try {
      auto storage = open_repository(row.repository);
      Repository repo(*storage);
      if (repo.backup_exists(row.system_identifier, row.name)) {
        history::record_completed(row.id, repo.read_meta(row.system_identifier, row.name));
        log_message(
            LOG, "backup \"" + row.name + "\" is complete in the repository; its row now says so");
        continue;
      }
      history::record_failed(row.id, reason);
      storage->remove_prefix(Repository::backup_dir(row.system_identifier, row.name));
    } catch (const std::exception& e) {
      history::record_failed(row.id, reason);
      history::record_cleanup_pending(row.id);
      log_message(WARNING, "could not inspect or clean backup \"" + row.name + "\" in " +
                               row.repository + ": " + e.what() +
                               "; it is cleaned after the next successful backup");
    }
    log_message(LOG, "backup \"" + row.name + "\" marked failed: " + reason);
  }
}

}  // namespace pgvault::pg
