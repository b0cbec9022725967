// Retention of archived WAL (issue 15 item 5): what no remaining physical
// backup needs, decided from the catalog (wal_catalog.hpp) and the backups
// that remain after expiry.
//
// Contract of plan_wal_retention (a pure function):
//  - Only this system's complete physical backups count. With none, nothing
//    is removed (kept_all_reason says so): archived WAL without a base backup
//    to replay it onto restores nothing, but it may be all that is left of a
//    cluster whose backups are elsewhere, so pgvault does not judge it.
//  - A retained backup b needs, on its own timeline, every segment from the
//    one holding its start_lsn; on each ancestor of its timeline (from its
//    timeline's history) the segments from the one holding the switchpoint
//    where that ancestor ended on b's path; and everything of any other
//    timeline (descendants, unrelated or of unknown ancestry).
//  - A timeline keeps everything any retained backup needs: the objects of
//    timeline t removed are exactly those (segments, .partial and .backup
//    files, conflicting copies included) whose segment number is below
//    keep_from(t) = the smallest such bound over the retained backups. So
//    only a prefix of each timeline goes (never a gap inside a window, which
//    starts at a retained backup), and .history files are never removed.
//  - A backup whose start_lsn cannot be read (a damaged field) stops the plan:
//    nothing is removed.
//  - directories: the "<sysid>/wal/<TL>/<TL+log>/" directories all of whose
//    possible segments are below keep_from: removed with remove_prefix, which
//    also clears what an interrupted upload left there (the file driver's
//    temp files). Keys in them are not listed again in remove.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/wal/wal_catalog.hpp"

#include <map>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

struct WalRetentionPlan {
  std::vector<std::string> directories;  // whole directories, ascending
  std::vector<std::string> remove;       // single keys, ascending
  // Per timeline with something removed: the first segment kept.
  std::map<TimelineId, WalSegmentNo> keep_from;
  // Per timeline with something removed: the range of segment numbers removed.
  std::map<TimelineId, WalSegmentRange> removed_ranges;
  std::size_t object_count = 0;  // objects removed (from the listing)
  std::string kept_all_reason;   // set when nothing is removed for a reason
};

WalRetentionPlan plan_wal_retention(const WalCatalog& catalog,
                                    const std::vector<BackupMeta>& retained);

struct WalRetentionResult {
  std::size_t removed_objects = 0;
  // "000000010000000000000001..000000010000000000000004 (timeline 1)", per timeline.
  std::vector<std::string> removed_ranges;
  std::string kept_all_reason;
};

// Lists "<sysid>/wal/", builds the catalog (segment size from the backups,
// histories through read_history) and removes what plan_wal_retention says,
// oldest first, so an interrupted run leaves no gap.
WalRetentionResult apply_wal_retention(Storage& storage, const std::string& system_identifier,
                                       const std::vector<BackupMeta>& retained,
                                       const WalHistoryReader& read_history);

}  // namespace pgvault
