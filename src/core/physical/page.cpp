#include "pgvault/physical/page.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

namespace pgvault {

static_assert(std::endian::native == std::endian::little,
              "pgvault reads PostgreSQL pages as little-endian (x86-64, arm64)");

namespace {

constexpr std::size_t kChecksumLanes = 32;  // N_SUMS
constexpr std::uint32_t kFnvPrime = 16777619;
constexpr std::size_t kChecksumOffset = 8;  // offsetof(PageHeaderData, pd_checksum)
constexpr std::uint16_t kMaxAlign = 8;      // MAXIMUM_ALIGNOF on x86-64 and arm64

constexpr std::array<std::uint32_t, kChecksumLanes> kChecksumBaseOffsets = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};

inline std::uint32_t checksum_round(std::uint32_t sum, std::uint32_t value) {
  const std::uint32_t tmp = sum ^ value;
  return tmp * kFnvPrime ^ (tmp >> 17);
}

}  // namespace

PageHeader read_page_header(std::span<const std::byte> page) {
  if (page.size() < kPageHeaderSize)
    throw Error(ErrorKind::corrupt, "page header needs " + std::to_string(kPageHeaderSize) +
                                        " bytes, got " + std::to_string(page.size()));
  const std::byte* p = page.data();
  PageHeader h;
  h.lsn_xlogid = load_le<std::uint32_t>(p + 0);
  h.lsn_xrecoff = load_le<std::uint32_t>(p + 4);
  h.checksum = load_le<std::uint16_t>(p + 8);
  h.flags = load_le<std::uint16_t>(p + 10);
  h.lower = load_le<std::uint16_t>(p + 12);
  h.upper = load_le<std::uint16_t>(p + 14);
  h.special = load_le<std::uint16_t>(p + 16);
  h.pagesize_version = load_le<std::uint16_t>(p + 18);
  h.prune_xid = load_le<std::uint32_t>(p + 20);
  return h;
}

bool page_is_all_zero(std::span<const std::byte> page) {
  return std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; });
}

bool page_header_is_sane(const PageHeader& h) {
  return (h.flags & ~kPageValidFlagBits) == 0 && h.lower <= h.upper && h.upper <= h.special &&
         h.special <= kPageSize && h.special % kMaxAlign == 0;
}

namespace {

// One row of 32 lanes into the sums. A plain loop over 32-bit words with no
// branch in it: the compiler turns it into vector instructions (PostgreSQL
// builds its checksum.c with -funroll-loops -ftree-vectorize for the same
// reason), which makes a page's checksum several times faster than a loop
// that tests for pd_checksum on every word.
[[gnu::always_inline]] inline void checksum_row(std::array<std::uint32_t, kChecksumLanes>& sums,
                                                const std::byte* row) {
  std::array<std::uint32_t, kChecksumLanes> words;
  std::memcpy(words.data(), row, sizeof words);
  for (std::size_t lane = 0; lane < kChecksumLanes; ++lane)
    sums[lane] = checksum_round(sums[lane], words[lane]);
}

}  // namespace

#if defined(__x86_64__)
#define PGVAULT_CHECKSUM_CLONES \
  [[gnu::optimize("O3", "unroll-loops"), gnu::target_clones("avx512f", "avx2", "default")]]
#else
#define PGVAULT_CHECKSUM_CLONES [[gnu::optimize("O3", "unroll-loops")]]
#endif

// One copy per instruction set (x86-64), chosen when the library loads: the 32 lanes
// of 32-bit multiplies need SSE4.1's pmulld at least, which the x86-64
// baseline lacks; AVX2 and AVX-512 do 8 and 16 lanes at once (8.4 GB/s on the
// baseline, 21.7 GB/s with AVX-512, on the development machines). An
// incremental checks every page of the cluster, so this was a third of its
// CPU. The clones compute the same integers; test_page_checksum.cpp checks
// the loaded one against pages PostgreSQL wrote.
PGVAULT_CHECKSUM_CLONES std::uint16_t page_checksum(std::span<const std::byte> page,
                                                    std::uint32_t block_number) {
  if (page.size() != kPageSize)
    throw Error(ErrorKind::invalid_argument, "a page checksum needs exactly " +
                                                 std::to_string(kPageSize) + " bytes, got " +
                                                 std::to_string(page.size()));
  constexpr std::size_t kRowBytes = sizeof(std::uint32_t) * kChecksumLanes;
  constexpr std::size_t kRows = kPageSize / kRowBytes;
  std::array<std::uint32_t, kChecksumLanes> sums = kChecksumBaseOffsets;
  // The first row from a copy in which pd_checksum (bytes 8..9) is zero, as
  // PostgreSQL computes it.
  std::array<std::byte, kRowBytes> first;
  std::memcpy(first.data(), page.data(), kRowBytes);
  first[kChecksumOffset] = std::byte{0};
  first[kChecksumOffset + 1] = std::byte{0};
  checksum_row(sums, first.data());
  for (std::size_t row = 1; row < kRows; ++row) checksum_row(sums, page.data() + row * kRowBytes);
  for (int round = 0; round < 2; ++round)
    for (auto& sum : sums) sum = checksum_round(sum, 0);
  std::uint32_t result = 0;
  for (auto sum : sums) result ^= sum;
  result ^= block_number;
  return static_cast<std::uint16_t>(result % 65535 + 1);
}

std::uint32_t fork_block_number(std::uint32_t segment, std::uint32_t block_in_segment) {
  // BlockNumber is 32 bits and 0xFFFFFFFF is InvalidBlockNumber: a fork has at
  // most 0xFFFFFFFE blocks, i.e. segments 0..32767.
  const std::uint64_t block = std::uint64_t{segment} * kBlocksPerSegment + block_in_segment;
  if (block_in_segment >= kBlocksPerSegment || block >= 0xFFFFFFFFull)
    throw Error(ErrorKind::invalid_argument,
                "block " + std::to_string(block_in_segment) + " of segment " +
                    std::to_string(segment) + " is outside a relation fork (at most " +
                    std::to_string(kBlocksPerSegment) + " blocks a segment, 0xFFFFFFFE a fork)");
  return static_cast<std::uint32_t>(block);
}

PageState verify_page(std::span<const std::byte> page, std::uint32_t block_number,
                      bool data_checksums) {
  if (page.size() != kPageSize)
    throw Error(ErrorKind::invalid_argument, "a page is exactly " + std::to_string(kPageSize) +
                                                 " bytes, got " + std::to_string(page.size()));
  const PageHeader header = read_page_header(page);
  if (!page_is_new(header)) {
    const bool sane = page_header_is_sane(header);
    const bool checksum_ok =
        !data_checksums || page_checksum(page, block_number) == header.checksum;
    if (sane && checksum_ok) return PageState::valid;
    return sane ? PageState::checksum_mismatch : PageState::invalid_header;
  }
  return page_is_all_zero(page) ? PageState::all_zero : PageState::invalid_header;
}

const char* page_state_name(PageState state) {
  switch (state) {
    case PageState::valid:
      return "valid";
    case PageState::all_zero:
      return "all zeroes";
    case PageState::invalid_header:
      return "invalid page header";
    case PageState::checksum_mismatch:
      return "checksum mismatch";
  }
  return "unknown";
}

}  // namespace pgvault
