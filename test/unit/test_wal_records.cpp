// WalRecordReader against WAL built here byte by byte (pages, headers,
// records crossing pages and segments, CRCs), and, when the environment names
// them, against segments a real PostgreSQL 15 wrote and pg_waldump's reading
// of them (TAP 066 runs that).
#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/wal/wal_records.hpp"

#include "test_support.hpp"
#include "wal_test_records.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::wal_records_test;
using namespace pgvault::test;

namespace {

struct ReadResult {
  std::vector<WalRecord> records;
  std::vector<std::optional<WalEnd>> ends;  // per segment read
};

ReadResult read_all(const WalBuilder& wal, WalSegmentNo first, std::size_t from,
                    std::size_t count) {
  ReadResult out;
  WalRecordReader reader(kSegment);
  for (std::size_t i = from; i < from + count; ++i) {
    out.ends.push_back(reader.read_segment(first + i, wal.segment(i),
                                           [&](const WalRecord& r) { out.records.push_back(r); }));
    if (out.ends.back()) break;
  }
  return out;
}

// Adds a record that runs into the next page; returns its start and that page.
std::pair<Lsn, Lsn> add_page_crossing_record(WalBuilder& wal) {
  RecordSpec big;
  big.main_length = 9000;
  const Lsn start = wal.add(big);
  return {start, Lsn{(start.value / kWalBlockSize + 1) * kWalBlockSize}};
}

// The reading of one segment reported `records` records, then the valid WAL
// ended at `at` for a reason that says `why`.
void expect_end(const ReadResult& got, std::size_t records, Lsn at, const std::string& why) {
  EXPECT_EQ(got.records.size(), records);
  ASSERT_EQ(got.ends.size(), 1u);
  ASSERT_TRUE(got.ends[0]);
  EXPECT_EQ(got.ends[0]->lsn, at);
  EXPECT_NE(got.ends[0]->reason.find(why), std::string::npos) << got.ends[0]->reason;
}

}  // namespace

TEST(WalRecords, BlockReferencesOfEveryShape) {
  WalBuilder wal;
  RecordSpec heap;
  heap.info = 0x10;
  heap.blocks = {{0, {1663, 5, 16384}, 0, 7, false, 40, false, false},
                 {1, {}, 2, 0, true, 0, false, false}};  // same relation, its visibility map
  RecordSpec fpi;
  fpi.rmid = 0;
  fpi.info = 0xB0;  // XLOG_FPI
  fpi.main_length = 0;
  fpi.blocks = {{0, {1700, 16400, 24576}, 0, 123456, false, 0, true, false}};
  RecordSpec big_main;
  big_main.main_length = 300;  // XLR_BLOCK_ID_DATA_LONG
  big_main.origin = true;
  big_main.toplevel_xid = true;
  big_main.blocks = {{3, {1663, 1, 1259}, 1, 2, false, 0, false, true},
                     {32, {1663, 1, 1249}, 3, 0, false, 5, false, false}};
  const Lsn a = wal.add(heap), b = wal.add(fpi), c = wal.add(big_main);

  const ReadResult got = read_all(wal, 3, 0, 1);
  ASSERT_EQ(got.ends.size(), 1u);
  ASSERT_TRUE(got.ends[0].has_value());
  EXPECT_EQ(got.ends[0]->reason, "zeroes where a record should start");
  ASSERT_EQ(got.records.size(), 3u);

  const WalRecord& r0 = got.records[0];
  EXPECT_EQ(r0.lsn, a);
  EXPECT_EQ(r0.lsn.value, 3 * kSegment + 40);  // after the long page header
  EXPECT_EQ(r0.rmid, 10);
  EXPECT_EQ(r0.info, 0x10);
  EXPECT_EQ(r0.xid, 700u);
  EXPECT_EQ(r0.end.value, r0.lsn.value + r0.total_length);
  ASSERT_EQ(r0.blocks.size(), 2u);
  EXPECT_EQ(r0.blocks[0].node, (RelFileNode{1663, 5, 16384}));
  EXPECT_EQ(r0.blocks[0].block, 7u);
  EXPECT_EQ(r0.blocks[0].fork, 0);
  EXPECT_EQ(r0.blocks[1].node, (RelFileNode{1663, 5, 16384}));  // BKPBLOCK_SAME_REL
  EXPECT_EQ(r0.blocks[1].fork, 2);
  EXPECT_EQ(r0.main_data.size(), 16u);
  EXPECT_EQ(r0.main_data[3], std::byte{21});

  const WalRecord& r1 = got.records[1];
  EXPECT_EQ(r1.lsn, b);
  EXPECT_EQ(r1.lsn.value, (r0.end.value + 7) / 8 * 8);
  ASSERT_EQ(r1.blocks.size(), 1u);
  EXPECT_TRUE(r1.blocks[0].has_image);
  EXPECT_EQ(r1.blocks[0].node, (RelFileNode{1700, 16400, 24576}));
  EXPECT_EQ(r1.blocks[0].block, 123456u);
  EXPECT_TRUE(r1.main_data.empty());

  const WalRecord& r2 = got.records[2];
  EXPECT_EQ(r2.lsn, c);
  ASSERT_EQ(r2.blocks.size(), 2u);
  EXPECT_EQ(r2.blocks[0].block_id, 3);
  EXPECT_TRUE(r2.blocks[0].will_init);
  EXPECT_EQ(r2.blocks[0].fork, 1);
  EXPECT_EQ(r2.blocks[1].block_id, 32);
  EXPECT_EQ(r2.blocks[1].fork, 3);
  EXPECT_EQ(r2.main_data.size(), 300u);
  EXPECT_EQ(got.ends[0]->lsn.value, (r2.end.value + 7) / 8 * 8);
}

