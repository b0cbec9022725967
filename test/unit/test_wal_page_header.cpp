// WAL long page headers and the checks before archiving
// (include/pgvault/wal/wal_page_header.hpp).
#include "pgvault/error.hpp"
#include "pgvault/wal/wal_page_header.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace pgvault;

namespace {

constexpr std::uint64_t k16MB = std::uint64_t{16} << 20;
constexpr std::uint64_t kSysid = 7315123456789012345ULL;

// A long page header written byte by byte, little-endian, at the PostgreSQL 15 offsets.
struct HeaderBytes {
  std::uint16_t magic = 0xD110;
  std::uint16_t info = 0x0002;
  std::uint32_t tli = 1;
  std::uint64_t pageaddr = 0x3000000;
  std::uint32_t rem_len = 0;
  std::uint64_t sysid = kSysid;
  std::uint32_t seg_size = 16u << 20;
  std::uint32_t blcksz = 8192;

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> b(8192, std::byte{0});
    auto put = [&](std::size_t off, std::uint64_t v, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i)
        b[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
    };
    put(0, magic, 2);
    put(2, info, 2);
    put(4, tli, 4);
    put(8, pageaddr, 8);
    put(16, rem_len, 4);
    put(20, 0xDEADBEEF, 4);  // padding: must be ignored
    put(24, sysid, 8);
    put(32, seg_size, 4);
    put(36, blcksz, 4);
    return b;
  }
};

const WalSegmentExpectation kCluster{kSysid, k16MB, 0xD110};

// The Error that validation throws, or a test failure when it passes.
Error validation_error(const std::string& name, const HeaderBytes& h,
                       std::optional<std::uint64_t> size = std::nullopt,
                       WalSegmentExpectation expected = kCluster) {
  auto bytes = h.bytes();
  try {
    validate_wal_segment_header(parse_wal_file_name(name), bytes, expected, size);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << name << " was accepted";
  return Error(ErrorKind::internal, "accepted");
}

void expect_message(const Error& e, ErrorKind kind, const std::vector<std::string>& parts) {
  EXPECT_EQ(e.kind(), kind) << e.what();
  for (const auto& p : parts)
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
}

}  // namespace

TEST(WalPageHeader, ReadsEveryFieldAtItsOffset) {
  HeaderBytes h{
      0xD110,     0x0007, 0xA1B2C3D4, 0x1122334455667788ULL, 0x99AABBCC, 0x0123456789ABCDEFULL,
      0x40000000, 0x10000};
  auto bytes = h.bytes();
  WalLongPageHeader r = read_wal_long_page_header(bytes);
  EXPECT_EQ(r.magic, 0xD110);
  EXPECT_EQ(r.info, 0x0007);
  EXPECT_EQ(r.timeline, 0xA1B2C3D4u);
  EXPECT_EQ(r.page_address.value, 0x1122334455667788ULL);
  EXPECT_EQ(r.remaining_length, 0x99AABBCCu);
  EXPECT_EQ(r.system_identifier, 0x0123456789ABCDEFULL);
  EXPECT_EQ(r.segment_size, 0x40000000u);
  EXPECT_EQ(r.block_size, 0x10000u);
  std::span<const std::byte> short_head(bytes.data(), kWalLongPageHeaderSize - 1);
  try {
    read_wal_long_page_header(short_head);
    ADD_FAILURE() << "39 bytes accepted";
  } catch (const Error& e) {
    expect_message(e, ErrorKind::corrupt, {"needs 40 bytes, got 39"});
  }
}

TEST(WalPageHeader, MagicNumbersOfKnownVersions) {
  EXPECT_EQ(postgres_major_for_wal_magic(0xD101), 12);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD106), 13);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD10D), 14);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD110), 15);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD113), 16);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD116), 17);
  EXPECT_EQ(postgres_major_for_wal_magic(0xD111), std::nullopt);
  EXPECT_EQ(postgres_major_for_wal_magic(0), std::nullopt);
}

TEST(WalPageHeader, AcceptsAValidSegmentAndPartial) {
  auto bytes = HeaderBytes{}.bytes();
  EXPECT_NO_THROW(validate_wal_segment_header(parse_wal_file_name("000000010000000000000003"),
                                              bytes, kCluster, k16MB));
  EXPECT_NO_THROW(validate_wal_segment_header(
      parse_wal_file_name("000000010000000000000003.partial"), bytes, kCluster));
  // Continuation record and removable-backup-block flags are normal.
  HeaderBytes flags;
  flags.info = 0x0007;
  flags.rem_len = 1234;
  auto fb = flags.bytes();
  EXPECT_NO_THROW(
      validate_wal_segment_header(parse_wal_file_name("000000010000000000000003"), fb, kCluster));
  // The first segment of timeline 2 starts with a page copied from timeline 1.
  EXPECT_NO_THROW(validate_wal_segment_header(parse_wal_file_name("000000020000000000000003"),
                                              bytes, kCluster));
  // Other segment sizes and a high LSN.
  HeaderBytes big;
  big.seg_size = 1u << 30;
  big.pageaddr = 0x1640000000ULL;
  big.tli = 5;
  auto bb = big.bytes();
  EXPECT_NO_THROW(validate_wal_segment_header(parse_wal_file_name("000000050000001600000001"), bb,
                                              {kSysid, 1u << 30, 0xD110}, 1u << 30));
}

