// WalSummarizer over WAL built byte by byte and a fake server: summaries of
// complete segments meet, a backup's request reads the segment being
// written, a restarted summarizer resumes where the newest summary ends, and
// every gap (a segment gone, damage, a new timeline) is logged and left
// uncovered, so that incrementals spanning it read every page.
#include "pgvault/error.hpp"
#include "pgvault/wal/wal_summarizer.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include "test_support.hpp"
#include "wal_test_records.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::wal_records_test;
using namespace pgvault::test;

namespace {

constexpr WalSegmentNo kFirst = 3;

// The server: WAL in a WalBuilder, flushed up to `flush`.
struct FakeWal final : WalSource {
  explicit FakeWal(const WalBuilder& w, std::size_t segments) : wal(w), count(segments) {}
  TimelineId timeline() override { return tli; }
  Lsn flushed() override { return flush; }
  bool read_segment(TimelineId t, WalSegmentNo segno, std::vector<std::byte>& out) override {
    if (t != tli || gone.count(segno) != 0 || segno < kFirst || segno >= kFirst + count)
      return false;
    const auto bytes = wal.segment(segno - kFirst);
    out.assign(bytes.begin(), bytes.end());
    return true;
  }
  bool removed(WalSegmentNo segno) override { return gone.count(segno) != 0; }

  const WalBuilder& wal;
  std::size_t count;
  TimelineId tli = 1;
  Lsn flush;
  std::set<WalSegmentNo> gone;
};

// Adds records referencing blocks next, next + 1, ... until the WAL reaches
// `until`; returns the next block number.
std::uint32_t add_records_until(WalBuilder& wal, Lsn until, std::uint32_t next) {
  while (wal.insert_position() < until) {
    RecordSpec r;
    r.main_length = 3000;
    BlockSpec b;
    b.block = next++;
    r.blocks.push_back(b);
    wal.add(r);
  }
  return next;
}

std::set<std::uint32_t> blocks_in(const WalSummary& s) {
  const auto& forks = s.forks();
  const auto it = forks.find({RelFileNode{1663, 5, 16384}, 0});
  if (it == forks.end()) return {};
  return {it->second.blocks.begin(), it->second.blocks.end()};
}

std::set<std::uint32_t> range_of_blocks(std::uint32_t first, std::uint32_t end) {
  std::set<std::uint32_t> out;
  for (std::uint32_t b = first; b < end; ++b) out.insert(b);
  return out;
}

Lsn segment_lsn(double segments) {
  return Lsn{static_cast<std::uint64_t>((kFirst + segments) * static_cast<double>(kSegment))};
}

struct SummarizerRun {
  TempDir dir;
  WalBuilder wal{kFirst, 5};
  FakeWal server{wal, 5};
  std::vector<std::string> logged;
  WalSummarizer make() {
    return WalSummarizer(dir.path(), kSegment, server,
                         [this](std::string_view m) { logged.emplace_back(m); });
  }
  std::string log_text() const {
    std::string all;
    for (const auto& l : logged) all += l + "\n";
    return all;
  }
  // The WAL written so far is flushed.
  void flush_all() { server.flush = wal.insert_position(); }
  // A summarizer started at the beginning of the first segment.
  WalSummarizer started() {
    server.flush = Lsn{wal.start().value + 100};
    WalSummarizer s = make();
    s.catch_up();
    return s;
  }
  // A summarizer started now (the server restarted) answers a backup
  // starting now with summaries that cover everything since `first`:
  // blocks 0 .. blocks - 1, nothing logged.
  void expect_a_restarted_summarizer_covers(Lsn first, std::uint32_t blocks) {
    flush_all();
    WalSummarizer again = make();
    const Lsn now = wal.insert_position();
    EXPECT_GE(again.summarize_to(now), now);
    const WalChanges c = collect_wal_changes(dir.path(), 1, first, now);
    ASSERT_TRUE(c.summary) << c.why_not;
    EXPECT_EQ(blocks_in(*c.summary), range_of_blocks(0, blocks));
    EXPECT_TRUE(logged.empty()) << log_text();
  }
};

}  // namespace

