// Checking a backup's archived WAL (include/pgvault/wal/wal_verify.hpp).
#include "pgvault/wal/wal_verify.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_read.hpp"

#include <algorithm>

namespace pgvault {

namespace {

constexpr std::size_t kMaxNamed = 10;

// The segment where the archive continues after `missing` on its timeline, if any.
std::string continues_at(const WalCatalog& catalog, const WalFileName& missing) {
  const WalTimelineCatalog* t = catalog.timeline(missing.timeline());
  const WalSegmentNo segno = missing.segment_no(catalog.wal_segment_size);
  if (t != nullptr) {
    for (const WalArchivedObject& o : t->segments)
      if (o.segno > segno) return o.file.name();
  }
  // The WAL after the gap is on a later timeline of the path.
  for (const auto& [tli, later] : catalog.timelines) {
    if (tli > missing.timeline() && !later.segments.empty())
      return later.segments.front().file.name();
  }
  return "";
}

}  // namespace

WalVerifyReport verify_backup_wal(Storage& storage, const WalCatalog& catalog,
                                  const BackupMeta& backup, const KeyProvider& keys,
                                  const ProgressLog& progress) {
  const std::string who = "backup \"" + backup.name + "\"";
  if (!backup.is_physical()) {
    throw Error(ErrorKind::invalid_argument,
                who + " is a " + backup.kind + " backup; only physical backups replay WAL");
  }
  Lsn start, stop;
  try {
    start = parse_lsn(backup.start_lsn);
    stop = parse_lsn(backup.stop_lsn);
  } catch (const Error& e) {
    throw Error(ErrorKind::corrupt,
                who + ": backup.json holds no usable start or stop LSN (" + e.what() + ")");
  }
  const TimelineId own = backup.timeline;
  if (catalog.timeline(own) == nullptr) {
    throw Error(ErrorKind::corrupt, who + " is on timeline " + std::to_string(own) +
                                        ", but no WAL of that timeline is archived under " +
                                        catalog.system_identifier +
                                        "/wal/ (is archive_library = 'pgvault' set?)");
  }
  TimelineId target = own;
  for (const auto& [tli, t] : catalog.timelines) {
    const std::optional<TimelineHistory> h = catalog.history_of(tli);
    if (tli > target && h && h->reaches(own, stop).reachable) target = tli;
  }

  WalVerifyReport report;
  report.from = start;
  const TimelineHistory history = *catalog.history_of(target);
  for (TimelineId tli : history.ancestry()) {
    if (tli < own) continue;
    report.timelines.push_back(tli);
    if (tli > 1) {
      const WalTimelineCatalog* t = catalog.timeline(tli);
      if (t == nullptr || !t->history_object) {
        throw Error(ErrorKind::corrupt,
                    who + ": the history file " + WalFileName::history(tli).name() +
                        " of timeline " + std::to_string(tli) +
                        " on its path is not archived; recovery cannot switch to that timeline");
      }
    }
  }

  const WalContinuity c = catalog.continuity(own, start, target);
  if (!c.problem.empty()) {
    throw Error(ErrorKind::corrupt, who + ": its WAL cannot be followed: " + c.problem);
  }
  if (c.first_missing) {
    const std::string next = continues_at(catalog, *c.first_missing);
    throw Error(ErrorKind::corrupt,
                who + ": WAL gap: segment " + c.first_missing->name() + " (timeline " +
                    std::to_string(c.first_missing->timeline()) + ") is missing from the archive" +
                    (next.empty() ? "" : ", which continues at " + next) +
                    "; recovery from this backup stops at " + format_lsn(c.end));
  }
  if (c.end < stop) {
    throw Error(
        ErrorKind::corrupt,
        who + ": the archived WAL from its start " + format_lsn(start) + " ends at " +
            format_lsn(c.end) + ", before the backup's end " + format_lsn(stop) + ": segment " +
            WalFileName::segment(c.end_timeline, wal_segment_of(c.end, catalog.wal_segment_size),
                                 catalog.wal_segment_size)
                .name() +
            " is not archived (yet?)");
  }
  report.to = c.end;
  report.to_timeline = c.end_timeline;
  if (!c.used.empty()) {
    report.first_segment = c.used.front().file.name();
    report.last_segment = c.used.back().file.name();
  }

  // Two copies of a segment recovery would read: which one is right is unknown.
  for (const WalArchivedObject& o : c.used) {
    const WalTimelineCatalog& t = *catalog.timeline(o.file.timeline());
    for (const WalConflict& conflict : t.conflicts) {
      if (conflict.name != o.file.name()) continue;
      std::string keys_text;
      for (const auto& k : conflict.keys) keys_text += (keys_text.empty() ? "" : ", ") + k;
      throw Error(ErrorKind::conflict, who + ": WAL file " + conflict.name +
                                           " is archived with different contents (" + keys_text +
                                           "): a second writer or a split brain; recovery "
                                           "refuses to choose");
    }
  }

  std::vector<WalArchivedObject> to_read;
  for (TimelineId tli : report.timelines) {
    const WalTimelineCatalog* t = catalog.timeline(tli);
    if (t != nullptr && t->history_object) to_read.push_back(*t->history_object);
  }
  to_read.insert(to_read.end(), c.used.begin(), c.used.end());
  std::vector<std::string> damaged;
  for (const WalArchivedObject& o : to_read) {
    try {
      const WalObjectCheck check = verify_wal_object(storage, o, keys, catalog.wal_segment_size);
      report.stored_bytes += check.stored_bytes;
      report.decoded_bytes += check.decoded_bytes;
      ++report.objects;
      if (progress && report.objects % 64 == 0) {
        progress("WAL: " + std::to_string(report.objects) + " of " +
                 std::to_string(to_read.size()) + " objects checked");
      }
    } catch (const Error& e) {
      // A missing key or an unreachable store is not damage: stop there.
      if (e.kind() != ErrorKind::corrupt) throw;
      damaged.push_back(e.what());
    }
  }
  if (!damaged.empty()) {
    std::string text = who + ": " + std::to_string(damaged.size()) + " damaged WAL object" +
                       (damaged.size() == 1 ? "" : "s") + ":";
    for (std::size_t i = 0; i < damaged.size() && i < kMaxNamed; ++i) text += "\n  " + damaged[i];
    if (damaged.size() > kMaxNamed) text += "\n  ...";
    throw Error(ErrorKind::corrupt, text);
  }
  return report;
}

}  // namespace pgvault