TEST(WalRecords, RecordsCrossPagesAndSegmentsAndHeadersSplit) {
  WalBuilder wal(3, 3);
  RecordSpec small;
  RecordSpec image;  // ~7.2 kB: crosses pages
  image.blocks = {{0, {1663, 5, 16384}, 0, 1, false, 0, true, false}};
  std::vector<Lsn> starts;
  // Fill the first segment, then one record across the segment boundary.
  while (wal.insert_position().value + 7000 < 4 * kSegment) starts.push_back(wal.add(image));
  starts.push_back(wal.add(image));
  ASSERT_GT(wal.insert_position().value, 4 * kSegment) << "no record crosses the boundary";
  // A record that starts 8 bytes before a page end: its header is split.
  auto room = [&] {  // bytes left on the page where the next record starts
    const std::uint64_t next = (wal.insert_position().value + 7) & ~7ull;
    return kWalBlockSize - next % kWalBlockSize;
  };
  RecordSpec pad;  // a bare 24-byte header
  pad.main_length = 0;
  while (room() > 200 || room() < 60) starts.push_back(wal.add(pad));
  RecordSpec filler;  // leaves 8 bytes on the page
  filler.main_length = room() - 8 - 24 - 2;
  starts.push_back(wal.add(filler));
  ASSERT_EQ(kWalBlockSize - wal.insert_position().value % kWalBlockSize, 8u);
  starts.push_back(wal.add(small));  // header split 8 + 16 bytes
  starts.push_back(wal.add(small));

  const ReadResult got = read_all(wal, 3, 0, 3);
  ASSERT_EQ(got.records.size(), starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) EXPECT_EQ(got.records[i].lsn, starts[i]) << i;
  // The first segment reports every record that ends in it; the crossing one
  // comes with the second.
  ASSERT_EQ(got.ends.size(), 2u);
  EXPECT_FALSE(got.ends[0].has_value());
  ASSERT_TRUE(got.ends[1].has_value());
  // A record's end counts the page headers it crossed.
  const WalRecord& crossing = got.records[got.records.size() - 2];
  EXPECT_EQ(crossing.end.value, crossing.lsn.value + crossing.total_length + 24);
  for (std::size_t i = 0; i + 1 < got.records.size(); ++i) {
    const std::uint64_t next = (got.records[i].end.value + 7) & ~7ull;
    if (next % kWalBlockSize != 0) {
      EXPECT_EQ(got.records[i + 1].lsn.value, next) << i;
    }
  }
}

TEST(WalRecords, TheFirstSegmentSkipsTheTailOfARecordFromBefore) {
  WalBuilder wal(3, 2);
  RecordSpec image;
  image.blocks = {{0, {1663, 5, 16384}, 0, 1, false, 0, true, false}};
  RecordSpec huge;  // spans more than a page: the tail covers a whole page of segment 4
  huge.main_length = 20000;
  while (wal.insert_position().value + 9000 < 4 * kSegment) wal.add(image);
  wal.add(huge);
  ASSERT_GT(wal.insert_position().value, 4 * kSegment + kWalBlockSize);
  const Lsn after = wal.add(image);
  const ReadResult got = read_all(wal, 3, 1, 1);  // segment 4 alone
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.records[0].lsn, after);
}

