// One 8 kB page of a PostgreSQL relation file (heap, index, FSM, VM, init
// fork), read from raw bytes without PostgreSQL's headers: its header, whether
// it is new, whether PostgreSQL would accept it, and its data checksum.
//
// Page header layout (PostgreSQL 15, src/include/storage/bufpage.h,
// PageHeaderData; checked against pages of an `initdb -k` cluster, see
// test_page_checksum.cpp):
//   offset size field
//        0    4 pd_lsn.xlogid       high 32 bits of the LSN of the last change
//        4    4 pd_lsn.xrecoff      low 32 bits
//        8    2 pd_checksum         data checksum (0 when checksums are off)
//       10    2 pd_flags            PD_HAS_FREE_LINES 1 | PD_PAGE_FULL 2 | PD_ALL_VISIBLE 4
//       12    2 pd_lower            offset of the start of free space
//       14    2 pd_upper            offset of the end of free space (0: page never initialised)
//       16    2 pd_special          offset of the access method's special space
//       18    2 pd_pagesize_version page size | layout version (8192 | 4 in PostgreSQL 8.3+)
//       20    4 pd_prune_xid        oldest prunable XID, a hint
//   24 bytes in all (SizeOfPageHeaderData), then the line pointers. PostgreSQL
//   writes pages in the host's byte order; pgvault reads them as little-endian
//   (x86-64, arm64), as wal_page_header.hpp does.
//
// Block numbers: a relation fork is split into 1 GB segment files (RELSEG_SIZE
// = 131072 blocks of 8 kB); the checksum mixes in the block number within the
// *fork*, segment * 131072 + block within the file (basebackup.c sendFile:
// pg_checksum_page(page, blkno + segmentno * RELSEG_SIZE)).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace pgvault {

inline constexpr std::size_t kPageSize = 8192;               // BLCKSZ
inline constexpr std::size_t kPageHeaderSize = 24;           // SizeOfPageHeaderData
inline constexpr std::uint32_t kBlocksPerSegment = 131072;   // RELSEG_SIZE
inline constexpr std::uint16_t kPageValidFlagBits = 0x0007;  // PD_VALID_FLAG_BITS
inline constexpr std::uint16_t kPageLayoutVersion = 4;       // PG_PAGE_LAYOUT_VERSION

struct PageHeader {
  std::uint32_t lsn_xlogid = 0;
  std::uint32_t lsn_xrecoff = 0;
  std::uint16_t checksum = 0;
  std::uint16_t flags = 0;
  std::uint16_t lower = 0;
  std::uint16_t upper = 0;
  std::uint16_t special = 0;
  std::uint16_t pagesize_version = 0;
  std::uint32_t prune_xid = 0;

  Lsn lsn() const { return Lsn{(std::uint64_t{lsn_xlogid} << 32) | lsn_xrecoff}; }
  std::uint32_t page_size() const { return pagesize_version & 0xFF00u; }
  std::uint32_t layout_version() const { return pagesize_version & 0x00FFu; }
};

// Decodes the first kPageHeaderSize bytes; Error(corrupt) when fewer are given.
PageHeader read_page_header(std::span<const std::byte> page);

// PageIsNew: pd_upper == 0, a page PostgreSQL has not initialised (normally all
// zeroes: relations are extended with zero pages).
inline bool page_is_new(const PageHeader& header) {
  return header.upper == 0;
}

// Every byte zero (the only "new" page PageIsVerifiedExtended accepts).
bool page_is_all_zero(std::span<const std::byte> page);

// The header checks of PageIsVerifiedExtended (src/backend/storage/page/bufpage.c):
// no unknown pd_flags bit, pd_lower <= pd_upper <= pd_special <= BLCKSZ, and
// pd_special MAXALIGNed (8). They do not prove the page right, only sane.
bool page_header_is_sane(const PageHeader& header);

// pg_checksum_page (src/include/storage/checksum_impl.h): 32 parallel FNV-1a
// variants (x ^ v, then * 16777619 ^ (tmp >> 17)) over the page as 64 rows of
// 32 little-endian 32-bit words with pd_checksum read as zero, two more rounds
// of zeroes, the lanes xor-folded, xor the block number, then % 65535 + 1
// (0 is never produced). `page` must be kPageSize bytes (Error(invalid_argument)
// otherwise); block_number is the block within the fork (see above).
std::uint16_t page_checksum(std::span<const std::byte> page, std::uint32_t block_number);

// The block number within the fork of block `block_in_segment` of segment file `segment`.
std::uint32_t fork_block_number(std::uint32_t segment, std::uint32_t block_in_segment);

// What PageIsVerifiedExtended would decide about a page read from disk.
enum class PageState {
  valid,              // sane header (and matching checksum when checksums are on)
  all_zero,           // never written: accepted as is
  invalid_header,     // not all zeroes and pd_upper == 0 or the header is not sane
  checksum_mismatch,  // checksums on, header sane, stored checksum differs
};
PageState verify_page(std::span<const std::byte> page, std::uint32_t block_number,
                      bool data_checksums);
const char* page_state_name(PageState state);

}  // namespace pgvault