TEST(WalSummarizer, SummariesOfCompleteSegmentsMeetAndABackupGetsTheSegmentBeingWritten) {
  SummarizerRun run;
  run.server.flush = Lsn{run.wal.start().value + 100};
  WalSummarizer s = run.make();
  s.catch_up();  // starts at the segment being written: kFirst
  EXPECT_TRUE(list_wal_summaries(run.dir.path()).empty());

  std::uint32_t next = add_records_until(run.wal, segment_lsn(2.5), 0);
  run.flush_all();
  s.catch_up();
  const auto complete = list_wal_summaries(run.dir.path());
  ASSERT_EQ(complete.size(), 1u);  // caught up: one summary of two segments
  EXPECT_LT(complete[0].end, segment_lsn(2));
  EXPECT_EQ(s.summarized(), complete[0].end);

  // A backup starting now: the segment being written is read as far as it is valid.
  const Lsn start = run.wal.insert_position();
  EXPECT_GE(s.summarize_to(start), start);
  WalChanges c = collect_wal_changes(run.dir.path(), 1, complete[0].start, start);
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_EQ(blocks_in(*c.summary), range_of_blocks(0, next));
  EXPECT_EQ(c.used.size(), 2u);
  // Not flushed yet: not reached.
  EXPECT_LT(s.summarize_to(Lsn{start.value + 10000}), Lsn{start.value + 10000});

  // The segment completes: its complete summary replaces the partial one.
  const std::uint32_t before = next;
  next = add_records_until(run.wal, segment_lsn(3.2), next);
  run.flush_all();
  s.catch_up();
  const Lsn later = run.wal.insert_position();
  EXPECT_GE(s.summarize_to(later), later);
  c = collect_wal_changes(run.dir.path(), 1, start, later);
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_TRUE(blocks_in(*c.summary).count(before));
  EXPECT_TRUE(blocks_in(*c.summary).count(next - 1));
  remove_old_wal_summaries(run.dir.path(), std::chrono::seconds(0),
                           std::filesystem::file_time_type::clock::now());
  c = collect_wal_changes(run.dir.path(), 1, complete[0].start, later);
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_EQ(blocks_in(*c.summary), range_of_blocks(0, next));
  EXPECT_TRUE(run.logged.empty()) << run.log_text();
}

// The worker polls every 200 ms while a step reads a segment, every second
// otherwise: next_segment() moves exactly when catch_up read one.
TEST(WalSummarizer, NextSegmentMovesOnlyWhenASegmentIsRead) {
  SummarizerRun run;
  run.server.flush = Lsn{run.wal.start().value + 100};
  WalSummarizer s = run.make();
  s.catch_up();
  const WalSegmentNo first = s.next_segment();
  s.catch_up();  // nothing complete since: no move
  EXPECT_EQ(s.next_segment(), first);

  add_records_until(run.wal, segment_lsn(2.5), 0);
  run.server.flush = Lsn{segment_lsn(1.5).value};  // one more segment complete
  s.catch_up(false);
  EXPECT_EQ(s.next_segment(), first + 1);
  s.catch_up(false);
  EXPECT_EQ(s.next_segment(), first + 1);
  // A backup's request reads the segment being written with a copy of the
  // reader: the segment is still the next one to read whole.
  (void)s.summarize_to(run.server.flush);
  EXPECT_EQ(s.next_segment(), first + 1);
  run.flush_all();
  s.catch_up(false);
  EXPECT_EQ(s.next_segment(), first + 2);
  EXPECT_TRUE(run.logged.empty()) << run.log_text();
}

TEST(WalSummarizer, ARestartedSummarizerResumesWhereTheNewestSummaryEnds) {
  SummarizerRun run;
  std::uint32_t next = 0;
  Lsn first;
  {
    WalSummarizer s = run.started();
    next = add_records_until(run.wal, segment_lsn(1.6), next);
    run.flush_all();
    s.summarize_to(run.wal.insert_position());
    first = list_wal_summaries(run.dir.path()).front().start;
  }
  // The server restarts; meanwhile two more segments were written.
  next = add_records_until(run.wal, segment_lsn(3.5), next);
  run.expect_a_restarted_summarizer_covers(first, next);
}

TEST(WalSummarizer, ASegmentGoneBeforeItWasReadLeavesAGapThatIsReported) {
  SummarizerRun run;
  WalSummarizer s = run.started();
  std::uint32_t next = add_records_until(run.wal, segment_lsn(3.5), 0);
  run.flush_all();
  run.server.gone.insert(kFirst + 1);
  const Lsn now = run.wal.insert_position();
  EXPECT_GE(s.summarize_to(now), now);
  EXPECT_NE(run.log_text().find("000000010000000000000004 left pg_wal before it was summarized"),
            std::string::npos)
      << run.log_text();
  const auto ranges = list_wal_summaries(run.dir.path());
  ASSERT_EQ(ranges.size(), 2u);  // the first segment's, and the one being written
  EXPECT_LE(ranges[0].end, segment_lsn(1));
  EXPECT_GE(ranges[1].start, segment_lsn(3));
  WalChanges c = collect_wal_changes(run.dir.path(), 1, ranges[0].start, now);
  EXPECT_FALSE(c.summary);
  EXPECT_NE(c.why_not.find("covers " + format_lsn(ranges[0].end)), std::string::npos) << c.why_not;
  // After the gap, summaries work again.
  c = collect_wal_changes(run.dir.path(), 1, ranges[1].start, now);
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_TRUE(blocks_in(*c.summary).count(next - 1));
}