TEST(WalRecords, TheValidWalEndsWhereRecoveryWouldStop) {
  RecordSpec r;
  auto build = [&](WalBuilder& wal) {
    std::vector<Lsn> s;
    for (int i = 0; i < 3; ++i) s.push_back(wal.add(r));
    return s;
  };
  {  // a record whose CRC does not match
    WalBuilder wal;
    const auto s = build(wal);
    *wal.at_lsn(s[2].value + 30) ^= std::byte{1};
    expect_end(read_all(wal, 3, 0, 1), 2, s[2],
               "the record at " + format_lsn(s[2]) + " fails its CRC");
  }
  {  // a record that does not link back to the one before
    WalBuilder wal;
    auto s = build(wal);
    std::vector<std::byte> rec = encode(r);
    seal(rec, Lsn{12345});
    const Lsn bad = wal.add_raw(rec, true);
    expect_end(read_all(wal, 3, 0, 1), 3, bad, "links back to 0/3039, not to " + format_lsn(s[2]));
  }
  {  // a record runs into a page left from an older segment (a recycled file)
    WalBuilder wal;
    build(wal);
    const auto [cut, page] = add_page_crossing_record(wal);
    wal.set_page_header(page, 0x0001, Lsn{page.value - 64 * kSegment}, 100);
    expect_end(read_all(wal, 3, 0, 1), 3, cut, "is left from an older segment (it says");
  }
  {  // a record left incomplete: the next page does not continue it
    WalBuilder wal;
    build(wal);
    const auto [cut, next_page] = add_page_crossing_record(wal);
    wal.set_page_header(next_page, 0, next_page, 0);
    expect_end(read_all(wal, 3, 0, 1), 3, cut, "is not continued on the next page");
    // ... unless crash recovery overwrote it: what follows is read.
    wal.set_page_header(next_page, 0x0008, next_page, 0);
    wal.set_insert(Lsn{next_page.value + 24});
    std::vector<std::byte> after = encode(r);
    seal(after, Lsn{});  // no link back to the abandoned record
    const Lsn resumed = wal.add_raw(after, true);
    const ReadResult got = read_all(wal, 3, 0, 1);
    ASSERT_EQ(got.records.size(), 4u);
    EXPECT_EQ(got.records[3].lsn, resumed);
  }
  {  // reading is over once the WAL ended
    WalBuilder wal;
    build(wal);
    WalRecordReader reader(kSegment);
    ASSERT_TRUE(reader.read_segment(3, wal.segment(0), [](const WalRecord&) {}));
    expect_error([&] { reader.read_segment(4, wal.segment(1), [](const WalRecord&) {}); },
                 ErrorKind::invalid_argument, "the WAL ended in an earlier segment");
  }
}

TEST(WalRecords, ASwitchEndsItsSegment) {
  WalBuilder wal(3, 2);
  RecordSpec r;
  RecordSpec sw;
  sw.rmid = 0;
  sw.info = 0x40;
  sw.main_length = 0;
  wal.add(r);
  const Lsn switch_at = wal.add(sw);
  // The rest of the segment holds junk; the next segment goes on.
  for (std::uint64_t at = wal.insert_position().value + 8; at < 4 * kSegment; ++at)
    *wal.at_lsn(at) = std::byte{0xEE};
  wal.set_insert(Lsn{4 * kSegment});
  const Lsn after = wal.add(r);
  const ReadResult got = read_all(wal, 3, 0, 2);
  ASSERT_EQ(got.records.size(), 3u);
  EXPECT_EQ(got.records[1].lsn, switch_at);
  EXPECT_EQ(got.records[2].lsn, after);
  EXPECT_FALSE(got.ends[0]);
}

