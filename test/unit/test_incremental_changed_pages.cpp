// The page selection of an incremental backup
// (include/pgvault/physical/changed_pages.hpp).
#include "pgvault/error.hpp"
#include "pgvault/physical/changed_pages.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace pgvault;

namespace {

constexpr Lsn kParentStart{0x0000000300001000ull};

// A sane heap-like page with the given LSN; checksummed for `block` when asked.
std::vector<std::byte> make_page(std::uint64_t lsn, std::uint32_t block, bool checksum = true,
                                 std::byte fill = std::byte{0x5A}) {
  std::vector<std::byte> page(kPageSize, std::byte{0});
  auto put = [&](std::size_t off, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      page[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  };
  put(0, lsn >> 32, 4);
  put(4, lsn & 0xFFFFFFFFu, 4);
  put(12, 28, 2);    // pd_lower: one line pointer
  put(14, 8000, 2);  // pd_upper
  put(16, 8192, 2);  // pd_special
  put(18, 8192 | 4, 2);
  put(24, 0x00018000 | 8000, 4);  // the line pointer (not interpreted)
  for (std::size_t i = 8000; i < 8192; ++i) page[i] = fill;
  if (checksum) put(8, page_checksum(page, block), 2);
  return page;
}

ChangedPagePolicy policy(bool verify, std::uint32_t parent_blocks = 100) {
  ChangedPagePolicy p;
  p.parent_start_lsn = kParentStart;
  p.parent_file_blocks = parent_blocks;
  p.verify_checksums = verify;
  p.max_rereads = 3;
  return p;
}

const PageReread kNoReread = [](std::span<std::byte>) -> bool {
  ADD_FAILURE() << "a valid page must not be read again";
  return false;
};

}  // namespace

TEST(IncrementalPageSelection, LsnAgainstTheParentsStart) {
  for (bool verify : {false, true}) {
    auto older = make_page(kParentStart.value - 1, 7);
    auto equal = make_page(kParentStart.value, 7);
    auto newer = make_page(kParentStart.value + 0x100000000ull, 7);
    auto s = select_page(older, "base/5/16385", 0, 7, policy(verify), kNoReread);
    EXPECT_EQ(s.decision, PageDecision::skip);
    EXPECT_EQ(s.reason, IncludeReason::none);
    s = select_page(equal, "base/5/16385", 0, 7, policy(verify), kNoReread);
    EXPECT_EQ(s.decision, PageDecision::include);
    EXPECT_EQ(s.reason, IncludeReason::changed);
    s = select_page(newer, "base/5/16385", 0, 7, policy(verify), kNoReread);
    EXPECT_EQ(s.decision, PageDecision::include);
    EXPECT_EQ(s.rereads, 0u);
  }
}

TEST(IncrementalPageSelection, NewPagesAndBlocksBeyondTheParent) {
  std::vector<std::byte> zero(kPageSize, std::byte{0});
  auto s = select_page(zero, "f", 0, 3, policy(true), kNoReread);
  EXPECT_EQ(s.decision, PageDecision::include);
  EXPECT_EQ(s.reason, IncludeReason::all_zero);

  auto old_page = make_page(1, 100);
  s = select_page(old_page, "f", 0, 100, policy(true, 100), kNoReread);
  EXPECT_EQ(s.reason, IncludeReason::beyond_parent) << "the parent had blocks 0..99";
  old_page = make_page(1, 99);
  EXPECT_EQ(select_page(old_page, "f", 0, 99, policy(true, 100), kNoReread).decision,
            PageDecision::skip);
  old_page = make_page(1, 0);
  EXPECT_EQ(select_page(old_page, "f", 0, 0, policy(false, 0), kNoReread).reason,
            IncludeReason::beyond_parent)
      << "a file the parent did not have";
}

TEST(IncrementalPageSelection, UntrustedHeaderWithoutChecksumsIsStored) {
  auto page = make_page(1, 7, /*checksum=*/false);
  page[16] = std::byte{0x01};  // pd_special 8193
  page[17] = std::byte{0x20};
  auto s = select_page(page, "f", 0, 7, policy(false), kNoReread);
  EXPECT_EQ(s.decision, PageDecision::include);
  EXPECT_EQ(s.reason, IncludeReason::untrusted_header);
  std::vector<std::byte> new_but_dirty(kPageSize, std::byte{0});
  new_but_dirty[4000] = std::byte{1};
  EXPECT_EQ(select_page(new_but_dirty, "f", 0, 7, policy(false), kNoReread).reason,
            IncludeReason::untrusted_header);
  EXPECT_EQ(std::string(include_reason_text(IncludeReason::untrusted_header)),
            "page header not sane, LSN not trusted");
}

TEST(IncrementalPageSelection, TornReadIsReadAgainUntilItVerifies) {
  const auto good = make_page(kParentStart.value + 5, 9);
  auto torn = good;
  for (std::size_t i = 4096; i < kPageSize; ++i)
    torn[i] = std::byte{0x77};  // second half from another write
  unsigned calls = 0;
  auto s = select_page(torn, "base/5/16385", 0, 9, policy(true), [&](std::span<std::byte> page) {
    ++calls;
    if (calls == 2) std::copy(good.begin(), good.end(), page.begin());
    return true;
  });
  EXPECT_EQ(s.decision, PageDecision::include);
  EXPECT_EQ(s.reason, IncludeReason::changed);
  EXPECT_EQ(s.rereads, 2u);
  EXPECT_EQ(calls, 2u);
  EXPECT_EQ(torn, good) << "the page holds the bytes that verified";
}

TEST(IncrementalPageSelection, PersistentChecksumFailureIsCorruptionNamingFileAndBlock) {
  auto page = make_page(1, 5 + kBlocksPerSegment);  // block 5 of segment 1
  page[5000] ^= std::byte{0x10};
  const auto stored = read_page_header(page).checksum;
  unsigned calls = 0;
  auto s = select_page(page, "base/5/16385.1", 1, 5, policy(true), [&](std::span<std::byte>) {
    ++calls;
    return true;  // the same bytes again
  });
  EXPECT_EQ(s.decision, PageDecision::corrupt);
  EXPECT_EQ(calls, 3u);
  EXPECT_EQ(s.rereads, 3u);
  EXPECT_EQ(s.corruption.file, "base/5/16385.1");
  EXPECT_EQ(s.corruption.block, 5 + kBlocksPerSegment);
  EXPECT_EQ(s.corruption.block_in_file, 5u);
  EXPECT_EQ(s.corruption.state, PageState::checksum_mismatch);
  EXPECT_EQ(s.corruption.stored_checksum, stored);
  EXPECT_EQ(s.corruption.computed_checksum, page_checksum(page, 5 + kBlocksPerSegment));
  EXPECT_EQ(s.corruption.reads, 4u);
  char expected[200];
  std::snprintf(expected, sizeof expected,
                "checksum verification failed in file \"base/5/16385.1\", block 5 (block 131077 of "
                "the relation fork): "
                "calculated %X but expected %X (read 4 times)",
                s.corruption.computed_checksum, stored);
  EXPECT_EQ(s.corruption.message(), expected);
}

TEST(IncrementalPageSelection, CorruptionIsReportedEvenForOldAndNewLsns) {
  // Corruption is never hidden behind an LSN: an old page would otherwise be
  // skipped, a new one stored.
  for (std::uint64_t lsn : {std::uint64_t{1}, kParentStart.value + 1}) {
    auto page = make_page(lsn, 2);
    page[8] ^= std::byte{0x01};  // the stored checksum itself
    auto s = select_page(page, "f", 0, 2, policy(true), [](std::span<std::byte>) { return true; });
    EXPECT_EQ(s.decision, PageDecision::corrupt);
  }
  std::vector<std::byte> insane(kPageSize, std::byte{0});
  insane[100] = std::byte{1};  // pd_upper 0 but not all zeroes
  auto s = select_page(insane, "f", 0, 2, policy(true), nullptr);
  EXPECT_EQ(s.decision, PageDecision::corrupt) << "no callback: no re-read";
  EXPECT_EQ(s.corruption.state, PageState::invalid_header);
  EXPECT_EQ(
      s.corruption.message(),
      "checksum verification failed in file \"f\", block 2: invalid page header (read 1 times)");
}

TEST(IncrementalPageSelection, BlockGoneOnReReadAndBadSizes) {
  auto page = make_page(1, 2);
  page[6000] ^= std::byte{0x01};
  auto s = select_page(page, "f", 0, 2, policy(true), [](std::span<std::byte>) { return false; });
  EXPECT_EQ(s.decision, PageDecision::vanished);
  std::vector<std::byte> short_page(100);
  EXPECT_THROW(select_page(short_page, "f", 0, 0, policy(true), nullptr), Error);
  auto ok = make_page(1, 0);
  EXPECT_THROW(select_page(ok, "f", 0, kBlocksPerSegment, policy(true), nullptr), Error);
}
