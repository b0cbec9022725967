// The backup.json objects a process has read and parsed, so that a listing
// (Repository::list_all) fetches only what is new since the last one.
//
// Why: every listing read every backup.json of the system, one request each
// on an object store (eight at a time). The scheduler lists before each
// scheduled incremental (its fallback), the alerts worker after each
// backup's outcome, a job again for retention after choosing its parent, a
// restore twice: with a month of hourly incrementals that is 700 requests
// each time, the cost following the repository's size and not the change.
//
// Contract:
//  * An entry is valid while a listing shows its object with the size and
//    modification time it had when read. backup.json is written once, last,
//    and removed first (Repository::write_meta, remove_backup), and a name
//    is never reused while its objects exist, so an object listed unchanged
//    is the one parsed; the store stays the source of truth: every listing
//    lists it, and a changed, new or removed backup.json is seen.
//  * A rewrite within the second an object was written would keep its size
//    and time: objects modified within kSettleSeconds of the reader's clock
//    (or without a time, or in its future) are not kept, as git's index
//    treats "racily clean" files.
//  * Only parsed, checked backups are kept (Repository::list_all keeps what
//    read_checked_meta returned); unreadable ones are read again each time.
//  * Bounded: the entries of at most kMaxRepositories repository URLs (a
//    further one empties the cache); within one, forget_unlisted drops the
//    backups a listing no longer shows.
//  * Thread-safe; find returns a copy.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/storage/storage.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace pgvault {

class BackupMetaCache {
 public:
  static constexpr std::int64_t kSettleSeconds = 2;
  static constexpr std::size_t kMaxRepositories = 4;

  // The cache Repository::list_all uses, one per process.
  static BackupMetaCache& of_process();

  std::optional<BackupMeta> find(const std::string& url, const ObjectInfo& object) const;
  // `now`: the reader's clock before it read the object, seconds since the epoch.
  void keep(const std::string& url, const ObjectInfo& object, const BackupMeta& meta,
            std::int64_t now);
  // Drops the entries of `url` whose path starts with `prefix` and is not in `listed`.
  void forget_unlisted(const std::string& url, const std::string& prefix,
                       const std::set<std::string>& listed);
  std::size_t size() const;

 private:
  struct Entry {
    std::uint64_t size = 0;
    std::int64_t mtime_unix = 0;
    BackupMeta meta;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, Entry>> entries_;  // url -> path -> entry
};

}  // namespace pgvault
