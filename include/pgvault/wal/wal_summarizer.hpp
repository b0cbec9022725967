// Keeping WAL summaries of a running server (wal_summary_file.hpp): what the
// "pgvault summarizer" worker (src/pg/wal_summarizer.cpp) runs, with the
// server behind WalSource so that the logic is tested offline.
//
// Contract:
//  - One WalRecordReader reads the complete segments (flushed up to their
//    last byte) of the timeline WAL is written on, in order, as they appear;
//    its state carries records across segments. The records go into one
//    pending summary, written out as a file when the summarizer has caught up
//    with the flushed WAL (if the caller says so: the worker does once a
//    minute, so that a busy server does not get a file a second) or has read
//    kSegmentsPerSummary segments; the next
//    summary starts where it ended, so the files of one reader meet exactly.
//    With no record going on at the end of the last segment read, a summary
//    ends at the segment boundary (no record starts in between).
//  - Where it starts: after the newest summary of the timeline (at the next
//    segment when that summary ends at a boundary, else reading again the
//    segment holding its last byte, with a fresh reader; the next summary
//    starts at its end) while that segment is still in pg_wal; otherwise at
//    the segment being written now.
//    What lies between is a gap: incrementals whose range meets it read every
//    page (collect_wal_changes says so).
//  - A segment that is missing, removed while read, or whose valid WAL ends
//    before its end (damage), a record it cannot parse, or a new timeline:
//    what was read before is written out, the reason is logged, and reading
//    starts afresh at the segment being written now. It never waits for a
//    segment and holds no WAL back itself; needed() tells the caller from
//    where WAL must stay for it: the segments not read yet, and those read
//    but not written out, which a restarted summarizer reads again from the
//    newest summary's end (the worker holds them with a temporary slot,
//    which goes with the worker).
//  - summarize_to(lsn) serves a backup that starts at lsn: after catching up
//    it reads the segment being written, as far as its WAL is flushed, with a
//    copy of the reader, and writes that stretch as one more summary (which
//    the next complete summary of the same WAL replaces:
//    remove_old_wal_summaries). It returns the end now summarized, which is
//    below lsn while that WAL is not flushed yet.
//  - Error(io) from writing a summary propagates (the caller logs and
//    retries later); nothing else throws.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_records.hpp"
#include "pgvault/wal/wal_summary.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace pgvault {

// The server's WAL as the summarizer sees it.
class WalSource {
 public:
  virtual ~WalSource() = default;
  virtual TimelineId timeline() = 0;  // the timeline WAL is written on
  virtual Lsn flushed() = 0;          // every byte before it is on disk
  // Reads segment segno of timeline into out (wal_segment_size bytes; a
  // shorter file is read as it is); false when the file is missing.
  virtual bool read_segment(TimelineId timeline, WalSegmentNo segno,
                            std::vector<std::byte>& out) = 0;
  // Whether the server may have removed or recycled segment segno already.
  virtual bool removed(WalSegmentNo segno) = 0;
};

class WalSummarizer {
 public:
  static constexpr std::size_t kSegmentsPerSummary = 16;

  WalSummarizer(std::filesystem::path dir, std::uint64_t wal_segment_size, WalSource& wal,
                std::function<void(std::string_view)> log);

  // Reads every complete segment not read yet (see the contract); writes the
  // pending summary out when caught up if write_when_caught_up.
  void catch_up(bool write_when_caught_up = true);
  // See the contract; returns the end of the WAL summarized.
  Lsn summarize_to(Lsn lsn);
  // The end of the newest summary written on the current timeline (0: none).
  Lsn summarized() const { return summarized_; }
  TimelineId timeline() const { return timeline_; }
  // The segment catch_up reads next: it moved on when catch_up read one.
  WalSegmentNo next_segment() const { return next_segment_; }
  // The oldest WAL it needs, now or after a restart (see the contract); the
  // caller may hold WAL from there on (0: not started).
  Lsn needed() const;

 private:
  // resume: after the newest summary when its WAL is still there (see the
  // contract); otherwise at the segment being written now.
  void start(bool resume);
  // The segment a summarizer resuming after a summary ending at `end` reads first.
  WalSegmentNo resume_segment(Lsn end) const;
  void restart(std::string_view why);
  // whole_segments: the segments read so far were read to their end.
  void write_pending(bool whole_segments);
  // Reads segment segno into bytes_; false (logged) when it is missing.
  bool load(WalSegmentNo segno);

  std::filesystem::path dir_;
  std::uint64_t segment_size_;
  WalSource& wal_;
  std::function<void(std::string_view)> log_;

  TimelineId timeline_ = 0;  // 0: not started
  std::optional<WalRecordReader> reader_;
  WalSegmentNo next_segment_ = 0;
  std::vector<std::byte> bytes_;
  WalSummary pending_;
  std::optional<Lsn> pending_start_;  // unset until a fresh reader's first record
  Lsn pending_end_;
  std::size_t pending_segments_ = 0;
  Lsn summarized_;
};

}  // namespace pgvault
