// Keeping WAL summaries of a running server (wal_summarizer.hpp).
#include "pgvault/wal/wal_summarizer.hpp"

#include "pgvault/error.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include <algorithm>
#include <exception>
#include <string>

namespace pgvault {

WalSummarizer::WalSummarizer(std::filesystem::path dir, std::uint64_t wal_segment_size,
                             WalSource& wal, std::function<void(std::string_view)> log)
    : dir_(std::move(dir)), segment_size_(wal_segment_size), wal_(wal), log_(std::move(log)) {
  WalRecordReader check(wal_segment_size);  // refuses an impossible size now
}

void WalSummarizer::start(bool resume) {
  timeline_ = wal_.timeline();
  reader_.emplace(segment_size_);
  pending_ = WalSummary{};
  pending_start_.reset();
  pending_end_ = Lsn{};
  pending_segments_ = 0;
  summarized_ = Lsn{};
  const WalSegmentNo now = wal_segment_of(wal_.flushed(), segment_size_);
  next_segment_ = now;
  std::optional<WalSummaryRange> newest;
  for (const WalSummaryRange& r : list_wal_summaries(dir_))
    if (r.timeline == timeline_ && (!newest || r.end > newest->end)) newest = r;
  if (!newest) return;
  summarized_ = newest->end;
  if (!resume) return;
  // A summary ending at a segment boundary read its segments whole with no
  // record going on: the next record starts in the next segment. Otherwise
  // the segment holding its last byte is read again: its first record starts
  // at or before the summary's end. Either way the next summary starts at
  // that end, so the two meet.
  const WalSegmentNo resume_at = resume_segment(newest->end);
  if (resume_at <= now && !wal_.removed(resume_at)) {
    next_segment_ = resume_at;
    pending_start_ = newest->end;
  } else if (log_) {
    log_("the WAL after the newest summary (" + describe(*newest) +
         ") has left pg_wal; summarizing from segment " +
         WalFileName::segment(timeline_, now, segment_size_).name() +
         " on: incremental backups whose range includes the WAL in between read every page");
  }
}

WalSegmentNo WalSummarizer::resume_segment(Lsn end) const {
  const bool at_boundary = end.value % segment_size_ == 0;
  return wal_segment_of(Lsn{end.value - (at_boundary ? 0 : 1)}, segment_size_);
}

Lsn WalSummarizer::needed() const {
  if (timeline_ == 0) return Lsn{};
  const Lsn next = wal_segment_start(next_segment_, segment_size_);
  // Records read but not written out yet follow the newest summary: after a
  // restart they are read again from its end.
  if (summarized_.value > 0 && pending_start_ && *pending_start_ == summarized_)
    return std::min(next, wal_segment_start(resume_segment(summarized_), segment_size_));
  return next;
}

void WalSummarizer::restart(std::string_view why) {
  write_pending(false);
  if (log_)
    log_(std::string(why) +
         "; summarizing again from the segment being written now (incremental "
         "backups whose range includes the WAL skipped read every page)");
  // Not after the newest summary: what made us restart lies after it.
  start(false);
}

void WalSummarizer::write_pending(bool whole_segments) {
  // Whole segments read and no record going on: no record starts between
  // the last one's end and the segment boundary, so the summary reaches it
  // (and a restarted summarizer begins at the next segment).
  if (whole_segments && pending_start_ && !reader_->in_record())
    pending_end_ = std::max(pending_end_, wal_segment_start(next_segment_, segment_size_));
  if (pending_start_ && pending_end_ > *pending_start_) {
    pending_.finish();
    write_wal_summary(dir_, {timeline_, *pending_start_, pending_end_}, pending_);
    summarized_ = pending_end_;
    pending_start_ = pending_end_;
  }
  pending_ = WalSummary{};
  pending_segments_ = 0;
}

bool WalSummarizer::load(WalSegmentNo segno) {
  if (wal_.read_segment(timeline_, segno, bytes_) && bytes_.size() == segment_size_) return true;
  return false;
}

void WalSummarizer::catch_up(bool write_when_caught_up) {
  if (timeline_ == 0) start(true);
  if (wal_.timeline() != timeline_) {
    restart("WAL is now written on timeline " + std::to_string(wal_.timeline()) +
            " (summaries so far: timeline " + std::to_string(timeline_) + ")");
  }
  const auto on_record = [this](const WalRecord& r) {
    if (!pending_start_) pending_start_ = r.lsn;
    pending_.add(r);
    pending_end_ = r.end;
  };
  while (wal_segment_start(next_segment_ + 1, segment_size_) <= wal_.flushed()) {
    const std::string name = WalFileName::segment(timeline_, next_segment_, segment_size_).name();
    if (!load(next_segment_) || wal_.removed(next_segment_)) {
      restart("WAL file " + name + " left pg_wal before it was summarized");
      return;
    }
    try {
      if (const auto end = reader_->read_segment(next_segment_, bytes_, on_record)) {
        restart("the valid WAL of the complete file " + name + " ends at " + format_lsn(end->lsn) +
                " (" + end->reason + ")");
        return;
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::io) throw;
      restart("WAL file " + name + " could not be summarized: " + e.what());
      return;
    }
    ++next_segment_;
    if (++pending_segments_ >= kSegmentsPerSummary) write_pending(true);
  }
  if (write_when_caught_up) write_pending(true);
}

Lsn WalSummarizer::summarize_to(Lsn lsn) {
  catch_up();
  if (summarized_ >= lsn) return summarized_;
  // The segment being written, as far as its WAL is flushed, with a copy of
  // the reader: the complete segment is read again by catch_up later. WAL
  // written but not flushed may be lost in a crash and written anew, other
  // records at the same positions: a summary of it would be wrong.
  const Lsn flushed = wal_.flushed();
  if (!wal_.read_segment(timeline_, next_segment_, bytes_)) return summarized_;
  bytes_.resize(segment_size_);  // a file still growing reads as zeroes after its end
  WalRecordReader reader = *reader_;
  WalSummary summary;
  std::optional<Lsn> start = pending_start_;
  Lsn end;
  try {
    reader.read_segment(next_segment_, bytes_, [&](const WalRecord& r) {
      if (r.end > flushed) return;
      if (!start) start = r.lsn;
      summary.add(r);
      end = r.end;
    });
  } catch (const Error& e) {
    if (log_)
      log_("WAL file " + WalFileName::segment(timeline_, next_segment_, segment_size_).name() +
           " could not be summarized: " + e.what());
    return summarized_;
  }
  if (!start || end <= *start) return summarized_;
  summary.finish();
  write_wal_summary(dir_, {timeline_, *start, end}, summary);
  return end;
}

}  // namespace pgvault
