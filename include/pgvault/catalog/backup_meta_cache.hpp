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
//  * Shared by the server's processes (share_through): each job worker and
//    each backend is a new process, so without it every one of them fetched
//    every backup.json of an object store again. The entries of object-store
//    repositories (not file://, whose backup.json is a local read anyway)
//    are written to one file, whole, through a temporary of the writer's
//    own and rename(); take_shared merges in what the file holds when it
//    changed since this process last looked, give_shared rewrites it when
//    this process kept or forgot something since. Writers racing lose
//    entries, never correctness: an entry is still only used for an object
//    listed with its size and time. What the file says is checked as a read
//    from the store is (BackupMeta::from_json; list_all checks name and
//    system against the path); a damaged line is skipped, a file of another
//    format ignored, and a file that cannot be read or written changes
//    nothing but the number of requests.
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

  // The file the server's processes share entries through (in the server's
  // pg_stat_tmp: never backed up, private to the server's user). Set once,
  // before the first listing, where no other process writes it (the
  // postmaster at start): the temporaries of writers killed mid-write
  // ("<file>.tmp.<pid>") are removed then.
  void share_through(std::string file);
  // Merges in the shared file's entries if it changed since this process
  // last read or wrote it (list_all: before it looks anything up).
  void take_shared();
  // Rewrites the shared file if this process kept or forgot an object
  // store's entry since (list_all: after it has kept and forgotten).
  void give_shared();

 private:
  struct Entry {
    std::uint64_t size = 0;
    std::int64_t mtime_unix = 0;
    BackupMeta meta;
  };
  // What identifies one version of the shared file.
  struct FileStamp {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static bool shared_url(const std::string& url);
  std::optional<FileStamp> shared_file_stamp() const;

  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, Entry>> entries_;  // url -> path -> entry
  std::string shared_file_;
  std::optional<FileStamp> seen_;  // the shared file as last read or written
  bool changed_ = false;           // an object store's entry kept or forgotten since
};

}  // namespace pgvault
