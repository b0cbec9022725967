// Page headers, PageIsVerifiedExtended's checks and pg_checksum_page
// (include/pgvault/physical/page.hpp). The vectors are real pages of a
// PostgreSQL 15 cluster made with `initdb -k`; the expected checksums are the
// ones PostgreSQL stored in them.
#include "pgvault/error.hpp"
#include "pgvault/physical/page.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace pgvault;

namespace {

// A page as the runs of non-zero bytes PostgreSQL wrote (offset, hex).
struct SparsePage {
  std::uint32_t block;
  std::uint16_t stored_checksum;
  std::vector<std::pair<std::size_t, std::string>> runs;

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> page(kPageSize, std::byte{0});
    for (const auto& [offset, hex] : runs)
      for (std::size_t i = 0; i < hex.size() / 2; ++i)
        page.at(offset + i) = static_cast<std::byte>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    return page;
  }
};

// global/1262 block 0 of an initdb -k PostgreSQL 15.x cluster; pd_checksum 33429 (0x8295), pd_lsn
// 0/1752790.
const SparsePage kPgDatabasePage{
    0,
    33429u,
    {
        {4,
         "90277501958201003000f01d00200420000000000500010006000100f09d2001"
         "00000000409f7a01809e7a01"},
        {7232, "d002"},
        {7248, "06001080032920ff9f000000000000000400000074656d706c61746530"},
        {7332,
         "0a0000000600000063010000ffffffffcc020000010000007f06000011432e55"
         "54462d3811432e5554462d385b01000000000000000904000002000000010000"
         "00000000000a000000000800000a0000000a000000000e0000000000cf02"},
        {7440, "05001080032920ff9f000000000000000100000074656d706c61746531"},
        {7524,
         "0a0000000600000063010100ffffffffcc020000010000007f06000011432e55"
         "54462d3811432e5554462d385b01000000000000000904000002000000010000"
         "00000000000a000000000800000a0000000a000000000e0000000000ce020000"
         "cf02"},
        {7632,
         "050010c0032520ff1f000000000000000100000074656d706c61746531000000"
         "d202"},
        {7680, "03001000030920ff1f0000000000000005000000706f737467726573"},
        {7764,
         "0a0000000600000063000100ffffffffcc020000010000007f06000011432e55"
         "54462d3811432e5554462d38d002"},
        {7824, "06001080032920ff9f000000000000000400000074656d706c61746530"},
        {7908,
         "0a0000000600000063010000ffffffffcc020000010000007f06000011432e55"
         "54462d3811432e5554462d385b01000000000000000904000002000000010000"
         "00000000000a000000000800000a0000000a000000000e0000000000cf02"},
        {8016, "05001080032920ff9f000000000000000100000074656d706c61746531"},
        {8100,
         "0a0000000600000063010100ffffffffcc020000010000007f06000011432e55"
         "54462d3811432e5554462d385b01000000000000000904000002000000010000"
         "00000000000a000000000800000a0000000a000000000e"},
    }};
// base/5/16385_vm block 0 of an initdb -k PostgreSQL 15.x cluster; pd_checksum 51049 (0xC769),
// pd_lsn 0/197C9D0.
const SparsePage kHeapVmPage{0,
                             51049u,
                             {
                                 {4,
                                  "d0c9970169c70000180000200020042000000000555555555555555555555555"
                                  "5555555555555555555555555555555555555555555555555505"},
                             }};
// base/5/16385_fsm block 2 of an initdb -k PostgreSQL 15.x cluster; pd_checksum 35327 (0x89FF),
// pd_lsn 0/17873F0.
const SparsePage kHeapFsmPage2{
    2,
    35327u,
    {
        {4, "f0737801ff8900001800002000200420"},
        {28, "04040004000000040000000000000004"},
        {59, "0104"},
        {91, "010104"},
        {155, "0101010104"},
        {283, "01010101010101010104"},
        {539, "01010101010101010101010101010101010104"},
        {1052,
         "0101010101010101010101010101010101010101010101010101010101010101"
         "0101010104"},
        {2077,
         "0101010101010101010101010101010101010101010101010101010101010101"
         "0101010101010101010101010101010101010101010101010101010101010101"
         "010101010101010104"},
        {4127,
         "0100010100010100010100010100010100010100010100010100010100010100"
         "0101000101000101000101000101000101000101000101000101000101000101"
         "0001010001010001010001010001010001010001010001010001010001010001"
         "0100010100010100010100010100010100010100010100010100010100010100"
         "010100010100010100010100010100010104"},
    }};

void put16(std::vector<std::byte>& page, std::size_t offset, std::uint16_t v) {
  page[offset] = static_cast<std::byte>(v & 0xFF);
  page[offset + 1] = static_cast<std::byte>(v >> 8);
}

}  // namespace

