#include "pgvault/catalog/other_servers.hpp"

#include "pgvault/error.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <map>
#include <optional>

namespace pgvault {
namespace {

struct PhysicalBackup {
  const BackupMeta* meta;
  Lsn stop;
};

// The first archived segment (not .partial) of each ancestor timeline that
// lies after the segment where this server forked from it.
std::map<TimelineId, std::string> segments_after_forks(const std::vector<ObjectInfo>& listing,
                                                       const std::string& system_identifier,
                                                       const ServerPosition& self) {
  std::map<TimelineId, std::string> found;
  for (const ObjectInfo& info : listing) {
    WalObjectKey key;
    try {
      key = parse_wal_object_key(info.path);
    } catch (const Error&) {
      continue;  // not archived WAL: nothing it proves
    }
    const WalFileName& file = key.file;
    if (key.system_identifier != system_identifier || file.kind() != WalFileKind::segment) continue;
    const TimelineId tli = file.timeline();
    if (tli == self.history.timeline() || !self.history.contains(tli)) continue;
    const std::optional<Lsn> fork = self.history.end_of(tli);
    if (!fork) continue;
    const WalFileName fork_segment = WalFileName::segment(
        tli, wal_segment_of(*fork, self.wal_segment_size), self.wal_segment_size);
    // Names of one timeline order as their segments do (fixed-width hex).
    if (file.name() > fork_segment.name() && (!found.contains(tli) || file.name() < found[tli]))
      found[tli] = file.name();
  }
  return found;
}

}  // namespace

std::vector<OtherServerBackup> backups_of_other_servers(
    const std::vector<BackupMeta>& complete, const std::string& system_identifier,
    const ServerPosition& self, const std::vector<ObjectInfo>& wal_listing) {
  std::vector<PhysicalBackup> physical;
  for (const BackupMeta& meta : complete) {
    if (!meta.is_physical() || meta.system_identifier != system_identifier) continue;
    try {
      physical.push_back({&meta, parse_lsn(meta.stop_lsn)});
    } catch (const Error&) {
      // An unreadable position: left to the checks that read it.
    }
  }

  const std::string this_server = "this server (timeline " +
                                  std::to_string(self.history.timeline()) + ", at " +
                                  format_lsn(self.position) + ")";
  std::map<const BackupMeta*, std::string> reasons;
  // Ancestor timelines another server went on with, and what shows it.
  std::map<TimelineId, std::string> continued_elsewhere;
  for (const PhysicalBackup& b : physical) {
    const TimelineId tli = b.meta->timeline;
    const auto reach = self.history.reaches(tli, b.stop);
    if (!reach.reachable) {
      reasons[b.meta] = "it is not on the history of " + this_server + ": " + reach.reason;
      if (tli != self.history.timeline() && self.history.contains(tli) &&
          !continued_elsewhere.contains(tli))
        continued_elsewhere[tli] = "backup \"" + b.meta->name + "\"";
    } else if (tli == self.history.timeline() && b.stop > self.position) {
      reasons[b.meta] = "it ends at " + b.meta->stop_lsn + ", after the position of " +
                        this_server + ": another server writes on this timeline";
    }
  }
  for (const auto& [tli, segment] : segments_after_forks(wal_listing, system_identifier, self)) {
    if (!continued_elsewhere.contains(tli))
      continued_elsewhere[tli] = "archived segment " + segment;
  }
  for (const PhysicalBackup& b : physical) {
    const auto elsewhere = continued_elsewhere.find(b.meta->timeline);
    if (reasons.contains(b.meta) || elsewhere == continued_elsewhere.end()) continue;
    reasons[b.meta] = "timeline " + std::to_string(b.meta->timeline) + " went on after " +
                      this_server + " forked from it at " +
                      format_lsn(*self.history.end_of(b.meta->timeline)) + ", on another server (" +
                      elsewhere->second + "), whose recovery may need this backup";
  }

  std::vector<OtherServerBackup> others;
  for (const PhysicalBackup& b : physical) {
    const auto it = reasons.find(b.meta);
    if (it == reasons.end()) continue;
    others.push_back({b.meta->name, "backup \"" + b.meta->name + "\" (timeline " +
                                        std::to_string(b.meta->timeline) + ", ends at " +
                                        b.meta->stop_lsn + ") is another server's: " + it->second});
  }
  return others;
}

}  // namespace pgvault
