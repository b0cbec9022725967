// The archived WAL of one system, from one listing (include/pgvault/wal/wal_catalog.hpp).
#include "pgvault/wal/wal_catalog.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/recovery_target.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <algorithm>
#include <exception>

namespace pgvault {

namespace {

struct SegmentCopies {
  std::vector<WalArchivedObject> copies;  // listing order
};

// Per timeline while the listing is read: every copy of every file name.
struct TimelineDraft {
  std::map<WalSegmentNo, SegmentCopies> segments;
  std::map<std::string, SegmentCopies> partials;          // by name
  std::map<std::string, SegmentCopies> backup_histories;  // by name
  std::vector<WalArchivedObject> histories;               // normally one
};

void take_copies(const std::map<std::string, SegmentCopies>& by_name,
                 std::vector<WalArchivedObject>& out, std::vector<WalConflict>& conflicts) {
  for (const auto& [name, entry] : by_name) {
    out.push_back(entry.copies.front());
    if (entry.copies.size() > 1) {
      WalConflict conflict{name, {}};
      for (const auto& c : entry.copies) conflict.keys.push_back(c.key);
      conflicts.push_back(std::move(conflict));
    }
  }
}

std::string history_file_name(TimelineId tli) {
  return WalFileName::history(tli).name();
}

std::optional<Lsn> lsn_or_none(const std::string& text) {
  try {
    return parse_lsn(text);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<std::int64_t> unix_or_none(const std::string& iso) {
  try {
    return parse_utc_timestamp(iso);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string time_of_unix(std::int64_t seconds) {
  return format_recovery_target_time(seconds * 1000000);
}

}  // namespace

std::optional<WalSegmentNo> WalTimelineCatalog::first_segment() const {
  if (segments.empty()) return std::nullopt;
  return segments.front().segno;
}

std::optional<WalSegmentNo> WalTimelineCatalog::last_segment() const {
  if (segments.empty()) return std::nullopt;
  return segments.back().segno;
}

bool WalTimelineCatalog::has_segment(WalSegmentNo segno) const {
  auto it =
      std::lower_bound(segments.begin(), segments.end(), segno,
                       [](const WalArchivedObject& o, WalSegmentNo s) { return o.segno < s; });
  return it != segments.end() && it->segno == segno;
}

const WalTimelineCatalog* WalCatalog::timeline(TimelineId tli) const {
  auto it = timelines.find(tli);
  return it == timelines.end() ? nullptr : &it->second;
}

std::optional<TimelineHistory> WalCatalog::history_of(TimelineId tli) const {
  const WalTimelineCatalog* t = timeline(tli);
  if (t != nullptr && t->history) return t->history;
  if (tli == 1) return TimelineHistory(1);
  return std::nullopt;
}

const WalArchivedObject* WalCatalog::segment(TimelineId tli, WalSegmentNo segno) const {
  const WalTimelineCatalog* t = timeline(tli);
  if (t == nullptr || !t->has_segment(segno)) return nullptr;
  return &*std::lower_bound(t->segments.begin(), t->segments.end(), segno,
                            [](const WalArchivedObject& o, WalSegmentNo s) { return o.segno < s; });
}

std::optional<TimelineId> WalCatalog::latest_timeline() const {
  if (timelines.empty()) return std::nullopt;
  return timelines.rbegin()->first;
}

WalContinuity WalCatalog::continuity(TimelineId from_timeline, Lsn from, TimelineId target) const {
  WalContinuity result;
  result.end = from;
  result.end_timeline = from_timeline;
  const std::optional<TimelineHistory> history = history_of(target);
  if (!history) {
    const WalTimelineCatalog* t = timeline(target);
    result.problem = "the history of timeline " + std::to_string(target) + " is unknown (" +
                     (t != nullptr && !t->history_error.empty()
                          ? t->history_error
                          : "no history file " + history_file_name(target) + " is archived") +
                     ")";
    return result;
  }
  if (const auto reach = history->reaches(from_timeline, from); !reach.reachable) {
    result.problem = reach.reason;
    return result;
  }

  // The segments each timeline of the path contributes: [lo, hi), hi open
  // on the last one.
  struct Leg {
    TimelineId tli;
    WalSegmentNo lo;
    std::optional<WalSegmentNo> hi;
  };
  std::vector<Leg> legs;
  const std::vector<TimelineId> ancestry = history->ancestry();
  for (auto it = std::find(ancestry.begin(), ancestry.end(), from_timeline); it != ancestry.end();
       ++it) {
    const Lsn begin = std::max(from, history->begin_of(*it));
    const std::optional<Lsn> end = history->end_of(*it);
    legs.push_back({*it, wal_segment_of(begin, wal_segment_size),
                    end ? std::optional(wal_segment_of(*end, wal_segment_size)) : std::nullopt});
  }
  // Whether the path needs an archived segment after segno of legs[index]:
  // then a missing segno is a gap, not the end of the archive.
  auto archived_after = [&](std::size_t index, WalSegmentNo segno) {
    for (std::size_t j = index; j < legs.size(); ++j) {
      const WalTimelineCatalog* t = timeline(legs[j].tli);
      if (t == nullptr) continue;
      for (const WalArchivedObject& o : t->segments) {
        if (o.segno < legs[j].lo || (legs[j].hi && o.segno >= *legs[j].hi)) continue;
        if (j == index && o.segno <= segno) continue;
        return true;
      }
    }
    return false;
  };

  bool all_times_known = true;
  std::int64_t newest = 0;
  auto finish = [&] {
    if (!result.used.empty() && all_times_known) result.end_unix = newest;
    return result;
  };
  for (std::size_t k = 0; k < legs.size(); ++k) {
    const Leg& leg = legs[k];
    for (WalSegmentNo s = leg.lo; !leg.hi || s < *leg.hi; ++s) {
      const WalArchivedObject* o = segment(leg.tli, s);
      if (o == nullptr) {
        result.end = std::max(from, wal_segment_start(s, wal_segment_size));
        result.end_timeline = leg.tli;
        if (archived_after(k, s)) {
          result.first_missing = WalFileName::segment(leg.tli, s, wal_segment_size);
        }
        return finish();
      }
      result.used.push_back(*o);
      if (o->mtime_unix == 0) all_times_known = false;
      newest = std::max(newest, o->mtime_unix);
      result.end = wal_segment_start(s + 1, wal_segment_size);
      result.end_timeline = leg.tli;
    }
  }
  return finish();  // not reached: the last leg is open and ends at a missing segment
}

std::vector<RecoverableWindow> WalCatalog::recoverable_windows(
    const std::vector<BackupMeta>& backups, TimelineId target) const {
  std::vector<RecoverableWindow> windows;
  const std::optional<TimelineHistory> history = history_of(target);
  if (!history) return windows;
  for (const BackupMeta& b : backups) {
    if (!b.is_physical() || b.system_identifier != system_identifier) continue;
    const std::optional<Lsn> start = lsn_or_none(b.start_lsn);
    const std::optional<Lsn> stop = lsn_or_none(b.stop_lsn);
    const std::optional<std::int64_t> completed = unix_or_none(b.completed_at);
    if (!start || !stop || !completed || b.timeline == 0) continue;
    if (!history->reaches(b.timeline, *stop).reachable) continue;
    const WalContinuity c = continuity(b.timeline, *start, target);
    if (!c.problem.empty() || c.end < *stop) continue;
    RecoverableWindow w;
    w.timeline = target;
    w.backup = b.name;
    w.from_timeline = b.timeline;
    w.from_lsn = *stop;
    w.from_time = b.completed_at;
    w.from_unix = *completed;
    w.to_timeline = c.end_timeline;
    w.to_lsn = c.end;
    w.to_unix = c.end_unix;
    windows.push_back(std::move(w));
  }
  std::sort(windows.begin(), windows.end(), [](const auto& a, const auto& b) {
    return a.from_lsn != b.from_lsn ? a.from_lsn < b.from_lsn : a.backup < b.backup;
  });
  std::vector<RecoverableWindow> merged;
  for (RecoverableWindow& w : windows) {
    if (!merged.empty() && w.from_lsn <= merged.back().to_lsn) {
      RecoverableWindow& last = merged.back();
      if (w.to_lsn > last.to_lsn) {
        last.to_lsn = w.to_lsn;
        last.to_timeline = w.to_timeline;
        last.to_unix = w.to_unix;
      }
      continue;
    }
    merged.push_back(std::move(w));
  }
  return merged;
}

WalCatalog build_wal_catalog(const std::vector<ObjectInfo>& listing,
                             const std::string& system_identifier, std::uint64_t wal_segment_size,
                             const WalHistoryReader& read_history) {
  validate_wal_system_identifier(system_identifier);
  validate_wal_segment_size(wal_segment_size);
  WalCatalog catalog;
  catalog.system_identifier = system_identifier;
  catalog.wal_segment_size = wal_segment_size;

  auto foreign = [&](const std::string& key) {
    ++catalog.foreign_count;
    if (catalog.foreign_keys.size() < WalCatalog::kMaxForeignKeysKept)
      catalog.foreign_keys.push_back(quote_untrusted(key));
  };

  std::map<TimelineId, TimelineDraft> drafts;
  for (const ObjectInfo& info : listing) {
    WalObjectKey key;
    WalArchivedObject object;
    try {
      key = parse_wal_object_key(info.path);
      if (key.file.has_segment()) object.segno = key.file.segment_no(wal_segment_size);
    } catch (const Error&) {
      foreign(info.path);
      continue;
    }
    if (key.system_identifier != system_identifier) {
      foreign(info.path);
      continue;
    }
    object.file = key.file;
    object.key = info.path;
    object.sha256 = key.sha256;
    object.compression = key.compression;
    object.stored_size = info.size;
    object.mtime_unix = info.mtime_unix;
    TimelineDraft& draft = drafts[key.file.timeline()];
    switch (key.file.kind()) {
      case WalFileKind::history:
        draft.histories.push_back(std::move(object));
        break;
      case WalFileKind::segment:
        draft.segments[object.segno].copies.push_back(std::move(object));
        break;
      case WalFileKind::partial:
        draft.partials[key.file.name()].copies.push_back(std::move(object));
        break;
      case WalFileKind::backup_history:
        draft.backup_histories[key.file.name()].copies.push_back(std::move(object));
        break;
    }
  }

  for (auto& [tli, draft] : drafts) {
    WalTimelineCatalog& t = catalog.timelines[tli];
    t.timeline = tli;
    for (const auto& [segno, entry] : draft.segments) {
      if (!t.segments.empty() && segno > t.segments.back().segno + 1) {
        t.gaps.push_back({t.segments.back().segno + 1, segno - 1});
      }
      t.segments.push_back(entry.copies.front());
      if (entry.copies.size() > 1) {
        WalConflict conflict{entry.copies.front().file.name(), {}};
        for (const auto& c : entry.copies) conflict.keys.push_back(c.key);
        t.conflicts.push_back(std::move(conflict));
      }
      t.all_objects.insert(t.all_objects.end(), entry.copies.begin(), entry.copies.end());
    }
    take_copies(draft.partials, t.partials, t.conflicts);
    take_copies(draft.backup_histories, t.backup_histories, t.conflicts);
    for (const auto* by_name : {&draft.partials, &draft.backup_histories}) {
      for (const auto& [name, entry] : *by_name) {
        t.all_objects.insert(t.all_objects.end(), entry.copies.begin(), entry.copies.end());
      }
    }
    std::sort(t.all_objects.begin(), t.all_objects.end(),
              [](const auto& a, const auto& b) { return a.key < b.key; });

    if (draft.histories.size() > 1) {
      WalConflict conflict{history_file_name(tli), {}};
      for (const auto& h : draft.histories) conflict.keys.push_back(h.key);
      t.conflicts.push_back(std::move(conflict));
      t.history_error = "more than one " + history_file_name(tli) + " is archived";
    }
    if (!draft.histories.empty()) t.history_object = draft.histories.front();
    if (draft.histories.size() == 1) {
      if (!read_history) {
        t.history_error = history_file_name(tli) + " was not read";
      } else {
        try {
          t.history = TimelineHistory::parse(tli, read_history(t.history_object->key));
        } catch (const std::exception& e) {
          t.history_error = history_file_name(tli) + " cannot be used: " + e.what();
        }
      }
    } else if (draft.histories.empty() && tli > 1) {
      t.history_error = "no history file " + history_file_name(tli) + " is archived";
    }
  }
  return catalog;
}

std::uint64_t wal_segment_size_of(const std::vector<BackupMeta>& backups,
                                  const std::string& system_identifier) {
  const BackupMeta* newest = nullptr;
  std::int64_t newest_time = 0;
  for (const BackupMeta& b : backups) {
    if (!b.is_physical() || b.system_identifier != system_identifier || b.wal_segment_size == 0)
      continue;
    const std::int64_t t = unix_or_none(b.completed_at).value_or(0);
    if (newest == nullptr || t >= newest_time) {
      newest = &b;
      newest_time = t;
    }
  }
  return newest != nullptr ? newest->wal_segment_size : kDefaultWalSegmentSize;
}

std::string wal_segment_name(TimelineId tli, WalSegmentNo segno, std::uint64_t wal_segment_size) {
  return WalFileName::segment(tli, segno, wal_segment_size).name();
}

std::string describe_wal_range(TimelineId tli, const WalSegmentRange& range,
                               std::uint64_t wal_segment_size) {
  std::string text = wal_segment_name(tli, range.first, wal_segment_size);
  if (range.last != range.first) text += ".." + wal_segment_name(tli, range.last, wal_segment_size);
  return text;
}

std::string describe_window(const RecoverableWindow& w) {
  return format_lsn(w.from_lsn) + " on timeline " + std::to_string(w.from_timeline) + " (backup " +
         w.backup + ", completed " + w.from_time + ") .. " + format_lsn(w.to_lsn) +
         " on timeline " + std::to_string(w.to_timeline) + " (" +
         (w.to_unix ? "archived by " + time_of_unix(*w.to_unix) : std::string("time unknown")) +
         ")";
}

namespace {

std::string windows_text(const std::vector<RecoverableWindow>& windows) {
  if (windows.empty()) {
    return "no recoverable window exists on this timeline path: no physical backup has its "
           "WAL archived without a gap from its start to its end";
  }
  std::string text = windows.size() == 1 ? "the recoverable window is "
                                         : "the recoverable "
                                           "windows are ";
  for (std::size_t i = 0; i < windows.size(); ++i) {
    text += (i == 0 ? "" : "; ") + describe_window(windows[i]);
  }
  return text;
}

}  // namespace

RecoverabilityAnswer check_recoverable_lsn(const std::vector<RecoverableWindow>& windows, Lsn lsn) {
  RecoverabilityAnswer answer;
  for (const RecoverableWindow& w : windows) {
    if (w.from_lsn <= lsn && lsn <= w.to_lsn) {
      answer.verdict = RecoverabilityAnswer::Verdict::recoverable;
      answer.window = &w;
      answer.message = "LSN " + format_lsn(lsn) + " is recoverable from backup " + w.backup +
                       " (window " + describe_window(w) + ")";
      return answer;
    }
  }
  answer.message = "LSN " + format_lsn(lsn) + " is not recoverable: " + windows_text(windows);
  return answer;
}

RecoverabilityAnswer check_recoverable_time(const std::vector<RecoverableWindow>& windows,
                                            std::int64_t time_us) {
  RecoverabilityAnswer answer;
  const std::string when = "time " + format_recovery_target_time(time_us);
  for (const RecoverableWindow& w : windows) {
    if (time_us < w.from_unix * 1000000) continue;
    // Stores give modification times in whole seconds: WAL archived at
    // 12:07:38.9 shows as 12:07:38, so any time in that second may be in it.
    if (w.to_unix && time_us < (*w.to_unix + 1) * 1000000) {
      answer.verdict = RecoverabilityAnswer::Verdict::recoverable;
      answer.window = &w;
      answer.message =
          when + " is recoverable from backup " + w.backup + " (window " + describe_window(w) + ")";
      return answer;
    }
    if (!w.to_unix && answer.verdict != RecoverabilityAnswer::Verdict::unknown) {
      answer.verdict = RecoverabilityAnswer::Verdict::unknown;
      answer.window = &w;
      answer.message = when + " is after backup " + w.backup +
                       " completed; whether the archived WAL reaches it is unknown (the store "
                       "reports no modification times): it reaches LSN " +
                       format_lsn(w.to_lsn) + " on timeline " + std::to_string(w.to_timeline);
    }
  }
  if (answer.verdict == RecoverabilityAnswer::Verdict::unknown) return answer;
  answer.message = when + " is not recoverable: " + windows_text(windows);
  return answer;
}

}  // namespace pgvault