TEST(WalRecords, BlockHeadersThatDoNotParseAreCorruption) {
  auto expect_corrupt = [](std::vector<std::byte> rec, const std::string& what) {
    WalBuilder wal;
    const Lsn at = wal.add_raw(std::move(rec));
    WalRecordReader reader(kSegment);
    expect_error([&] { reader.read_segment(3, wal.segment(0), [](const WalRecord&) {}); },
                 ErrorKind::corrupt,
                 "WAL record at " + format_lsn(at) + " cannot be decoded: " + what);
  };
  RecordSpec r;
  r.main_length = 0;
  r.blocks = {{0, {1663, 5, 16384}, 0, 7, false, 0, false, false}};
  auto rec = encode(r);
  rec[24] = std::byte{40};  // block id
  expect_corrupt(rec, "invalid block id 40");
  r.blocks = {{2, {1663, 5, 1}, 0, 1, false, 0, false, false},
              {1, {1663, 5, 2}, 0, 1, false, 0, false, false}};
  expect_corrupt(encode(r), "block id 1 out of order");
  r.blocks = {{0, {}, 0, 1, true, 0, false, false}};
  expect_corrupt(encode(r), "block 0 says BKPBLOCK_SAME_REL with no relation before it");
  r.blocks = {{0, {1663, 5, 16384}, 0, 7, false, 0, false, false}};
  rec = encode(r);
  rec[25] = std::byte{0x20};  // BKPBLOCK_HAS_DATA with no data
  expect_corrupt(rec, "block 0 has data length 0 with BKPBLOCK_HAS_DATA set");
  r.blocks.clear();
  r.main_length = 10;
  rec = encode(r);
  rec.resize(rec.size() - 5);  // main data said to be 10 bytes, 5 there
  store_le(rec.data(), static_cast<std::uint32_t>(rec.size()));
  expect_corrupt(rec, "its headers leave 5 bytes for 10 bytes of data");
}

TEST(WalRecords, DamagedBytesEndTheWalOrAreReportedNeverMore) {
  // WAL read back from a repository or a disk is not trusted: any damage
  // either ends the valid WAL or is Error(corrupt) / Error(unsupported).
  WalBuilder pristine(3, 2);
  RecordSpec image;
  image.blocks = {{0, {1663, 5, 16384}, 0, 1, false, 0, true, false},
                  {1, {}, 2, 0, true, 0, false, false}};
  RecordSpec small;
  small.blocks = {{0, {1663, 5, 16385}, 0, 9, false, 12, false, false}};
  while (pristine.insert_position().value < 3 * kSegment + 60000) {
    pristine.add(image);
    pristine.add(small);
  }
  std::mt19937 rng(20261206);
  for (int round = 0; round < 3000; ++round) {
    WalBuilder wal = pristine;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i)
      *wal.at_lsn(3 * kSegment + rng() % 65536) ^= static_cast<std::byte>(1 + rng() % 255);
    WalRecordReader reader(kSegment);
    try {
      reader.read_segment(3, wal.segment(0), [](const WalRecord&) {});
    } catch (const Error& e) {
      ASSERT_TRUE(e.kind() == ErrorKind::corrupt || e.kind() == ErrorKind::unsupported)
          << "round " << round << ": " << e.what();
    }
  }
}

TEST(WalRecords, DamagedHeadersWithAValidCrcAreCorruptionNeverMore) {
  // Damage the CRC cannot see (a record sealed after it): the block headers
  // are parsed within the record's bounds, whatever they say.
  RecordSpec spec;
  spec.blocks = {{0, {1663, 5, 16384}, 0, 1, false, 0, true, false},
                 {1, {}, 2, 0, true, 3, false, false},
                 {4, {1700, 5, 16390}, 1, 77, false, 0, false, true}};
  spec.origin = true;
  spec.toplevel_xid = true;
  const std::vector<std::byte> pristine = encode(spec);
  std::mt19937 rng(61220);
  int corrupt = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::byte> rec = pristine;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < flips; ++i)
      rec[24 + rng() % 60] ^= static_cast<std::byte>(1 + rng() % 255);  // the block headers
    WalBuilder wal;
    wal.add_raw(rec);
    WalRecordReader reader(kSegment);
    try {
      reader.read_segment(3, wal.segment(0), [](const WalRecord&) {});
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::corrupt) << "round " << round << ": " << e.what();
      ++corrupt;
    }
  }
  EXPECT_GT(corrupt, 1000) << "the damage was mostly harmless: the test tests little";
}

TEST(WalRecords, RefusesSegmentsOutOfOrderOrOfAnotherSize) {
  WalBuilder wal(3, 2);
  wal.add(RecordSpec{});
  RecordSpec sw;  // the segment ends with a switch: the WAL goes on after it
  sw.rmid = 0;
  sw.info = 0x40;
  sw.main_length = 0;
  wal.add(sw);
  WalRecordReader reader(kSegment);
  ASSERT_FALSE(reader.read_segment(3, wal.segment(0), [](const WalRecord&) {}));
  expect_error([&] { reader.read_segment(5, wal.segment(1), [](const WalRecord&) {}); },
               ErrorKind::invalid_argument, "WAL segment 5 was given after segment 3");
  WalRecordReader other(kSegment);
  expect_error(
      [&] { other.read_segment(3, wal.segment(0).subspan(0, 8192), [](const WalRecord&) {}); },
      ErrorKind::invalid_argument, "a WAL segment of 8192 bytes was given, expected 1048576");
}

