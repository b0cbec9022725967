// Timeline history files (include/pgvault/wal/timeline_history.hpp).
#include "pgvault/error.hpp"
#include "pgvault/wal/timeline_history.hpp"

#include <gtest/gtest.h>

using namespace pgvault;

namespace {

// Timeline 5 whose ancestors are 1 (to 0/3000000), 2 (to 0/5000028) and 4 (to
// 0/9000000); timeline 3 was abandoned.
constexpr std::string_view kHistory5 =
    "# written by hand\n"
    "1\t0/3000000\tno recovery target specified\n"
    "\n"
    "   \t\n"
    "2\t0/5000028\tbefore 2026-12-05 04:00:00+00\n"
    "  # indented comment\n"
    "4\t0/9000000\tat restore point \"x\"";

std::string corrupt_message(TimelineId tli, std::string_view text) {
  try {
    TimelineHistory::parse(tli, text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

}  // namespace

TEST(TimelineHistory, ParsesTheFilePostgresWrote) {
  // 00000002.history as PostgreSQL 15 wrote it after a promotion (initdb, restart
  // with recovery.signal, see the commit that added this test).
  TimelineHistory h = TimelineHistory::parse(2, "1\t0/2016118\tno recovery target specified\n");
  ASSERT_EQ(h.entries().size(), 1u);
  EXPECT_EQ(h.entries()[0].timeline, 1u);
  EXPECT_EQ(h.entries()[0].switchpoint, parse_lsn("0/2016118"));
  EXPECT_EQ(h.entries()[0].reason, "no recovery target specified");
  EXPECT_EQ(h.ancestry(), (std::vector<TimelineId>{1, 2}));
}

TEST(TimelineHistory, SkipsCommentsAndBlankLinesAndKeepsReasons) {
  TimelineHistory h = TimelineHistory::parse(5, kHistory5);
  EXPECT_EQ(h.timeline(), 5u);
  ASSERT_EQ(h.entries().size(), 3u);
  EXPECT_EQ(h.entries()[1].reason, "before 2026-12-05 04:00:00+00");
  EXPECT_EQ(h.entries()[2].reason, "at restore point \"x\"");
  EXPECT_EQ(h.ancestry(), (std::vector<TimelineId>{1, 2, 4, 5}));
  EXPECT_TRUE(h.contains(4));
  EXPECT_FALSE(h.contains(3));
  EXPECT_FALSE(h.contains(6));
  // CRLF line ends, a space instead of a tab, no reason, lower-case hex.
  TimelineHistory crlf = TimelineHistory::parse(3, "1 0/a000000\r\n2\t1/0\treason\r\n");
  EXPECT_EQ(crlf.entries()[0].switchpoint, parse_lsn("0/A000000"));
  EXPECT_EQ(crlf.entries()[0].reason, "");
  EXPECT_EQ(crlf.entries()[1].reason, "reason");
}

TEST(TimelineHistory, TimelineOneAndEmptyFiles) {
  TimelineHistory one(1);
  EXPECT_EQ(one.ancestry(), (std::vector<TimelineId>{1}));
  EXPECT_EQ(one.timeline_of(parse_lsn("FF/0")), 1u);
  EXPECT_EQ(TimelineHistory::parse(1, "").entries().size(), 0u);
  EXPECT_EQ(TimelineHistory::parse(7, "# nothing\n\n").ancestry(), (std::vector<TimelineId>{7}));
  EXPECT_THROW(TimelineHistory(0), Error);
}

TEST(TimelineHistory, RefusesWhatPostgresRefusesAndMore) {
  struct Case {
    TimelineId tli;
    std::string text, why;
  };
  const std::vector<Case> cases = {
      {2, "x\t0/1\n", "line 1 (\"x\\x090/1\"): expected a numeric timeline ID"},
      {2, "1\n", "expected a tab and a write-ahead log switchpoint"},
      {2, "1\t\n", "expected a write-ahead log switchpoint location (X/Y)"},
      {2, "1\tnot-an-lsn\treason\n", "expected a write-ahead log switchpoint location (X/Y)"},
      {2, "1/0\t0/1\n", "expected a tab"},
      {2, "1\t0/123456789\n", "switchpoint location"},
      {4, "# c\n2\t0/5\n1\t0/9\n",
       "line 3 (\"1\\x090/9\"): timeline IDs must increase (1 follows 2)"},
      {4, "2\t0/5\n2\t0/9\n", "timeline IDs must increase (2 follows 2)"},
      {3, "1\t0/5\n3\t0/9\n", "timeline 3 cannot be an ancestor of timeline 3"},
      {3, "5\t0/5\n", "timeline 5 cannot be an ancestor of timeline 3"},
      {4, "1\t0/9000000\n2\t0/5000000\n",
       "switchpoints must not decrease (0/5000000 follows 0/9000000)"},
      {2, "0\t0/1\n", "timeline 0 does not exist"},
      {2, "4294967296\t0/1\n", "timeline ID is too large"},
  };
  for (const auto& c : cases) {
    std::string msg = corrupt_message(c.tli, c.text);
    EXPECT_NE(msg.find(c.why), std::string::npos) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("history file of timeline " + std::to_string(c.tli)), std::string::npos)
        << msg;
  }
}

TEST(TimelineHistory, BeginEndAndTheTimelineOfAnLsn) {
  TimelineHistory h = TimelineHistory::parse(5, kHistory5);
  EXPECT_EQ(h.begin_of(1), parse_lsn("0/0"));
  EXPECT_EQ(h.end_of(1), parse_lsn("0/3000000"));
  EXPECT_EQ(h.begin_of(2), parse_lsn("0/3000000"));
  EXPECT_EQ(h.end_of(2), parse_lsn("0/5000028"));
  EXPECT_EQ(h.begin_of(5), parse_lsn("0/9000000"));
  EXPECT_EQ(h.end_of(5), std::nullopt);
  EXPECT_THROW(h.begin_of(3), Error);
  EXPECT_THROW(h.end_of(6), Error);

  EXPECT_EQ(h.timeline_of(parse_lsn("0/0")), 1u);
  EXPECT_EQ(h.timeline_of(parse_lsn("0/2FFFFFF")), 1u);
  EXPECT_EQ(h.timeline_of(parse_lsn("0/3000000")), 2u);  // a switchpoint belongs to the child
  EXPECT_EQ(h.timeline_of(parse_lsn("0/5000027")), 2u);
  EXPECT_EQ(h.timeline_of(parse_lsn("0/5000028")), 4u);
  EXPECT_EQ(h.timeline_of(parse_lsn("0/9000000")), 5u);
  EXPECT_EQ(h.timeline_of(parse_lsn("FFFFFFFF/FFFFFFFF")), 5u);
}

TEST(TimelineHistory, BackupReachesTheTargetOnlyIfItsTimelineForkedAfterIt) {
  TimelineHistory h = TimelineHistory::parse(5, kHistory5);
  EXPECT_TRUE(h.reaches(1, parse_lsn("0/2000000")).reachable);
  EXPECT_TRUE(h.reaches(1, parse_lsn("0/3000000")).reachable);  // fork exactly at the backup
  EXPECT_TRUE(h.reaches(2, parse_lsn("0/4000000")).reachable);
  EXPECT_TRUE(h.reaches(5, parse_lsn("7/0")).reachable);
  EXPECT_NO_THROW(h.check_reaches(4, parse_lsn("0/8000000")));

  auto late = h.reaches(1, parse_lsn("0/3000100"));
  EXPECT_FALSE(late.reachable);
  EXPECT_EQ(
      late.reason,
      "a backup on timeline 1 consistent at 0/3000100 cannot reach timeline 5: timeline 2 "
      "forked from timeline 1 at 0/3000000, before the backup was consistent; use a backup of "
      "timeline 1 that ends by 0/3000000, or one taken later on the path to timeline 5");

  auto abandoned = h.reaches(3, parse_lsn("0/6000000"));
  EXPECT_FALSE(abandoned.reachable);
  EXPECT_EQ(abandoned.reason,
            "a backup on timeline 3 consistent at 0/6000000 cannot reach timeline 5: timeline 3 is "
            "not one of its ancestors (1, 2, 4, 5)");
  try {
    h.check_reaches(4, parse_lsn("0/9000001"));
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("timeline 5 forked from timeline 4 at 0/9000000"),
              std::string::npos)
        << e.what();
  }
}