TEST(PageHeader, ReadsThePostgres15LayoutOfARealPage) {
  const auto page = kPgDatabasePage.bytes();
  const PageHeader h = read_page_header(page);
  EXPECT_EQ(h.lsn_xlogid, 0u);
  EXPECT_EQ(h.lsn_xrecoff, 0x01752790u);
  EXPECT_EQ(h.lsn(), Lsn{0x01752790u});
  EXPECT_EQ(h.checksum, 33429u);
  EXPECT_EQ(h.flags, 1u);     // PD_HAS_FREE_LINES
  EXPECT_EQ(h.lower, 48u);    // 0x0030: 6 line pointers after the 24-byte header
  EXPECT_EQ(h.upper, 7664u);  // 0x1df0
  EXPECT_EQ(h.special, 8192u);
  EXPECT_EQ(h.page_size(), 8192u);
  EXPECT_EQ(h.layout_version(), kPageLayoutVersion);
  EXPECT_EQ(h.prune_xid, 0u);
  EXPECT_TRUE(page_header_is_sane(h));
  EXPECT_FALSE(page_is_new(h));
}

TEST(PageHeader, LsnCombinesBothHalves) {
  std::vector<std::byte> page(kPageSize, std::byte{0});
  put16(page, 0, 0x0002);  // xlogid 2
  put16(page, 4, 0x5678);
  put16(page, 6, 0x1234);  // xrecoff 0x12345678
  EXPECT_EQ(read_page_header(page).lsn(), Lsn{0x0000000212345678ull});
  EXPECT_EQ(format_lsn(read_page_header(page).lsn()), "2/12345678");
}

TEST(PageHeader, TooFewBytesAreRefused) {
  std::vector<std::byte> bytes(kPageHeaderSize - 1, std::byte{0});
  EXPECT_THROW(read_page_header(bytes), Error);
  bytes.push_back(std::byte{0});
  EXPECT_NO_THROW(read_page_header(bytes));
}

TEST(PageHeader, SanityFollowsPageIsVerifiedExtended) {
  PageHeader h;
  h.lower = 24;
  h.upper = 8000;
  h.special = 8192;
  EXPECT_TRUE(page_header_is_sane(h));
  h.flags = kPageValidFlagBits;
  EXPECT_TRUE(page_header_is_sane(h));
  h.flags = 0x0008;
  EXPECT_FALSE(page_header_is_sane(h)) << "unknown pd_flags bit";
  h.flags = 0;
  h.lower = 8001;
  EXPECT_FALSE(page_header_is_sane(h)) << "pd_lower above pd_upper";
  h.lower = 24;
  h.special = 7999;
  EXPECT_FALSE(page_header_is_sane(h)) << "pd_upper above pd_special";
  h.special = 8184;  // a btree page: 16 bytes of special space would be 8176
  EXPECT_TRUE(page_header_is_sane(h));
  h.special = 8188;
  EXPECT_FALSE(page_header_is_sane(h)) << "pd_special not MAXALIGNed";
  h.special = 8200;
  EXPECT_FALSE(page_header_is_sane(h)) << "pd_special beyond BLCKSZ";
  h.upper = 8192;
  h.special = 8192;
  h.lower = 8192;
  EXPECT_TRUE(page_header_is_sane(h)) << "a full page";
}

TEST(PageChecksum, MatchesWhatPostgresStoredInRealPages) {
  for (const SparsePage* vector : {&kPgDatabasePage, &kHeapVmPage, &kHeapFsmPage2}) {
    const auto page = vector->bytes();
    EXPECT_EQ(page_checksum(page, vector->block), vector->stored_checksum);
    EXPECT_EQ(read_page_header(page).checksum, vector->stored_checksum);
    EXPECT_EQ(verify_page(page, vector->block, true), PageState::valid);
  }
}

TEST(PageChecksum, IgnoresTheStoredChecksumButNotTheFlagsBesideIt) {
  auto page = kHeapVmPage.bytes();
  put16(page, 8, 0xBEEF);
  EXPECT_EQ(page_checksum(page, 0), kHeapVmPage.stored_checksum);
  EXPECT_EQ(verify_page(page, 0, true), PageState::checksum_mismatch);
  EXPECT_EQ(verify_page(page, 0, false), PageState::valid) << "checksums off: not compared";
  page = kHeapVmPage.bytes();
  put16(page, 10, 0x0004);  // PD_ALL_VISIBLE shares the checksum's 32-bit word
  EXPECT_NE(page_checksum(page, 0), kHeapVmPage.stored_checksum);
}

TEST(PageChecksum, MixesInTheBlockNumber) {
  const auto page = kHeapFsmPage2.bytes();
  EXPECT_EQ(page_checksum(page, 2), kHeapFsmPage2.stored_checksum);
  EXPECT_NE(page_checksum(page, 1), kHeapFsmPage2.stored_checksum);
  EXPECT_NE(page_checksum(page, 2 + kBlocksPerSegment), kHeapFsmPage2.stored_checksum);
  EXPECT_EQ(verify_page(page, 3, true), PageState::checksum_mismatch) << "a transposed page";
}

