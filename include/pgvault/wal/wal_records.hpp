// The records of PostgreSQL 15 WAL, read from segment files without
// PostgreSQL's headers: where each record starts and ends, its resource
// manager, and the blocks it references. The building block of WAL
// summaries (which blocks changed between two LSNs), so that an incremental
// backup reads the blocks that changed instead of every page.
//
// Layout (PostgreSQL 15, access/xlog_internal.h and access/xlogrecord.h; all
// integers little-endian, see wal_page_header.hpp):
//  - Pages of kWalBlockSize bytes. Each starts with a header: the long one
//    (40 bytes, wal_page_header.hpp) on a segment's first page, else the short
//    one (24 bytes: xlp_magic, xlp_info, xlp_tli, xlp_pageaddr, xlp_rem_len).
//    xlp_pageaddr is the LSN of the page; XLP_FIRST_IS_CONTRECORD (0x0001)
//    says the page begins with xlp_rem_len bytes of a record continued from
//    the page before; XLP_FIRST_IS_OVERWRITE_CONTRECORD (0x0008) that an
//    incomplete record before it was abandoned by crash recovery.
//  - Records start 8-byte aligned and may cross pages and segments (page
//    headers are skipped; even the 24-byte record header may be split).
//    XLogRecord: xl_tot_len u32, xl_xid u32, xl_prev u64 (start of the
//    previous record), xl_info u8, xl_rmid u8, 2 bytes padding, xl_crc u32:
//    CRC-32C of the bytes after the header, then of the header up to xl_crc.
//  - After the header: block headers (block id 0..32, in increasing order:
//    fork_flags u8, data_length u16; an image header bimg_len u16,
//    hole_offset u16, bimg_info u8 [+ hole_length u16 when compressed with a
//    hole] if BKPBLOCK_HAS_IMAGE 0x10; RelFileNode (3 × u32) unless
//    BKPBLOCK_SAME_REL 0x80; block number u32), optional origin (id 253, u16)
//    and top-level xid (id 252, u32), then the main data's length (id 255 +
//    u8, or 254 + u32). Then each block's image and data, in block order, and
//    the main data last.
//  - XLOG_SWITCH (resource manager 0, info 0x40) ends its segment: the rest
//    is unused and the next record starts on the next segment's first page.
//
// Contract:
//  - Segments are given whole, in order, without gaps. The first one is read
//    from its first record: the tail of a record continued from the segment
//    before is skipped, as pg_waldump does.
//  - on_record gets every record that ends in the segment given, once its
//    CRC, length and back link (xl_prev) check out; a record continued from
//    the previous segment is completed and reported by the call that reads
//    its end.
//  - The end of the valid WAL (zeroes, a page left from an older segment, a
//    record whose CRC or xl_prev does not match, a missing continuation) is
//    not an error: read_segment returns where and why, as PostgreSQL's reader
//    stops there, and reading is over (another read_segment is refused).
//  - A record whose CRC checks out but whose block headers do not parse
//    throws Error(corrupt) naming its LSN and what is wrong: pgvault does not
//    know what it changed, so a summary must not be built from it.
//  - Only WAL of PostgreSQL 15 with XLOG_BLCKSZ 8192 is read: another page
//    magic or block size throws Error(unsupported); a segment given out of
//    order or of the wrong size throws Error(invalid_argument).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

inline constexpr std::uint32_t kWalBlockSize = 8192;  // XLOG_BLCKSZ

// Resource managers whose records a summary reads beyond their block
// references (PostgreSQL 15's rmgrlist.h).
inline constexpr std::uint8_t kRmgrXlog = 0;
inline constexpr std::uint8_t kRmgrStorage = 2;
inline constexpr std::uint8_t kRmgrDatabase = 4;
inline constexpr std::uint8_t kXlogSwitch = 0x40;  // info of RM_XLOG_ID's XLOG_SWITCH

// The file a block belongs to: tablespace, database and relfilenode oids.
struct RelFileNode {
  std::uint32_t tablespace = 0;
  std::uint32_t database = 0;
  std::uint32_t relation = 0;
  auto operator<=>(const RelFileNode&) const = default;
};

struct WalBlockReference {
  std::uint8_t block_id = 0;
  RelFileNode node;
  std::uint8_t fork = 0;  // 0 main, 1 fsm, 2 visibility map, 3 init
  std::uint32_t block = 0;
  bool has_image = false;  // a full-page image
  bool will_init = false;  // redo initialises the page from scratch
};

struct WalRecord {
  Lsn lsn;  // where it starts
  Lsn end;  // just after its last byte
  std::uint32_t total_length = 0;
  std::uint8_t rmid = 0;
  std::uint8_t info = 0;  // xl_info: the high four bits are the resource manager's
  std::uint32_t xid = 0;
  std::vector<WalBlockReference> blocks;
  std::vector<std::byte> main_data;
};

// Where the valid WAL ends and why ("zeroes where a record should start").
struct WalEnd {
  Lsn lsn;
  std::string reason;
};

class WalRecordReader {
 public:
  // Throws Error(invalid_argument) for an impossible segment size.
  explicit WalRecordReader(std::uint64_t wal_segment_size);

  using OnRecord = std::function<void(const WalRecord&)>;
  // Reads segment segno (all of its wal_segment_size bytes): see the contract.
  std::optional<WalEnd> read_segment(WalSegmentNo segno, std::span<const std::byte> bytes,
                                     const OnRecord& on_record);
  // Whether a record begun in the segments read goes on in the next one.
  bool in_record() const { return record_length_ != 0; }

 private:
  struct Page;
  std::optional<WalEnd> read_page(const Page& page, const OnRecord& on_record);
  // Takes in a complete record's bytes: checks and reports it, or says why
  // the valid WAL ends at it.
  std::optional<WalEnd> finish_record(const OnRecord& on_record);

  std::uint64_t segment_size_;
  std::optional<WalSegmentNo> next_segment_;
  bool ended_ = false;
  bool skip_continuation_ = true;  // the first page read: skip a continued record's tail
  bool switched_ = false;          // an XLOG_SWITCH ended the current segment
  Lsn prev_record_;                // start of the last record reported (0: none yet)
  // The record being assembled.
  std::vector<std::byte> record_;
  std::uint32_t record_length_ = 0;  // 0: none in progress
  Lsn record_start_;
};

}  // namespace pgvault
