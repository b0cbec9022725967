#include "wal_report.hpp"

#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/recovery_target.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_read.hpp"

namespace pgvault::cli {

namespace {

std::string time_text(std::int64_t unix_seconds) {
  return format_recovery_target_time(unix_seconds * 1000000);
}

std::string plural(std::uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string history_text(const WalTimelineCatalog& t) {
  if (t.history) {
    const auto& entries = t.history->entries();
    if (entries.empty()) return "";
    return "; forked from timeline " + std::to_string(entries.back().timeline) + " at " +
           format_lsn(entries.back().switchpoint);
  }
  if (!t.history_error.empty()) return "; history unknown: " + t.history_error;
  return "";
}

}  // namespace

void print_wal_text(std::ostream& out, const WalCatalog& catalog,
                    const std::vector<BackupMeta>& backups) {
  const std::uint64_t size = catalog.wal_segment_size;
  out << "archived WAL of system " << catalog.system_identifier << " (wal_segment_size "
      << human_size(size) << "):\n";
  for (const auto& [tli, t] : catalog.timelines) {
    out << "  timeline " << tli << ": ";
    if (t.segments.empty()) {
      out << "no segments";
    } else {
      out << describe_wal_range(tli, {*t.first_segment(), *t.last_segment()}, size) << " ("
          << plural(t.segments.size(), "segment", "segments") << ")";
    }
    if (!t.partials.empty())
      out << ", " << plural(t.partials.size(), ".partial file", ".partial files");
    out << history_text(t) << "\n";
    for (const WalSegmentRange& gap : t.gaps) {
      out << "    GAP: " << describe_wal_range(tli, gap, size) << " missing ("
          << plural(gap.count(), "segment", "segments") << ")\n";
    }
    for (const WalConflict& conflict : t.conflicts) {
      out << "    CONFLICT: " << conflict.name << " is archived " << conflict.keys.size()
          << " times with different content:";
      for (const auto& key : conflict.keys) out << " " << key;
      out << "\n";
    }
  }
  for (const auto& [tli, t] : catalog.timelines) {
    const std::vector<RecoverableWindow> windows = catalog.recoverable_windows(backups, tli);
    const std::string prefix = "  recoverable on timeline " + std::to_string(tli) + ": ";
    out << prefix;
    if (windows.empty()) {
      out << "none";
      if (!catalog.history_of(tli)) {
        out << " (" << t.history_error << ")";
      } else {
        out << " (no physical backup has its WAL archived without a gap from its start to its "
               "end on this timeline's path)";
      }
      out << "\n";
      continue;
    }
    for (std::size_t i = 0; i < windows.size(); ++i) {
      out << (i == 0 ? "" : std::string(prefix.size(), ' ')) << describe_window(windows[i]) << "\n";
    }
  }
  if (catalog.foreign_count > 0) {
    out << "  " << plural(catalog.foreign_count, "object", "objects") << " under "
        << wal_root(catalog.system_identifier)
        << (catalog.foreign_count == 1 ? " is not a pgvault WAL object"
                                       : " are not pgvault WAL objects")
        << " of this system (ignored), e.g. " << catalog.foreign_keys.front() << "\n";
  }
}

nlohmann::ordered_json window_json(const RecoverableWindow& w) {
  nlohmann::ordered_json j;
  j["timeline"] = w.timeline;
  j["backup"] = w.backup;
  j["from_lsn"] = format_lsn(w.from_lsn);
  j["from_timeline"] = w.from_timeline;
  j["from_time"] = w.from_time;
  j["to_lsn"] = format_lsn(w.to_lsn);
  j["to_timeline"] = w.to_timeline;
  j["to_time"] = w.to_unix ? nlohmann::ordered_json(time_text(*w.to_unix)) : nullptr;
  return j;
}

nlohmann::ordered_json wal_json(const WalCatalog& catalog, const std::vector<BackupMeta>& backups) {
  const std::uint64_t size = catalog.wal_segment_size;
  nlohmann::ordered_json j;
  j["wal_segment_size"] = size;
  nlohmann::ordered_json timelines = nlohmann::ordered_json::array();
  nlohmann::ordered_json windows = nlohmann::ordered_json::array();
  for (const auto& [tli, t] : catalog.timelines) {
    nlohmann::ordered_json tj;
    tj["timeline"] = tli;
    tj["first_segment"] =
        t.segments.empty() ? nullptr : nlohmann::ordered_json(t.segments.front().file.name());
    tj["last_segment"] =
        t.segments.empty() ? nullptr : nlohmann::ordered_json(t.segments.back().file.name());
    tj["segments"] = t.segments.size();
    nlohmann::ordered_json gaps = nlohmann::ordered_json::array();
    for (const WalSegmentRange& gap : t.gaps) {
      gaps.push_back({{"first", wal_segment_name(tli, gap.first, size)},
                      {"last", wal_segment_name(tli, gap.last, size)},
                      {"segments", gap.count()}});
    }
    tj["gaps"] = std::move(gaps);
    nlohmann::ordered_json conflicts = nlohmann::ordered_json::array();
    for (const WalConflict& c : t.conflicts)
      conflicts.push_back({{"name", c.name}, {"keys", c.keys}});
    tj["conflicts"] = std::move(conflicts);
    tj["partial_files"] = t.partials.size();
    tj["history_file"] = t.history_object.has_value();
    if (t.history && !t.history->entries().empty()) {
      tj["parent_timeline"] = t.history->entries().back().timeline;
      tj["switchpoint"] = format_lsn(t.history->entries().back().switchpoint);
    }
    if (!t.history_error.empty()) tj["history_error"] = t.history_error;
    timelines.push_back(std::move(tj));
    for (const RecoverableWindow& w : catalog.recoverable_windows(backups, tli)) {
      windows.push_back(window_json(w));
    }
  }
  j["timelines"] = std::move(timelines);
  j["recoverable_windows"] = std::move(windows);
  j["foreign_objects"] = catalog.foreign_count;
  return j;
}

nlohmann::ordered_json wal_report_json(const WalVerifyReport& r) {
  nlohmann::ordered_json j;
  j["timelines"] = r.timelines;
  j["from_lsn"] = format_lsn(r.from);
  j["to_lsn"] = format_lsn(r.to);
  j["to_timeline"] = r.to_timeline;
  j["first_segment"] = r.first_segment;
  j["last_segment"] = r.last_segment;
  j["objects"] = r.objects;
  j["stored_bytes"] = r.stored_bytes;
  j["decoded_bytes"] = r.decoded_bytes;
  return j;
}

}  // namespace pgvault::cli
