#include "pgvault/catalog/incremental_parent.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace pgvault {

namespace {

// Why `b` cannot be the parent; empty when it can.
std::string passed_over(const RepositoryListing& listing, const BackupMeta& b, TimelineId timeline,
                        Lsn position) {
  if (b.timeline != timeline)
    return "it is on timeline " + std::to_string(b.timeline) + ", this server on " +
           std::to_string(timeline);
  Lsn stop;
  try {
    stop = parse_lsn(b.stop_lsn);
  } catch (const Error& e) {
    return std::string("its stop position is unreadable: ") + e.what();
  }
  if (stop > position)
    return "it ends at " + b.stop_lsn + ", after this server's position " + format_lsn(position) +
           " (another server's backup, or one from before a restore to an earlier point)";
  try {
    resolve_chain(listing, b);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BackupMeta choose_incremental_parent(const RepositoryListing& listing,
                                     const std::string& system_identifier, TimelineId timeline,
                                     Lsn position, const std::string& repository_url) {
  std::vector<const BackupMeta*> physical;
  for (const BackupMeta& b : listing.complete)
    if (b.is_physical() && b.system_identifier == system_identifier) physical.push_back(&b);
  // Newest first: by completion time, in seconds. Two backups that complete
  // within one second (a full and a fast incremental after it) are ordered
  // by where they end in the WAL: by name, "…-physical" sorted after
  // "…-incremental" and the full was taken for the newer of the two.
  auto seconds = [](const BackupMeta& b) -> std::int64_t {
    try {
      return parse_utc_timestamp(b.completed_at);
    } catch (const Error&) {
      return 0;
    }
  };
  auto stop = [](const BackupMeta& b) -> std::uint64_t {
    try {
      return parse_lsn(b.stop_lsn).value;
    } catch (const Error&) {
      return 0;
    }
  };
  std::sort(physical.begin(), physical.end(), [&](const BackupMeta* a, const BackupMeta* b) {
    if (seconds(*a) != seconds(*b)) return seconds(*a) > seconds(*b);
    if (stop(*a) != stop(*b)) return stop(*a) > stop(*b);
    return a->name > b->name;
  });
  const std::string what = "a parent for an incremental backup of system " + system_identifier +
                           " on timeline " + std::to_string(timeline) + " in repository " +
                           repository_url;
  if (physical.empty())
    throw Error(ErrorKind::not_found,
                "no physical backup to be " + what +
                    ": take a full backup first (SELECT * FROM vault.create_backup())");
  std::string newest_reason;
  for (const BackupMeta* b : physical) {
    std::string reason = passed_over(listing, *b, timeline, position);
    if (reason.empty()) return *b;
    if (newest_reason.empty()) newest_reason = "\"" + b->name + "\": " + reason;
  }
  throw Error(ErrorKind::not_found,
              "no physical backup can be " + what + "; the newest was passed over, " +
                  newest_reason + ". Take a full backup (SELECT * FROM vault.create_backup())");
}

}  // namespace pgvault