TEST(WalPageHeader, RefusesAnotherSystemNamingBoth) {
  HeaderBytes h;
  h.sysid = 7715683618666560570ULL;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::conflict,
                 {"000000010000000000000003 belongs to database system 7715683618666560570 but "
                  "this cluster is 7315123456789012345",
                  "another cluster writes into"});
}

TEST(WalPageHeader, RefusesAnotherVersionNamingIt) {
  HeaderBytes h;
  h.magic = 0xD113;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"WAL file 000000010000000000000003 has WAL page magic 0xD113 (PostgreSQL 16), "
                  "expected 0xD110 (PostgreSQL 15)"});
  h.magic = 0x1234;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"0x1234 (no PostgreSQL version pgvault knows)"});
}

TEST(WalPageHeader, RefusesAMissingLongHeaderOrUnknownFlags) {
  HeaderBytes h;
  h.info = 0x0001;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"xlp_info 0x0001 lacks XLP_LONG_HEADER", "not the start of a WAL segment"});
  h.info = 0x0012;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"unknown page flags (xlp_info 0x0012, known flags 0x000F)"});
  // XLP_FIRST_IS_OVERWRITE_CONTRECORD (0x0008) is PostgreSQL 15's own: a
  // segment written after crash recovery overwrote an incomplete record.
  h.info = 0x000A;
  EXPECT_NO_THROW(validate_wal_segment_header(parse_wal_file_name("000000010000000000000003"),
                                              h.bytes(), kCluster));
}

TEST(WalPageHeader, RefusesWrongSizes) {
  HeaderBytes h;
  h.seg_size = 64u << 20;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"segment size is 64 MB, but this cluster's wal_segment_size is 16 MB"});
  for (std::uint32_t bad : {0u, 512u, 3000u, 128u * 1024u}) {
    HeaderBytes b;
    b.blcksz = bad;
    expect_message(validation_error("000000010000000000000003", b), ErrorKind::corrupt,
                   {"WAL block size is " + std::to_string(bad) + " bytes"});
  }
  expect_message(validation_error("000000010000000000000003", HeaderBytes{}, 8192),
                 ErrorKind::corrupt, {"is 8192 bytes long", "16777216 bytes"});
  auto bytes = HeaderBytes{}.bytes();
  try {
    validate_wal_segment_header(parse_wal_file_name("000000010000000000000003"),
                                std::span<const std::byte>(bytes.data(), 20), kCluster);
    ADD_FAILURE() << "20 bytes accepted";
  } catch (const Error& e) {
    expect_message(e, ErrorKind::corrupt, {"too short for a WAL page header (20 bytes"});
  }
}

TEST(WalPageHeader, RefusesAPositionOrTimelineOtherThanTheName) {
  HeaderBytes h;
  h.pageaddr = 0x4000000;
  expect_message(validation_error("000000010000000000000003", h), ErrorKind::corrupt,
                 {"starts at page address 0/4000000, but its name says 0/3000000"});
  // What PostgreSQL leaves in a preallocated (recycled) segment.
  h.pageaddr = 0x1000000;
  expect_message(
      validation_error("000000010000000000000003", h), ErrorKind::corrupt,
      {"page address 0/1000000, the start of segment 000000010000000000000001: a recycled "
       "segment"});
  HeaderBytes t;
  t.tli = 3;
  expect_message(validation_error("000000020000000000000003", t), ErrorKind::corrupt,
                 {"first page on timeline 3, but its name says timeline 2"});
  t.tli = 0;
  expect_message(validation_error("000000020000000000000003", t), ErrorKind::corrupt,
                 {"first page on timeline 0"});
}

TEST(WalPageHeader, HistoryAndBackupFilesHaveNoHeader) {
  auto bytes = HeaderBytes{}.bytes();
  for (const char* name : {"00000002.history", "000000010000000000000003.00000028.backup"}) {
    try {
      validate_wal_segment_header(parse_wal_file_name(name), bytes, kCluster);
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      expect_message(e, ErrorKind::invalid_argument, {"has no WAL page header"});
    }
  }
}

// A segment written by a real PostgreSQL 15: PGVAULT_TEST_WAL_SEGMENT=<path to a
// segment in pg_wal>, and optionally PGVAULT_TEST_WAL_SYSTEM_IDENTIFIER=<what
// pg_controldata says>. Proves the offsets above are PostgreSQL's.
TEST(WalPageHeader, RealSegmentFromPostgres15) {
  const char* path = std::getenv("PGVAULT_TEST_WAL_SEGMENT");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "PGVAULT_TEST_WAL_SEGMENT is not set";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::vector<std::byte> head(8192);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  ASSERT_EQ(in.gcount(), 8192);
  const std::uint64_t size = std::filesystem::file_size(path);
  WalFileName name = parse_wal_file_name(std::filesystem::path(path).filename().string());
  WalLongPageHeader h = read_wal_long_page_header(head);
  EXPECT_EQ(h.magic, kWalPageMagicPg15);
  EXPECT_NE(h.info & kWalPageLongHeader, 0);
  EXPECT_EQ(h.segment_size, size);
  EXPECT_EQ(h.block_size, 8192u);
  EXPECT_EQ(h.page_address, name.start_lsn(size));
  if (const char* sysid = std::getenv("PGVAULT_TEST_WAL_SYSTEM_IDENTIFIER")) {
    EXPECT_EQ(std::to_string(h.system_identifier), sysid);
  }
  EXPECT_NO_THROW(
      validate_wal_segment_header(name, head, {h.system_identifier, size, 0xD110}, size));
}
