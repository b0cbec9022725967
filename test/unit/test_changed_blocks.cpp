// The changed_blocks object (written as ranges, read back strictly) and the
// plan a chain restore makes from the lists (which backup owns each block).
#include "pgvault/error.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/chain_plan.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

using namespace pgvault;
using namespace pgvault::test;

namespace {

std::string written(std::vector<ChangedBlocksRecord> records) {
  StringSink out;
  write_changed_blocks(out, std::move(records));
  return out.str();
}

const std::string kObject = "changed_blocks of backup \"i1\"";

std::vector<ChangedBlocksRecord> parsed(const std::string& text) {
  return parse_changed_blocks(text, kObject);
}

}  // namespace

TEST(ChangedBlocks, WritesSortedRangesAndReadsThemBack) {
  const std::vector<ChangedBlocksRecord> records = {
      {"pg_tblspc/16400/PG_15_202209061/5/16401", 3, {}},
      {"base/5/16385", 131072, {0, 1, 2, 7, 9, 10, 131071}},
      {"base/5/16385.1", 1, {0}},
  };
  const std::string text = written(records);
  EXPECT_EQ(text,
            "131072 0-2,7,9-10,131071 base/5/16385\n"
            "1 0 base/5/16385.1\n"
            "3 - pg_tblspc/16400/PG_15_202209061/5/16401\n");
  const auto back = parsed(text);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], records[1]);
  EXPECT_EQ(back[1], records[2]);
  EXPECT_EQ(back[2], records[0]);
  EXPECT_TRUE(parsed("").empty()) << "no INCREMENTAL. entry";
  // A path may hold spaces: it is the rest of the line.
  EXPECT_EQ(parsed("2 1 base/5/a b\n")[0].path, "base/5/a b");
}

TEST(ChangedBlocks, TheWriterRefusesWhatItCouldNotReadBack) {
  expect_error([] { written({{"", 1, {}}}); }, ErrorKind::invalid_argument, "empty");
  expect_error([] { written({{"a\nb", 1, {}}}); }, ErrorKind::invalid_argument, "newline");
  expect_error(
      [] {
        written({{"a", 1, {}}, {"a", 2, {}}});
      },
      ErrorKind::invalid_argument, "listed twice");
  expect_error(
      [] {
        written({{"a", 131073, {}}});
      },
      ErrorKind::invalid_argument, "more blocks than a segment file has");
  expect_error(
      [] {
        written({{"a", 4, {2, 1}}});
      },
      ErrorKind::invalid_argument, "block 1 is out of order");
  expect_error(
      [] {
        written({{"a", 4, {4}}});
      },
      ErrorKind::invalid_argument, "block 4 is out of order or beyond the file");
}

TEST(ChangedBlocks, TheReaderTrustsNothing) {
  const auto bad = [](const std::string& text, const std::string& needle) {
    expect_error([&] { parsed(text); }, ErrorKind::corrupt, needle);
  };
  bad("4 1 a", "line 1: the last line has no newline (truncated?)");
  bad("4 1\n", "line 1: too few fields");
  bad("4 1 \n", "line 1: empty path");
  bad("04 1 a\n", "malformed or too large file blocks \"04\"");
  bad("131073 - a\n", "malformed or too large file blocks");
  bad("-1 - a\n", "malformed or too large file blocks");
  bad("4 x a\n", "malformed block range \"x\"");
  bad("4 2-1 a\n", "malformed block range \"2-1\"");
  bad("4 1-1 a\n", "malformed block range \"1-1\"");
  bad("4 1, a\n", "malformed block range \"\"");
  bad("4 01 a\n", "malformed block range \"01\"");
  bad("4 3,1 a\n", "block range \"1\" overlaps or follows on the one before");
  bad("4 0-2,3 a\n", "block range \"3\" overlaps or follows on the one before");
  bad("4 0-4 a\n", "block range \"0-4\" goes beyond the file's 4 blocks");
  bad("0 0 a\n", "goes beyond the file's 0 blocks");
  bad("4 - b\n4 - a\n", "line 2: path \"a\" is out of order or repeated");
  bad("4 - a\n4 - a\n", "line 2: path \"a\" is out of order or repeated");
  bad(std::string("4 - a\0b\n", 8), "NUL");
  // Every error names the object and what a line should be.
  expect_error([] { parsed("x\n"); }, ErrorKind::corrupt,
               kObject +
                   ", line 1: too few fields (expected \"<file blocks> <ascending block "
                   "ranges or -> <path>\", sorted by path)");
}