TEST(WalSummarizer, DamageInACompleteSegmentOrANewTimelineStartsAfresh) {
  SummarizerRun run;
  WalSummarizer s = run.started();
  add_records_until(run.wal, segment_lsn(1.5), 0);
  // A byte in the middle of the first segment changes: its record's CRC fails.
  *run.wal.at_lsn(segment_lsn(0.5).value + 1000) ^= std::byte{0x10};
  add_records_until(run.wal, segment_lsn(2.5), 5000);
  run.flush_all();
  s.catch_up();
  EXPECT_NE(run.log_text().find("the valid WAL of the complete file 000000010000000000000003 ends"),
            std::string::npos)
      << run.log_text();
  const auto ranges = list_wal_summaries(run.dir.path());
  ASSERT_EQ(ranges.size(), 1u);  // what was valid before the damage
  EXPECT_LT(ranges[0].end, segment_lsn(0.5));

  run.logged.clear();
  run.server.tli = 2;
  s.catch_up();
  EXPECT_NE(run.log_text().find("WAL is now written on timeline 2"), std::string::npos)
      << run.log_text();
  EXPECT_EQ(s.timeline(), 2u);
}

// A segment read whole with no record going on at its end (here: ended by a
// switch) gives a summary that reaches the segment boundary, so a restarted
// summarizer begins at the next segment: the one before may be gone.
TEST(WalSummarizer, ASummaryEndingAtASegmentBoundaryResumesAtTheNextSegment) {
  SummarizerRun run;
  std::uint32_t next = 0;
  Lsn first;
  {
    WalSummarizer s = run.started();
    next = add_records_until(run.wal, segment_lsn(0.5), next);
    RecordSpec switch_record;  // XLOG_SWITCH
    switch_record.rmid = 0;
    switch_record.info = 0x40;
    switch_record.main_length = 0;
    run.wal.add(switch_record);
    run.wal.set_insert(segment_lsn(1));
    next = add_records_until(run.wal, segment_lsn(1.4), next);
    run.flush_all();
    s.catch_up();
    const auto ranges = list_wal_summaries(run.dir.path());
    ASSERT_EQ(ranges.size(), 1u);
    EXPECT_EQ(ranges[0].end, segment_lsn(1));
    first = ranges[0].start;
  }
  run.server.gone.insert(kFirst);  // recycled by a checkpoint while the server was down
  next = add_records_until(run.wal, segment_lsn(2.5), next);
  run.expect_a_restarted_summarizer_covers(first, next);
}

// WAL written but not flushed may be lost in a crash and written anew:
// summarize_to never summarizes past the flushed position.
TEST(WalSummarizer, ABackupsRequestStopsAtTheFlushedWal) {
  SummarizerRun run;
  WalSummarizer s = run.started();
  std::uint32_t next = add_records_until(run.wal, segment_lsn(0.3), 0);
  const Lsn flushed = run.wal.insert_position();
  add_records_until(run.wal, segment_lsn(0.6), next);  // in the file, not flushed
  run.server.flush = flushed;
  const Lsn reached = s.summarize_to(run.wal.insert_position());
  EXPECT_EQ(reached, flushed);
  const auto ranges = list_wal_summaries(run.dir.path());
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].end, flushed);
  const WalChanges c = collect_wal_changes(run.dir.path(), 1, ranges[0].start, flushed);
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_EQ(blocks_in(*c.summary), range_of_blocks(0, next));
}

// The worker writes a summary once a minute: what it read meanwhile waits in
// memory, and needed() holds its WAL, so that a summarizer restarted after a
// crash (the pending records lost) reads it again from the newest summary.
TEST(WalSummarizer, RecordsNotWrittenOutYetKeepTheirWalNeeded) {
  SummarizerRun run;
  WalSummarizer s = run.started();
  std::uint32_t next = add_records_until(run.wal, segment_lsn(1.5), 0);
  run.flush_all();
  s.catch_up();
  const auto written = list_wal_summaries(run.dir.path());
  ASSERT_EQ(written.size(), 1u);
  ASSERT_LT(written[0].end, segment_lsn(1));  // a record goes on into the next segment
  EXPECT_EQ(s.needed(), segment_lsn(0));      // read again after a restart

  next = add_records_until(run.wal, segment_lsn(3.5), next);
  run.flush_all();
  s.catch_up(false);
  EXPECT_EQ(list_wal_summaries(run.dir.path()).size(), 1u);  // read, not written out
  // Still held from the segment holding the newest summary's end, not from
  // the next one to read (segment_lsn(3)).
  EXPECT_EQ(s.needed(), segment_lsn(0));
  // The worker crashes: what it read is lost, and read again.
  run.expect_a_restarted_summarizer_covers(written[0].start, next);
  // Written out, the WAL before the segment holding its end is not needed.
  s.catch_up(true);
  EXPECT_GE(s.needed(), segment_lsn(2));
}
