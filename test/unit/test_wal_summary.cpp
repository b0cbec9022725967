// WalSummary from records built here, and, when the environment names them,
// from WAL a real PostgreSQL 15 wrote against the pages it left on disk
// (TAP 066): every page whose LSN is newer than the summary's start must be
// among the blocks the summary says changed.
#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/wal/wal_summary.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;

namespace {

const RelFileNode kRel{1663, 5, 16384};

WalRecord with_blocks(std::uint8_t fork, std::vector<std::uint32_t> blocks,
                      RelFileNode node = kRel) {
  WalRecord r;
  r.rmid = 10;
  std::uint8_t id = 0;
  for (std::uint32_t b : blocks) r.blocks.push_back({id++, node, fork, b, false, false});
  return r;
}

WalRecord with_data(std::uint8_t rmid, std::uint8_t info, std::vector<std::uint32_t> words) {
  WalRecord r;
  r.rmid = rmid;
  r.info = info;
  r.lsn = Lsn{0x5000028};
  r.main_data.resize(words.size() * 4);
  for (std::size_t i = 0; i < words.size(); ++i) store_le(r.main_data.data() + 4 * i, words[i]);
  return r;
}

}  // namespace

TEST(WalSummary, ReferencedBlocksPerSegmentFile) {
  WalSummary s;
  s.add(with_blocks(0, {7, 7, 3}));
  s.add(with_blocks(0, {kRelationSegmentBlocks + 5, 3, 9}));
  s.add(with_blocks(2, {0}));                            // the visibility map
  s.add(with_blocks(0, {1}, RelFileNode{1663, 5, 99}));  // another relation
  s.finish();
  const RelationForkId main{kRel, 0};
  EXPECT_EQ(s.forks().at(main).blocks,
            (std::vector<std::uint32_t>{3, 7, 9, kRelationSegmentBlocks + 5}));
  SegmentChanges first = s.changes_of(main, 0);
  EXPECT_FALSE(first.whole);
  EXPECT_EQ(first.blocks, (std::vector<std::uint32_t>{3, 7, 9}));
  EXPECT_FALSE(first.from);
  EXPECT_EQ(s.changes_of(main, 1).blocks, (std::vector<std::uint32_t>{5}));
  EXPECT_TRUE(s.changes_of(main, 2).blocks.empty());
  EXPECT_EQ(s.changes_of({kRel, 2}, 0).blocks, (std::vector<std::uint32_t>{0}));
  // A fork nothing referenced: nothing to read.
  const SegmentChanges none = s.changes_of({kRel, 1}, 0);
  EXPECT_FALSE(none.whole);
  EXPECT_TRUE(none.blocks.empty());
  EXPECT_FALSE(none.from);
}

TEST(WalSummary, CreatedForksAndTruncations) {
  WalSummary s;
  // XLOG_SMGR_CREATE {rnode, fork}: the init fork of 1663/5/16384.
  s.add(with_data(2, 0x10, {1663, 5, 16384, 3}));
  // XLOG_SMGR_TRUNCATE {blkno, rnode, flags}: the main fork to 200000 blocks,
  // later to 140000, and the visibility map and free space map of another.
  s.add(with_data(2, 0x20, {200000, 1663, 5, 16384, 0x1}));
  s.add(with_blocks(0, {150000, 10}));
  s.add(with_data(2, 0x20, {140000, 1663, 5, 16384, 0x1}));
  s.add(with_data(2, 0x20, {0, 1663, 5, 777, 0x6}));
  s.finish();
  EXPECT_TRUE(s.changes_of({kRel, 3}, 0).whole);
  const SegmentChanges seg0 = s.changes_of({kRel, 0}, 0);
  EXPECT_EQ(seg0.blocks, (std::vector<std::uint32_t>{10}));
  EXPECT_FALSE(seg0.from) << "the lowest cut (140000) is past the first segment";
  const SegmentChanges seg1 = s.changes_of({kRel, 0}, 1);
  EXPECT_EQ(seg1.blocks, (std::vector<std::uint32_t>{150000 - kRelationSegmentBlocks}));
  ASSERT_TRUE(seg1.from);
  EXPECT_EQ(*seg1.from, 140000 - kRelationSegmentBlocks);
  ASSERT_TRUE(s.changes_of({kRel, 0}, 2).from);
  EXPECT_EQ(*s.changes_of({kRel, 0}, 2).from, 0u);
  const RelFileNode other{1663, 5, 777};
  EXPECT_TRUE(s.changes_of({other, 1}, 0).whole);
  EXPECT_TRUE(s.changes_of({other, 2}, 0).whole);
  EXPECT_FALSE(s.changes_of({other, 0}, 0).whole) << "the main fork was not cut";
}

TEST(WalSummary, ADatabaseCreatedByCopyingFilesChangedWhole) {
  WalSummary s;
  // XLOG_DBASE_CREATE_FILE_COPY {db, tablespace, source db, source tablespace}.
  s.add(with_data(4, 0x00, {16500, 1663, 1, 1663}));
  // CREATE_WAL_LOG and DROP reference their pages or remove files.
  s.add(with_data(4, 0x10, {16501, 1663}));
  s.add(with_data(4, 0x20, {16502, 1, 1663}));
  s.finish();
  EXPECT_TRUE(s.changes_of({{1663, 16500, 1259}, 0}, 0).whole);
  EXPECT_TRUE(s.changes_of({{1663, 16500, 2619}, 2}, 3).whole);
  EXPECT_FALSE(s.changes_of({{1663, 16501, 1259}, 0}, 0).whole);
  EXPECT_FALSE(s.changes_of({{1663, 1, 1259}, 0}, 0).whole) << "the source is unchanged";
  EXPECT_EQ(s.copied_databases().size(), 1u);
}