// Newest first: each block has one owner, the newest backup that lists it
// below the restored size; the first backup that does not list a file is its
// base and owns the rest.
TEST(ChainPlan, TheNewestListingOfABlockOwnsItAndTheBaseTheRest) {
  // Chain of 4: i3 (newest), i2, i1, full.
  std::vector<std::vector<ChangedBlocksRecord>> lists = {
      // i3
      {{"base/5/a", 6, {1, 5}}, {"base/5/b", 2, {}}, {"base/5/c", 3, {2}}},
      // i2: a's block 1 again (i3 wins), 4 (beyond i3's... no, below 6: i2 owns it); c whole
      {{"base/5/a", 5, {1, 4}}, {"base/5/b", 4, {3}}},
      // i1: a's block 0 and 4 (i2 wins); b not listed: i1 holds b whole
      {{"base/5/a", 5, {0, 4}}},
  };
  const ChainPlan plan(lists, 4);
  ASSERT_EQ(plan.files().size(), 3u);

  const RebuiltFilePlan& a = *plan.find("base/5/a");
  EXPECT_EQ(a.file_blocks, 6u);
  EXPECT_EQ(a.base, 3u) << "listed by every incremental: the full is its base";
  EXPECT_EQ(a.owned, (std::vector<std::vector<std::uint32_t>>{{1, 5}, {4}, {0}}));
  EXPECT_EQ(a.listed, (std::vector<std::vector<std::uint32_t>>{{1, 5}, {1, 4}, {0, 4}}));
  EXPECT_EQ(a.listed_file_blocks, (std::vector<std::uint32_t>{6, 5, 5}));
  EXPECT_EQ(a.from_incrementals, (std::vector<std::uint32_t>{0, 1, 4, 5}));
  EXPECT_EQ(a.base_pages(), 2u) << "blocks 2 and 3 from the full";

  const RebuiltFilePlan& b = *plan.find("base/5/b");
  EXPECT_EQ(b.file_blocks, 2u);
  EXPECT_EQ(b.base, 2u) << "i1 stored it whole";
  EXPECT_EQ(b.owned, (std::vector<std::vector<std::uint32_t>>{{}, {}}))
      << "i2's block 3 is beyond the restored size";
  EXPECT_EQ(b.base_pages(), 2u);

  const RebuiltFilePlan& c = *plan.find("base/5/c");
  EXPECT_EQ(c.base, 1u) << "i2 stored it whole";
  EXPECT_EQ(c.owned, (std::vector<std::vector<std::uint32_t>>{{2}}));
  EXPECT_EQ(c.base_pages(), 2u);

  EXPECT_EQ(plan.find("base/5/d"), nullptr);
  for (std::size_t k = 0; k < 4; ++k) EXPECT_TRUE(plan.needed(k)) << k;
  EXPECT_TRUE(ChainPlan::reads(c, 0));
  EXPECT_TRUE(ChainPlan::reads(c, 1)) << "its base, with pages to give";
  EXPECT_FALSE(ChainPlan::reads(c, 2)) << "older than its base";
}

TEST(ChainPlan, ABackupWithNothingToGiveIsNotNeeded) {
  // i1 holds every block of a: the full's copy is not needed.
  const ChainPlan plan({{{"a", 2, {0}}}, {{"a", 2, {0, 1}}}}, 3);
  const RebuiltFilePlan& a = *plan.find("a");
  EXPECT_EQ(a.base, 2u);
  EXPECT_EQ(a.base_pages(), 0u);
  EXPECT_TRUE(plan.needed(0));
  EXPECT_TRUE(plan.needed(1));
  EXPECT_FALSE(plan.needed(2)) << "the full gives nothing";
  EXPECT_FALSE(ChainPlan::reads(a, 2));
  // An incremental that owns nothing is still read: its entry is checked.
  const ChainPlan same({{{"a", 2, {0, 1}}}, {{"a", 2, {0}}}}, 3);
  EXPECT_TRUE(same.needed(1));
  EXPECT_EQ(same.find("a")->owned[1], std::vector<std::uint32_t>{});
}
