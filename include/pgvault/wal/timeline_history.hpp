// A timeline history file (TTTTTTTT.history) and the questions PITR asks of it.
//
// Format (PostgreSQL 15, timeline.c writeTimeLineHistory/readTimeLineHistory):
// one line per ancestor, oldest first,
//     <parent TLI, decimal><TAB><switchpoint LSN, X/Y hex><TAB><reason>
// meaning "the parent timeline ended at switchpoint, where its child began".
// Blank lines and lines whose first non-blank character is '#' are skipped;
// anything after the LSN is the free-text reason. The file of timeline N lists
// every ancestor of N (timelines may be skipped: 1, 3 for timeline 4 when
// timeline 2 was abandoned); timeline 1 has no file.
//
// Contract: parse validates what readTimeLineHistory validates (a numeric
// timeline then a switchpoint on every line; timeline IDs increasing and below
// the file's own timeline) and also that switchpoints never decrease, since
// the file is read from a repository and must not be trusted. Every error is
// Error(corrupt) naming the timeline, the line number and what was expected.
// An LSN exactly at a switchpoint belongs to the child (tliOfPointInHistory).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

struct TimelineHistoryEntry {
  TimelineId timeline = 0;  // an ancestor ...
  Lsn switchpoint;          // ... that ended here
  std::string reason;
};

class TimelineHistory {
 public:
  // The history of timeline 1 (no ancestors), or of any timeline for which no
  // history file exists (PostgreSQL treats it the same way).
  explicit TimelineHistory(TimelineId timeline);
  // Parses the content of `timeline`'s history file. Throws Error(corrupt).
  static TimelineHistory parse(TimelineId timeline, std::string_view text);

  TimelineId timeline() const { return timeline_; }
  const std::vector<TimelineHistoryEntry>& entries() const { return entries_; }

  // Oldest first, ending with timeline().
  std::vector<TimelineId> ancestry() const;
  bool contains(TimelineId timeline) const;
  // Where `timeline` begins / ends on the path to timeline(): begin is 0/0 for
  // the oldest, end is nullopt for timeline() itself (still open). Throw
  // Error(invalid_argument) when timeline is not on the path.
  Lsn begin_of(TimelineId timeline) const;
  std::optional<Lsn> end_of(TimelineId timeline) const;
  // The timeline that wrote lsn on the way to timeline().
  TimelineId timeline_of(Lsn lsn) const;

  // Whether a backup taken on timeline backup_timeline, consistent at
  // backup_lsn (its stop LSN), can be recovered along this history: its
  // timeline must be an ancestor (or timeline() itself) that did not end
  // before backup_lsn. The message says why not and names the fork point.
  struct Reachability {
    bool reachable = false;
    std::string reason;  // empty when reachable
  };
  Reachability reaches(TimelineId backup_timeline, Lsn backup_lsn) const;
  // Throws Error(invalid_argument) with reaches()'s reason.
  void check_reaches(TimelineId backup_timeline, Lsn backup_lsn) const;

 private:
  TimelineId timeline_;
  std::vector<TimelineHistoryEntry> entries_;
};

}  // namespace pgvault