// Segments PostgreSQL 15 wrote and pg_waldump's text for them:
// PGVAULT_TEST_WAL_DIR holds the segments (16 MB, timeline 1) from
// PGVAULT_TEST_WAL_FIRST to _LAST; PGVAULT_TEST_WALDUMP is `pg_waldump
// FIRST LAST` of that directory. Every record pg_waldump shows must be read
// at the same LSN with the same length, previous record and block
// references, and nothing else.
TEST(WalRecords, MatchesPgWaldumpOnRealWalFromTheEnvironment) {
  const char* dir = std::getenv("PGVAULT_TEST_WAL_DIR");
  const char* dump = std::getenv("PGVAULT_TEST_WALDUMP");
  const char* first = std::getenv("PGVAULT_TEST_WAL_FIRST");
  const char* last = std::getenv("PGVAULT_TEST_WAL_LAST");
  if (!dir || !dump || !first || !last) GTEST_SKIP() << "PGVAULT_TEST_WAL_* not set";
  constexpr std::uint64_t k16MB = 16 * 1024 * 1024;
  const WalSegmentNo from = parse_wal_file_name(first).segment_no(k16MB);
  const WalSegmentNo to = parse_wal_file_name(last).segment_no(k16MB);

  // pg_waldump: "rmgr: Heap len (rec/tot): 54/ 54, tx: 735, lsn: 0/01A3B5C0,
  // prev 0/01A3B588, desc: ..., blkref #0: rel 1663/5/16384 fork vm blk 0 FPW"
  struct Expected {
    std::uint32_t total;
    Lsn prev;
    std::vector<std::string> blocks;  // "1663/5/16384 main 0"
  };
  std::map<std::uint64_t, Expected> expected;
  const std::regex line_re(
      R"(len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*\d+, lsn: ([0-9A-F]+/[0-9A-F]+), prev ([0-9A-F]+/[0-9A-F]+))");
  const std::regex block_re(R"(blkref #\d+: rel (\d+/\d+/\d+)(?: fork (\w+))? blk (\d+))");
  std::istringstream text(slurp(dump));
  for (std::string line; std::getline(text, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    Expected e{static_cast<std::uint32_t>(std::stoul(m[1])), parse_lsn(m[3].str()), {}};
    for (auto it = std::sregex_iterator(line.begin(), line.end(), block_re);
         it != std::sregex_iterator(); ++it) {
      const std::string fork = (*it)[2].matched ? (*it)[2].str() : "main";
      e.blocks.push_back((*it)[1].str() + " " + fork + " " + (*it)[3].str());
    }
    expected.emplace(parse_lsn(m[2].str()).value, e);
  }
  ASSERT_GT(expected.size(), 1000u) << "pg_waldump's output has too few records: " << dump;

  static const char* const kForks[] = {"main", "fsm", "vm", "init"};
  WalRecordReader reader(k16MB);
  std::size_t matched = 0;
  Lsn previous;
  for (WalSegmentNo seg = from; seg <= to; ++seg) {
    const std::string name = WalFileName::segment(1, seg, k16MB).name();
    const std::string bytes = slurp(std::string(dir) + "/" + name);
    const auto end = reader.read_segment(seg, as_bytes(bytes), [&](const WalRecord& r) {
      const auto it = expected.find(r.lsn.value);
      ASSERT_NE(it, expected.end()) << "pg_waldump shows no record at " << format_lsn(r.lsn);
      EXPECT_EQ(r.total_length, it->second.total) << format_lsn(r.lsn);
      if (previous.value != 0) {
        EXPECT_EQ(previous, it->second.prev) << format_lsn(r.lsn);
      }
      std::vector<std::string> blocks;
      for (const auto& b : r.blocks)
        blocks.push_back(std::to_string(b.node.tablespace) + "/" + std::to_string(b.node.database) +
                         "/" + std::to_string(b.node.relation) + " " + kForks[b.fork] + " " +
                         std::to_string(b.block));
      EXPECT_EQ(blocks, it->second.blocks) << format_lsn(r.lsn);
      previous = r.lsn;
      ++matched;
    });
    if (end) break;
  }
  EXPECT_EQ(matched, expected.size()) << "records pg_waldump shows that were not read";
}
