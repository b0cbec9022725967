// What a repository holds of one database system's archived WAL, read from
// one listing of "<sysid>/wal/", and the questions PITR, `pgvault list`,
// `pgvault verify` and retention ask of it: which segments each timeline
// has, where the gaps are, and from when to when a restore can recover.
//
// Contract:
//  - build_wal_catalog takes the listing as Storage::list(wal_root(sysid))
//    returns it (any order) and never reads an object itself, except history
//    files through the caller's HistoryReader (which decodes: decompresses,
//    decrypts), so the catalog works on encrypted repositories and in unit
//    tests without a store. Keys that are not pgvault WAL objects of this
//    system (parse_wal_object_key refuses them, or another system's) are
//    ignored and counted in foreign_keys; a history file that cannot be read
//    or parsed is recorded with its error, and its timeline's ancestry is
//    then unknown (never guessed).
//  - wal_segment_size is a parameter (a power of two, 1 MB..1 GB). backup.json
//    records it for physical backups written since it existed
//    (BackupMeta::wal_segment_size); wal_segment_size_of() picks it from the
//    backups and falls back to kDefaultWalSegmentSize (16 MB, initdb's
//    default) when no backup says otherwise. Segment names whose YYYYYYYY
//    part is impossible for that size are foreign keys.
//  - A segment archived under more than one checksum is a conflict (a second
//    writer, a split brain): it is listed in conflicts and counts as present
//    (a restore refuses it at fetch time; verify reports it).
//  - Gaps are missing segment ranges between a timeline's first and last
//    archived segment.
//  - WAL recovery from a physical backup b along the path to timeline T (T's
//    history: T's ancestry, switchpoints): the segments needed are, on b's
//    timeline from segment_of(b.start_lsn), then on each later timeline of
//    the path from the segment of the switchpoint where it begins; on a
//    timeline that ends at switchpoint S the segments before segment_of(S)
//    (the segment holding S is read from the child, whose first segment
//    starts with a copy of it, as PostgreSQL's XLogFileReadAnyTLI does). The
//    archive is continuous from b up to the first missing needed segment,
//    or to the end of T's last archived segment.
//  - A backup opens a recoverable window when T's history reaches it
//    (TimelineHistory::reaches) and the WAL from its start_lsn is continuous
//    at least to its stop_lsn: the window runs from its stop_lsn (the first
//    consistent point; time: its completed_at) to the end of the continuous
//    WAL (time: the newest modification time of the segment objects up to
//    there, when the store reports one; else unknown). Windows of several
//    backups on one path are merged where they touch, so a path has zero or
//    more disjoint windows, oldest first.
//  - Nothing here throws for what a repository holds; only bad arguments
//    (a segment size, a timeline not in the catalog) throw
//    Error(invalid_argument).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/storage/storage.hpp"  // ObjectInfo
#include "pgvault/wal/timeline_history.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgvault {

// One archived object: a segment, .partial, .backup or .history file.
struct WalArchivedObject {
  WalFileName file = WalFileName::history(1);
  WalSegmentNo segno = 0;  // of a segment, .partial or .backup file
  std::string key;         // the object's full repository key
  std::string sha256;      // from the key; empty for a history file
  Compression compression = Compression::none;
  std::uint64_t stored_size = 0;
  std::int64_t mtime_unix = 0;  // 0: the store did not say
};

// Segments first..last (inclusive) of one timeline.
struct WalSegmentRange {
  WalSegmentNo first = 0;
  WalSegmentNo last = 0;
  std::uint64_t count() const { return last - first + 1; }
  bool operator==(const WalSegmentRange&) const = default;
};

// A file name archived under more than one checksum; keys in listing order.
struct WalConflict {
  std::string name;
  std::vector<std::string> keys;
};

struct WalTimelineCatalog {
  TimelineId timeline = 0;
  // One entry per archived segment number (the first key when in conflict),
  // ascending.
  std::vector<WalArchivedObject> segments;
  std::vector<WalArchivedObject> partials;
  std::vector<WalArchivedObject> backup_histories;  // the .backup files
  // Every object of this timeline but the history file, conflicting copies
  // included (what verification reads and retention may delete).
  std::vector<WalArchivedObject> all_objects;
  std::vector<WalSegmentRange> gaps;  // ascending, between first and last segment
  std::vector<WalConflict> conflicts;

  std::optional<WalArchivedObject> history_object;
  std::optional<TimelineHistory> history;  // parsed when history_object was read
  std::string history_error;  // why history is unknown (empty when known or timeline 1)

  std::optional<WalSegmentNo> first_segment() const;
  std::optional<WalSegmentNo> last_segment() const;
  bool has_segment(WalSegmentNo segno) const;
};

// Returns the decoded content of the history object at key (decompressed,
// decrypted). May throw; the error is recorded, never propagated.
using WalHistoryReader = std::function<std::string(const std::string& key)>;

