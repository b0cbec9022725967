// Retention of archived WAL (include/pgvault/wal/wal_retention.hpp).
#include "pgvault/wal/wal_retention.hpp"

#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace pgvault {

namespace {

constexpr WalSegmentNo kKeepEverything = 0;

// The first segment of timeline t that backup b needs (see the contract).
WalSegmentNo needed_from(const WalCatalog& catalog, TimelineId t, TimelineId backup_timeline,
                         Lsn start) {
  if (t == backup_timeline) return wal_segment_of(start, catalog.wal_segment_size);
  const std::optional<TimelineHistory> history = catalog.history_of(backup_timeline);
  if (!history || !history->contains(t)) return kKeepEverything;
  const std::optional<Lsn> end = history->end_of(t);
  // An ancestor always ends on the path; its segments from the switch on stay.
  return end ? wal_segment_of(*end, catalog.wal_segment_size) : kKeepEverything;
}

}  // namespace

WalRetentionPlan plan_wal_retention(const WalCatalog& catalog,
                                    const std::vector<BackupMeta>& retained) {
  WalRetentionPlan plan;
  struct Point {
    TimelineId timeline;
    Lsn start;
  };
  std::vector<Point> backups;
  for (const BackupMeta& b : retained) {
    if (!b.is_physical() || b.system_identifier != catalog.system_identifier) continue;
    try {
      backups.push_back({b.timeline, parse_lsn(b.start_lsn)});
    } catch (const Error&) {
      plan.kept_all_reason = "archived WAL kept: the start LSN of backup \"" + b.name +
                             "\" cannot be read, so what it needs is unknown";
      return plan;
    }
    if (b.timeline == 0) {
      plan.kept_all_reason = "archived WAL kept: backup \"" + b.name + "\" records no timeline";
      return plan;
    }
  }
  if (backups.empty()) {
    plan.kept_all_reason =
        "archived WAL kept: there is no physical backup of this system to replay it onto, and "
        "pgvault does not judge WAL it has no backup for";
    return plan;
  }

  const std::uint64_t per_log = wal_segments_per_xlog_id(catalog.wal_segment_size);
  for (const auto& [tli, t] : catalog.timelines) {
    WalSegmentNo keep = std::numeric_limits<WalSegmentNo>::max();
    for (const Point& b : backups)
      keep = std::min(keep, needed_from(catalog, tli, b.timeline, b.start));
    if (keep == kKeepEverything) continue;
    std::set<std::string> whole_directories;
    std::optional<WalSegmentNo> first_removed;
    for (const WalArchivedObject& o : t.all_objects) {
      if (o.segno >= keep) continue;
      ++plan.object_count;
      first_removed = std::min(first_removed.value_or(o.segno), o.segno);
      // Every segment this directory can hold is below keep: remove it whole.
      const WalSegmentNo log = o.segno / per_log;
      if ((log + 1) * per_log <= keep) {
        whole_directories.insert(wal_directory(catalog.system_identifier, o.file));
      } else {
        plan.remove.push_back(o.key);
      }
    }
    if (!first_removed) continue;
    plan.keep_from[tli] = keep;
    plan.removed_ranges[tli] = {*first_removed, keep - 1};
    plan.directories.insert(plan.directories.end(), whole_directories.begin(),
                            whole_directories.end());
  }
  std::sort(plan.remove.begin(), plan.remove.end());
  std::sort(plan.directories.begin(), plan.directories.end());
  return plan;
}

WalRetentionResult apply_wal_retention(Storage& storage, const std::string& system_identifier,
                                       const std::vector<BackupMeta>& retained,
                                       const WalHistoryReader& read_history) {
  WalRetentionResult result;
  const std::vector<ObjectInfo> listing = storage.list(wal_root(system_identifier));
  if (listing.empty()) return result;
  const WalCatalog catalog = build_wal_catalog(
      listing, system_identifier, wal_segment_size_of(retained, system_identifier), read_history);
  const WalRetentionPlan plan = plan_wal_retention(catalog, retained);
  result.kept_all_reason = plan.kept_all_reason;
  // Oldest first: directories and keys sort by timeline, then position.
  std::vector<std::pair<std::string, bool>> steps;  // (path, whole directory)
  for (const auto& d : plan.directories) steps.emplace_back(d, true);
  for (const auto& k : plan.remove) steps.emplace_back(k, false);
  std::sort(steps.begin(), steps.end());
  for (const auto& [path, directory] : steps) {
    if (directory) {
      storage.remove_prefix(path);
    } else {
      storage.remove(path);
    }
  }
  result.removed_objects = plan.object_count;
  for (const auto& [tli, range] : plan.removed_ranges) {
    result.removed_ranges.push_back(describe_wal_range(tli, range, catalog.wal_segment_size) +
                                    " (timeline " + std::to_string(tli) + ")");
  }
  return result;
}

}  // namespace pgvault