TEST(WalSummary, StorageRecordsTooShortAreCorruption) {
  WalSummary s;
  expect_error(
      [&] {
        s.add(with_data(2, 0x20, {5, 1663, 5}));
      },
      ErrorKind::corrupt,
      "WAL record at 0/5000028 (smgr truncate) has 12 bytes of data, expected at least 20");
  expect_error(
      [&] {
        s.add(with_data(2, 0x10, {1663, 5, 1, 9}));
      },
      ErrorKind::corrupt, "WAL record at 0/5000028 creates fork 9");
  expect_error([&] { s.add(with_data(4, 0x00, {1})); }, ErrorKind::corrupt,
               "(create database by copying files) has 4 bytes");
}

// PGVAULT_TEST_WAL_DIR holds 16 MB segments of timeline 1 from
// PGVAULT_TEST_WAL_FIRST to _LAST; PGVAULT_TEST_DATA_DIRECTORY is the stopped
// cluster that wrote them; PGVAULT_TEST_SUMMARY_START is an LSN in the first
// segment. Every page of that cluster (all forks but the free space map, which
// is not WAL-logged) whose LSN is at or after the start must be a block the
// summary of the WAL from there says changed.
TEST(WalSummary, CoversEveryNewerPageOfARealClusterFromTheEnvironment) {
  const char* wal_dir = std::getenv("PGVAULT_TEST_WAL_DIR");
  const char* first = std::getenv("PGVAULT_TEST_WAL_FIRST");
  const char* last = std::getenv("PGVAULT_TEST_WAL_LAST");
  const char* data = std::getenv("PGVAULT_TEST_DATA_DIRECTORY");
  const char* start_text = std::getenv("PGVAULT_TEST_SUMMARY_START");
  if (!wal_dir || !first || !last || !data || !start_text)
    GTEST_SKIP() << "PGVAULT_TEST_WAL_* / _DATA_DIRECTORY / _SUMMARY_START not set";
  constexpr std::uint64_t k16MB = 16 * 1024 * 1024;
  const Lsn start = parse_lsn(start_text);
  WalSummary summary;
  WalRecordReader reader(k16MB);
  std::size_t records = 0;
  for (WalSegmentNo seg = parse_wal_file_name(first).segment_no(k16MB);
       seg <= parse_wal_file_name(last).segment_no(k16MB); ++seg) {
    const std::string bytes =
        slurp(std::string(wal_dir) + "/" + WalFileName::segment(1, seg, k16MB).name());
    const auto end = reader.read_segment(seg, as_bytes(bytes), [&](const WalRecord& r) {
      // A page's LSN is the end of the record that last changed it.
      if (r.end > start) {
        summary.add(r);
        ++records;
      }
    });
    if (end) break;
  }
  summary.finish();
  ASSERT_GT(records, 1000u);

  std::size_t newer = 0, files = 0;
  std::vector<std::string> missed;
  const DataDirectoryListing listing = list_data_directory(data);
  for (const BackupEntry& e : listing.entries) {
    if (e.kind != BackupPathKind::relation_file || !e.relation) continue;
    const RelationFileName& n = *e.relation;
    if (n.fork == RelationFork::fsm) continue;
    const std::uint32_t tablespace = n.tablespace_oid != 0 ? n.tablespace_oid
                                     : n.database_oid == 0 ? kGlobalTablespaceOid
                                                           : kDefaultTablespaceOid;
    const RelationForkId fork{{tablespace, n.database_oid, n.relfilenode},
                              static_cast<std::uint8_t>(n.fork)};
    const SegmentChanges changes = summary.changes_of(fork, n.segment);
    const std::string bytes = slurp(e.source.string());
    ++files;
    for (std::size_t off = 0; off + 8192 <= bytes.size(); off += 8192) {
      const auto page = as_bytes(std::string_view(bytes).substr(off, 8192));
      const PageHeader h = read_page_header(page);
      if (page_is_new(h) || h.lsn() < start) continue;
      ++newer;
      const auto block = static_cast<std::uint32_t>(off / 8192);
      const bool covered = changes.whole || (changes.from && block >= *changes.from) ||
                           std::binary_search(changes.blocks.begin(), changes.blocks.end(), block);
      if (!covered && missed.size() < 20)
        missed.push_back(e.path + " block " + std::to_string(block) + " (LSN " +
                         format_lsn(h.lsn()) + ")");
    }
  }
  EXPECT_GT(files, 100u);
  EXPECT_GT(newer, 500u) << "too few pages changed after the start to tell anything";
  EXPECT_TRUE(missed.empty()) << "pages newer than the start that the summary misses: "
                              << ::testing::PrintToString(missed);
  std::cout << "checked " << newer << " pages newer than " << format_lsn(start) << " in " << files
            << " files against a summary of " << records << " records\n";
}
