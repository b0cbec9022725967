// The long page header at the start of every WAL segment, read from raw bytes
// without PostgreSQL's headers, and the checks pgvault makes before it
// archives a segment.
//
// Layout (PostgreSQL 15, src/include/access/xlog_internal.h; checked against
// a segment written by initdb of PostgreSQL 15.x, see test_wal_page_header.cpp):
//   offset size field
//        0    2 xlp_magic        XLOG_PAGE_MAGIC, the WAL format version
//        2    2 xlp_info         flag bits; XLP_LONG_HEADER (0x0002) on a segment's first page
//        4    4 xlp_tli          timeline of the first record on the page
//        8    8 xlp_pageaddr     LSN of the page's first byte
//       16    4 xlp_rem_len      bytes of a record continued from the previous page
//       20    4 (padding: xlp_sysid is 8-byte aligned)
//       24    8 xlp_sysid        system identifier from pg_control
//       32    4 xlp_seg_size     wal_segment_size
//       36    4 xlp_xlog_blcksz  WAL block size (XLOG_BLCKSZ)
//   40 bytes in all (SizeOfXLogLongPHD). PostgreSQL writes these in the host's
//   native byte order and its WAL is not portable between architectures; pgvault
//   reads them as little-endian, the order of every platform it is built for
//   (x86-64, arm64), and a static_assert refuses to build elsewhere.
//
// Magic numbers by major version (REL_xx_STABLE xlog_internal.h):
//   12 0xD101, 13 0xD106, 14 0xD10D, 15 0xD110, 16 0xD113, 17 0xD116.
//
// validate_wal_segment_header throws Error(corrupt) or, when the segment
// belongs to another database system, Error(conflict); each message names the
// file, what was expected and what was found.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace pgvault {

inline constexpr std::size_t kWalLongPageHeaderSize = 40;
inline constexpr std::uint16_t kWalPageMagicPg15 = 0xD110;
inline constexpr std::uint16_t kWalPageLongHeader = 0x0002;  // XLP_LONG_HEADER
// XLP_ALL_FLAGS of PostgreSQL 15: XLP_FIRST_IS_CONTRECORD 0x0001, XLP_LONG_HEADER,
// XLP_BKP_REMOVABLE 0x0004 and XLP_FIRST_IS_OVERWRITE_CONTRECORD 0x0008 (set
// after crash recovery overwrote a record left incomplete at a page end).
inline constexpr std::uint16_t kWalPageAllFlags = 0x000F;
inline constexpr std::uint32_t kMinWalBlockSize = 1024;       // --with-wal-blocksize=1
inline constexpr std::uint32_t kMaxWalBlockSize = 64 * 1024;  // --with-wal-blocksize=64

struct WalLongPageHeader {
  std::uint16_t magic = 0;
  std::uint16_t info = 0;
  TimelineId timeline = 0;
  Lsn page_address;
  std::uint32_t remaining_length = 0;
  std::uint64_t system_identifier = 0;
  std::uint32_t segment_size = 0;
  std::uint32_t block_size = 0;
};

// Decodes the first kWalLongPageHeaderSize bytes; no validation beyond the
// length (Error(corrupt) when fewer bytes are given).
WalLongPageHeader read_wal_long_page_header(std::span<const std::byte> bytes);

// The PostgreSQL major version that writes this magic, when known (12..17).
std::optional<int> postgres_major_for_wal_magic(std::uint16_t magic);

// What the archiving cluster knows about itself.
struct WalSegmentExpectation {
  std::uint64_t system_identifier = 0;
  std::uint64_t segment_size = kDefaultWalSegmentSize;
  std::uint16_t magic = kWalPageMagicPg15;
};

// Checks that the file named `file` (a segment or a .partial) whose first
// bytes are `head` is WAL of this cluster, in this server's format, at the
// position its name says: magic, XLP_LONG_HEADER and no unknown flag, system
// identifier, segment size, block size (a power of two, 1..64 kB, dividing the
// segment), page address equal to the segment's start LSN, and a timeline not
// above the name's (the first page of a new timeline's first segment is copied
// from its parent, so it carries the parent's timeline). When file_size is
// given it must equal the segment size. History and .backup files have no page
// header: Error(invalid_argument).
void validate_wal_segment_header(const WalFileName& file, std::span<const std::byte> head,
                                 const WalSegmentExpectation& expected,
                                 std::optional<std::uint64_t> file_size = std::nullopt);

}  // namespace pgvault
