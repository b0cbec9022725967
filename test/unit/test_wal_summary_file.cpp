// Stored WAL summaries: the file format and its names, what an incremental
// backup collects from them (gaps, damaged files, other timelines), and the
// housekeeping.
#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const RelFileNode kRel{1663, 5, 16384};

WalSummary summary_of(std::vector<std::uint32_t> blocks, RelFileNode node = kRel) {
  WalSummary s;
  WalRecord r;
  r.rmid = 10;
  std::uint8_t id = 0;
  for (std::uint32_t b : blocks) r.blocks.push_back({id++, node, 0, b, false, false});
  s.add(r);
  s.finish();
  return s;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string decode_error(const std::string& bytes, const WalSummaryRange& named) {
  try {
    decode_wal_summary(bytes, named);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(WalSummaryFile, NamesCarryTheTimelineAndTheRange) {
  const WalSummaryRange r{2, Lsn{0x1000028}, Lsn{0x1A2B3C4D5E}};
  const std::string name = wal_summary_file_name(r);
  EXPECT_EQ(name,
            "000000020000000001000028000000"
            "1A2B3C4D5E.summary");
  EXPECT_EQ(parse_wal_summary_file_name(name), r);
  EXPECT_FALSE(parse_wal_summary_file_name("00000002000000000100002800000001a2b3c4d5e.summary"));
  EXPECT_FALSE(parse_wal_summary_file_name(name + ".tmp"));
  EXPECT_FALSE(parse_wal_summary_file_name(wal_summary_file_name({2, r.end, r.start})));
  EXPECT_FALSE(parse_wal_summary_file_name("000000020000000001000028.summary"));
}

TEST(WalSummaryFile, RoundTripsEveryKindOfChange) {
  WalSummary s = summary_of({9, 3, 131075});
  WalSummary t;
  WalRecord create;  // XLOG_SMGR_CREATE of the init fork of another relation
  create.rmid = 2;
  create.info = 0x10;
  create.main_data.resize(16);
  for (std::uint32_t i = 0, v[] = {1663, 5, 777, 3}; i < 4; ++i)
    store_le(create.main_data.data() + 4 * i, v[i]);
  t.add(create);
  WalRecord truncate;  // XLOG_SMGR_TRUNCATE of kRel's main fork to 40 blocks, and its VM
  truncate.rmid = 2;
  truncate.info = 0x20;
  truncate.main_data.resize(20);
  for (std::uint32_t i = 0, v[] = {40, 1663, 5, 16384, 0x3}; i < 5; ++i)
    store_le(truncate.main_data.data() + 4 * i, v[i]);
  t.add(truncate);
  WalRecord copy;  // CREATE DATABASE 16500 in 1663 by copying files
  copy.rmid = 4;
  copy.main_data.resize(16);
  for (std::uint32_t i = 0, v[] = {16500, 1663, 1, 1663}; i < 4; ++i)
    store_le(copy.main_data.data() + 4 * i, v[i]);
  t.add(copy);
  t.finish();
  s.merge(t);

  const WalSummaryRange r{1, Lsn{0x3000028}, Lsn{0x5000000}};
  const WalSummary back = decode_wal_summary(encode_wal_summary(r, s), r);
  ASSERT_EQ(back.forks().size(), s.forks().size());
  for (const auto& [fork, changes] : s.forks()) {
    const ForkChanges& b = back.forks().at(fork);
    EXPECT_EQ(b.blocks, changes.blocks);
    EXPECT_EQ(b.truncated_to, changes.truncated_to);
    EXPECT_EQ(b.whole, changes.whole);
  }
  EXPECT_EQ(back.copied_databases(), s.copied_databases());
  EXPECT_EQ(back.forks().at({kRel, 0}).blocks, (std::vector<std::uint32_t>{3, 9, 131075}));
  EXPECT_EQ(back.forks().at({kRel, 0}).truncated_to, 40u);
  EXPECT_TRUE(back.forks().at({kRel, 2}).whole);
  EXPECT_TRUE(back.forks().at({{1663, 5, 777}, 3}).whole);
  EXPECT_TRUE(back.changes_of({{1663, 16500, 1}, 0}, 0).whole);
}

TEST(WalSummaryFile, MergingTakesTheUnionAndTheLowestTruncation) {
  WalSummary a = summary_of({1, 5, 9});
  const WalSummary b = summary_of({2, 5, 200});
  a.merge(b);
  EXPECT_EQ(a.forks().at({kRel, 0}).blocks, (std::vector<std::uint32_t>{1, 2, 5, 9, 200}));
  EXPECT_EQ(a.block_count(), 5u);
  WalSummary unfinished;
  EXPECT_THROW(a.merge(unfinished), Error);
}

TEST(WalSummaryFile, RefusesAnythingButWhatItWrote) {
  const WalSummaryRange r{1, Lsn{0x3000028}, Lsn{0x5000000}};
  const std::string good = encode_wal_summary(r, summary_of({4, 8}));
  std::string flipped = good;
  flipped[40] ^= 0x01;
  EXPECT_NE(decode_error(flipped, r).find("CRC-32C does not match"), std::string::npos);
  EXPECT_NE(decode_error(good.substr(0, good.size() - 9), r).find("CRC"), std::string::npos);
  EXPECT_NE(decode_error("not a summary at all, not at all", r).find("header"), std::string::npos);
  // Another range than the name says.
  EXPECT_NE(decode_error(good, {1, Lsn{0x3000028}, Lsn{0x5000001}}).find("its header says"),
            std::string::npos);
  // A valid CRC over bytes this version does not write.
  auto reseal = [](std::string bytes) {
    bytes.resize(bytes.size() - 4);
    Crc32c crc;
    crc.update(std::string_view(bytes));
    std::string tail(4, '\0');
    store_le(reinterpret_cast<std::byte*>(tail.data()), crc.value());
    return bytes + tail;
  };
  std::string version = good;
  version[8] = 2;
  EXPECT_NE(decode_error(reseal(version), r).find("format version 2"), std::string::npos);
  std::string longer = good;
  longer.insert(longer.size() - 4, "xx");
  EXPECT_NE(decode_error(reseal(longer), r).find("after its end"), std::string::npos);
  std::string unordered = good;
  // The two blocks (4 then 8) swapped: they sit just before the copied count.
  const std::size_t blocks_at = good.size() - 4 - 4 - 8;
  std::swap_ranges(unordered.begin() + static_cast<std::ptrdiff_t>(blocks_at),
                   unordered.begin() + static_cast<std::ptrdiff_t>(blocks_at + 4),
                   unordered.begin() + static_cast<std::ptrdiff_t>(blocks_at + 4));
  EXPECT_NE(decode_error(reseal(unordered), r).find("increasing order"), std::string::npos);
}

TEST(WalSummaryFile, CollectsSummariesThatMeetAndReportsWhatIsMissing) {
  TempDir dir;
  const fs::path d = dir.path() / "summaries";
  write_wal_summary(d, {1, Lsn{0x1000}, Lsn{0x2000}}, summary_of({1}));
  write_wal_summary(d, {1, Lsn{0x2000}, Lsn{0x3000}}, summary_of({2}));
  write_wal_summary(d, {1, Lsn{0x3000}, Lsn{0x4000}}, summary_of({3}));
  write_wal_summary(d, {2, Lsn{0x3000}, Lsn{0x9000}}, summary_of({99}));  // another timeline
  write_wal_summary(d, {1, Lsn{0x5000}, Lsn{0x6000}}, summary_of({5}));   // after a gap
  EXPECT_EQ(list_wal_summaries(d).size(), 5u);

  WalChanges c = collect_wal_changes(d, 1, Lsn{0x1800}, Lsn{0x3800});
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_EQ(c.summary->forks().at({kRel, 0}).blocks, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(c.used.size(), 3u);
  // Up to the end of the last one exactly.
  EXPECT_TRUE(collect_wal_changes(d, 1, Lsn{0x1000}, Lsn{0x4000}).summary);

  c = collect_wal_changes(d, 1, Lsn{0x1800}, Lsn{0x5800});
  EXPECT_FALSE(c.summary);
  EXPECT_NE(c.why_not.find("covers 0/4000..0/5800"), std::string::npos) << c.why_not;
  c = collect_wal_changes(d, 1, Lsn{0x800}, Lsn{0x1800});
  EXPECT_FALSE(c.summary);
  EXPECT_NE(c.why_not.find("covers 0/800..0/1800"), std::string::npos) << c.why_not;
  EXPECT_FALSE(collect_wal_changes(d, 3, Lsn{0x3000}, Lsn{0x4000}).summary);
  EXPECT_TRUE(collect_wal_changes(d, 2, Lsn{0x3000}, Lsn{0x4000}).summary);

  // A damaged file is skipped, named, and counts as missing...
  const fs::path middle = d / wal_summary_file_name({1, Lsn{0x2000}, Lsn{0x3000}});
  std::string bytes = read_text(middle);
  bytes[bytes.size() - 1] ^= 0x40;
  write_text(middle, bytes);
  c = collect_wal_changes(d, 1, Lsn{0x1000}, Lsn{0x4000});
  EXPECT_FALSE(c.summary);
  EXPECT_NE(c.why_not.find(middle.filename().string()), std::string::npos) << c.why_not;
  EXPECT_NE(c.why_not.find("CRC"), std::string::npos) << c.why_not;
  // ... unless another summary covers the same WAL.
  write_wal_summary(d, {1, Lsn{0x1800}, Lsn{0x3400}}, summary_of({7}));
  c = collect_wal_changes(d, 1, Lsn{0x1000}, Lsn{0x4000});
  ASSERT_TRUE(c.summary) << c.why_not;
  EXPECT_EQ(c.summary->forks().at({kRel, 0}).blocks, (std::vector<std::uint32_t>{1, 3, 7}));

  // No WAL to cover: an empty summary; no directory: nothing covers anything.
  EXPECT_TRUE(collect_wal_changes(d, 1, Lsn{0x7000}, Lsn{0x7000}).summary);
  EXPECT_FALSE(collect_wal_changes(dir.path() / "none", 1, Lsn{0x1000}, Lsn{0x2000}).summary);
}

TEST(WalSummaryFile, HousekeepingRemovesReplacedOldAndLeftoverFiles) {
  TempDir dir;
  const fs::path d = dir.path();
  write_wal_summary(d, {1, Lsn{0x1000}, Lsn{0x2000}}, summary_of({1}));
  write_wal_summary(d, {1, Lsn{0x2000}, Lsn{0x2800}}, summary_of({2}));  // replaced by the next
  write_wal_summary(d, {1, Lsn{0x2000}, Lsn{0x3000}}, summary_of({2, 3}));
  write_wal_summary(d, {2, Lsn{0x2000}, Lsn{0x2800}}, summary_of({2}));  // another timeline
  write_text(d / "0000000100000000000030000000000000004000.summary.tmp", "half");
  write_text(d / "notes.txt", "a DBA's file");
  const auto now = fs::file_time_type::clock::now();
  // Nothing is old yet: only the replaced summary goes (the fresh .tmp stays).
  EXPECT_EQ(remove_old_wal_summaries(d, std::chrono::hours(24), now), 1u);
  EXPECT_EQ(list_wal_summaries(d).size(), 3u);
  EXPECT_FALSE(fs::exists(d / wal_summary_file_name({1, Lsn{0x2000}, Lsn{0x2800}})));
  // An hour later, with a keep time of 30 minutes: every summary and the
  // leftover temporary file; never another file.
  EXPECT_EQ(remove_old_wal_summaries(d, std::chrono::minutes(30), now + std::chrono::hours(1)), 4u);
  EXPECT_TRUE(list_wal_summaries(d).empty());
  EXPECT_TRUE(fs::exists(d / "notes.txt"));
  // keep 0: kept for ever.
  write_wal_summary(d, {1, Lsn{0x1000}, Lsn{0x2000}}, summary_of({1}));
  EXPECT_EQ(remove_old_wal_summaries(d, std::chrono::seconds(0), now + std::chrono::hours(99)), 0u);
}

// vault.wal_summarizer's covered range: from the range ending last back
// through every range that meets or overlaps it, stopping at a gap; other
// timelines are not looked at.
TEST(WalSummaryFile, NewestCoveredStretchStopsAtAGap) {
  auto r = [](TimelineId tli, std::uint64_t start, std::uint64_t end) {
    return WalSummaryRange{tli, Lsn{start}, Lsn{end}};
  };
  EXPECT_FALSE(newest_covered_stretch({}, 1));
  EXPECT_FALSE(newest_covered_stretch({r(2, 10, 20)}, 1));
  // Meeting ranges, a gap before them, another timeline after.
  const std::vector<WalSummaryRange> ranges{r(1, 0, 5), r(1, 10, 20), r(1, 20, 30), r(1, 30, 31),
                                            r(2, 31, 90)};
  EXPECT_EQ(newest_covered_stretch(ranges, 1), r(1, 10, 31));
  EXPECT_EQ(newest_covered_stretch(ranges, 2), r(2, 31, 90));
  // Overlaps: a long range bridges a gap between shorter ones, and one inside
  // another changes nothing.
  EXPECT_EQ(newest_covered_stretch({r(1, 0, 7), r(1, 5, 21), r(1, 6, 8), r(1, 20, 30)}, 1),
            r(1, 0, 30));
  EXPECT_EQ(newest_covered_stretch({r(1, 0, 25), r(1, 5, 6), r(1, 20, 30)}, 1), r(1, 0, 30));
  EXPECT_EQ(newest_covered_stretch({r(1, 0, 10), r(1, 5, 6), r(1, 20, 30)}, 1), r(1, 20, 30));
}