// A range of LSNs a restore can reach on one timeline path.
struct RecoverableWindow {
  TimelineId timeline = 0;  // the path's last timeline (recovery_target_timeline)
  std::string backup;       // the oldest backup that opens it
  TimelineId from_timeline = 0;
  Lsn from_lsn;           // that backup's stop_lsn
  std::string from_time;  // its completed_at (ISO 8601 UTC)
  std::int64_t from_unix = 0;
  TimelineId to_timeline = 0;           // the timeline of to_lsn
  Lsn to_lsn;                           // the end of the continuous archived WAL
  std::optional<std::int64_t> to_unix;  // the newest object's mtime, when known
};

// The archive along one timeline path, from one backup.
struct WalContinuity {
  // The first needed segment that is missing (and its timeline), or nullopt
  // when everything up to the end of the path's archive is there.
  std::optional<WalFileName> first_missing;
  // Where the continuous WAL ends (the start of first_missing, or the end of
  // the path's last archived segment); equal to the start when nothing is.
  Lsn end;
  TimelineId end_timeline = 0;
  std::optional<std::int64_t> end_unix;  // newest mtime of the segments used
  // The segments the walk used, in replay order.
  std::vector<WalArchivedObject> used;
  // Why the path cannot be followed at all (e.g. a timeline's history is
  // unknown, or it does not reach the backup); empty otherwise.
  std::string problem;
};

struct WalCatalog {
  std::string system_identifier;
  std::uint64_t wal_segment_size = kDefaultWalSegmentSize;
  std::map<TimelineId, WalTimelineCatalog> timelines;
  std::uint64_t foreign_count = 0;
  std::vector<std::string> foreign_keys;  // the first kMaxForeignKeysKept, escaped

  static constexpr std::size_t kMaxForeignKeysKept = 20;

  bool empty() const { return timelines.empty(); }
  const WalTimelineCatalog* timeline(TimelineId tli) const;
  // The history of tli: parsed, or the ancestry-free one of timeline 1.
  // nullopt when tli > 1 and its history is unknown (missing or unreadable).
  std::optional<TimelineHistory> history_of(TimelineId tli) const;
  // The segment archived as tli/segno, or nullptr.
  const WalArchivedObject* segment(TimelineId tli, WalSegmentNo segno) const;

  // See the contract: the archive from `from` (on from_timeline) along the
  // path to `target`.
  WalContinuity continuity(TimelineId from_timeline, Lsn from, TimelineId target) const;
  // The recoverable windows of the path to `target`, oldest first, from the
  // physical backups of this system among `backups` (others are ignored).
  std::vector<RecoverableWindow> recoverable_windows(const std::vector<BackupMeta>& backups,
                                                     TimelineId target) const;
  // The timelines that end a path: those no other archived timeline's history
  // names as an ancestor (with an unknown history, every timeline), ascending.
  std::vector<TimelineId> leaf_timelines() const;
  // The highest timeline in the catalog (recovery_target_timeline = latest).
  std::optional<TimelineId> latest_timeline() const;
};

WalCatalog build_wal_catalog(const std::vector<ObjectInfo>& listing,
                             const std::string& system_identifier, std::uint64_t wal_segment_size,
                             const WalHistoryReader& read_history);

// The wal_segment_size the physical backups of system_identifier among
// backups recorded (the newest that has one), else kDefaultWalSegmentSize.
std::uint64_t wal_segment_size_of(const std::vector<BackupMeta>& backups,
                                  const std::string& system_identifier);

// The segment name of tli/segno ("000000010000000000000003").
std::string wal_segment_name(TimelineId tli, WalSegmentNo segno, std::uint64_t wal_segment_size);
// "000000010000000000000005" or "000000010000000000000005..000000010000000000000007".
std::string describe_wal_range(TimelineId tli, const WalSegmentRange& range,
                               std::uint64_t wal_segment_size);

// Whether a restore can reach a point, in words a command can print.
struct RecoverabilityAnswer {
  enum class Verdict { recoverable, not_recoverable, unknown };
  Verdict verdict = Verdict::not_recoverable;
  const RecoverableWindow* window = nullptr;  // the window that holds the point
  std::string message;
};
// An LSN on the path whose windows are given.
RecoverabilityAnswer check_recoverable_lsn(const std::vector<RecoverableWindow>& windows, Lsn lsn);
// A time (microseconds since the epoch, UTC). After a window's start, inside
// it when before the end of its end time's second (stores report whole
// seconds); unknown when the end time is not known.
RecoverabilityAnswer check_recoverable_time(const std::vector<RecoverableWindow>& windows,
                                            std::int64_t time_us);
// "0/3000028 (2026-12-05T10:00:00Z, backup X on timeline 1) .. 0/9000000 on
// timeline 2 (time unknown)".
std::string describe_window(const RecoverableWindow& window);

}  // namespace pgvault