TEST(PageChecksum, EveryByteCounts) {
  const auto original = kPgDatabasePage.bytes();
  // One flipped bit anywhere except pd_checksum changes the checksum (true for
  // these positions; FNV lanes make a collision of one flip unlikely, and the
  // test would show one).
  for (std::size_t offset : {0u, 4u, 11u, 12u, 100u, 4095u, 4096u, 7232u, 8191u}) {
    auto page = original;
    page[offset] ^= std::byte{0x01};
    EXPECT_NE(page_checksum(page, 0), kPgDatabasePage.stored_checksum) << "offset " << offset;
  }
}

TEST(PageChecksum, NeverZeroAndNeedsAWholePage) {
  std::vector<std::byte> page(kPageSize, std::byte{0});
  put16(page, 14, 8192);  // pd_upper, so the page is not new
  for (std::uint32_t block = 0; block < 70000; ++block) ASSERT_NE(page_checksum(page, block), 0);
  std::vector<std::byte> short_page(kPageSize - 1, std::byte{0});
  EXPECT_THROW(page_checksum(short_page, 0), Error);
  std::vector<std::byte> long_page(kPageSize + 1, std::byte{0});
  EXPECT_THROW(page_checksum(long_page, 0), Error);
}

TEST(PageChecksum, ForkBlockNumberSpansSegments) {
  EXPECT_EQ(fork_block_number(0, 0), 0u);
  EXPECT_EQ(fork_block_number(0, 131071), 131071u);
  EXPECT_EQ(fork_block_number(1, 0), 131072u);
  EXPECT_EQ(fork_block_number(3, 5), 3u * 131072u + 5u);
  EXPECT_EQ(fork_block_number(32767, 131070), 0xFFFFFFFEu);
  EXPECT_THROW(fork_block_number(32767, 131071), Error) << "InvalidBlockNumber";
  EXPECT_THROW(fork_block_number(0, 131072), Error);
  EXPECT_THROW(fork_block_number(40000, 0), Error);
}

TEST(PageVerify, NewPagesAndBrokenHeaders) {
  std::vector<std::byte> page(kPageSize, std::byte{0});
  EXPECT_TRUE(page_is_all_zero(page));
  EXPECT_TRUE(page_is_new(read_page_header(page)));
  EXPECT_EQ(verify_page(page, 7, true), PageState::all_zero);
  EXPECT_EQ(verify_page(page, 7, false), PageState::all_zero);
  page[5000] = std::byte{1};  // pd_upper still 0 but not all zeroes: PostgreSQL refuses it
  EXPECT_FALSE(page_is_all_zero(page));
  EXPECT_EQ(verify_page(page, 7, true), PageState::invalid_header);
  EXPECT_EQ(verify_page(page, 7, false), PageState::invalid_header);

  auto real = kPgDatabasePage.bytes();
  put16(real, 16, 8193);  // pd_special beyond the page
  EXPECT_EQ(verify_page(real, 0, false), PageState::invalid_header);
  EXPECT_EQ(verify_page(real, 0, true), PageState::invalid_header);
  EXPECT_THROW(verify_page(std::span(real).first(100), 0, false), Error);
  EXPECT_STREQ(page_state_name(PageState::checksum_mismatch), "checksum mismatch");
}

// PGVAULT_TEST_PAGE_FILE=<a relation segment file of a cluster with data
// checksums, e.g. base/5/16385> checks every page's stored checksum;
// PGVAULT_TEST_PAGE_SEGMENT=<n> for the n-th 1 GB segment (file name ".n").
TEST(PageChecksum, RealRelationFileFromTheEnvironment) {
  const char* path = std::getenv("PGVAULT_TEST_PAGE_FILE");
  if (path == nullptr) GTEST_SKIP() << "set PGVAULT_TEST_PAGE_FILE to a relation file";
  const char* segment_text = std::getenv("PGVAULT_TEST_PAGE_SEGMENT");
  const std::uint32_t segment =
      segment_text ? static_cast<std::uint32_t>(std::stoul(segment_text)) : 0;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  std::vector<std::byte> page(kPageSize);
  std::uint32_t block = 0, verified = 0, zero = 0;
  while (in.read(reinterpret_cast<char*>(page.data()), kPageSize)) {
    const PageState state = verify_page(page, fork_block_number(segment, block), true);
    EXPECT_TRUE(state == PageState::valid || state == PageState::all_zero)
        << path << " block " << block << ": " << page_state_name(state);
    (state == PageState::valid ? verified : zero)++;
    ++block;
  }
  EXPECT_EQ(in.gcount(), 0) << "a relation file is whole pages";
  std::cout << path << ": " << verified << " pages verified, " << zero << " all-zero\n";
}
