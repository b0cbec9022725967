// Reading PostgreSQL 15 WAL records (wal_records.hpp). The checks and the
// decoding follow PostgreSQL 15's xlogreader.c (XLogReadRecord,
// ValidXLogRecordHeader, ValidXLogRecord, DecodeXLogRecord).
#include "pgvault/wal/wal_records.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/wal/wal_page_header.hpp"

#include <algorithm>
#include <cstdio>

namespace pgvault {

namespace {

constexpr std::size_t kShortPageHeaderSize = 24;  // SizeOfXLogShortPHD
constexpr std::size_t kRecordHeaderSize = 24;     // SizeOfXLogRecord
constexpr std::size_t kRecordCrcOffset = 20;      // offsetof(XLogRecord, xl_crc)
constexpr std::uint16_t kContRecord = 0x0001;     // XLP_FIRST_IS_CONTRECORD
constexpr std::uint16_t kOverwriteContRecord = 0x0008;
// XLogRecordMaxSize: PostgreSQL never writes a larger record.
constexpr std::uint32_t kMaxRecordLength = 1020u * 1024 * 1024;

constexpr std::uint8_t kBlockIdDataShort = 255;
constexpr std::uint8_t kBlockIdDataLong = 254;
constexpr std::uint8_t kBlockIdOrigin = 253;
constexpr std::uint8_t kBlockIdToplevelXid = 252;
constexpr std::uint8_t kMaxBlockId = 32;

constexpr std::uint8_t kForkMask = 0x0F;                       // BKPBLOCK_FORK_MASK
constexpr std::uint8_t kHasImage = 0x10;                       // BKPBLOCK_HAS_IMAGE
constexpr std::uint8_t kHasData = 0x20;                        // BKPBLOCK_HAS_DATA
constexpr std::uint8_t kWillInit = 0x40;                       // BKPBLOCK_WILL_INIT
constexpr std::uint8_t kSameRel = 0x80;                        // BKPBLOCK_SAME_REL
constexpr std::uint8_t kImageHasHole = 0x01;                   // BKPIMAGE_HAS_HOLE
constexpr std::uint8_t kImageCompressed = 0x04 | 0x08 | 0x10;  // PGLZ, LZ4, ZSTD
constexpr std::uint8_t kMaxFork = 3;                           // INIT_FORKNUM

std::uint64_t max_align(std::uint64_t n) {
  return (n + 7) & ~std::uint64_t{7};
}

// Reads the block headers of a record whose CRC checked out.
class RecordDecoder {
 public:
  RecordDecoder(std::span<const std::byte> record, Lsn lsn) : rec_(record), lsn_(lsn) {}

  void decode(WalRecord& out) {
    std::size_t pos = kRecordHeaderSize;
    std::uint64_t remaining = rec_.size() - kRecordHeaderSize;
    std::uint64_t datatotal = 0;
    std::uint64_t main_length = 0;
    int last_block_id = -1;
    std::optional<RelFileNode> last_node;  // for BKPBLOCK_SAME_REL
    auto take = [&](std::size_t n, const char* what) {
      if (remaining < n) fail(std::string("truncated header (") + what + ")");
      const std::byte* p = rec_.data() + pos;
      pos += n;
      remaining -= n;
      return p;
    };
    while (remaining > datatotal) {
      const auto block_id = std::to_integer<std::uint8_t>(*take(1, "block id"));
      if (block_id == kBlockIdDataShort) {
        main_length = std::to_integer<std::uint8_t>(*take(1, "main data length"));
        datatotal += main_length;
        break;  // the main data header is always last
      }
      if (block_id == kBlockIdDataLong) {
        main_length = load_le<std::uint32_t>(take(4, "main data length"));
        datatotal += main_length;
        break;
      }
      if (block_id == kBlockIdOrigin) {
        take(2, "replication origin");
        continue;
      }
      if (block_id == kBlockIdToplevelXid) {
        take(4, "top-level transaction id");
        continue;
      }
      if (block_id > kMaxBlockId) fail("invalid block id " + std::to_string(block_id));
      if (static_cast<int>(block_id) <= last_block_id)
        fail("block id " + std::to_string(block_id) + " out of order");
      last_block_id = block_id;
      WalBlockReference ref;
      ref.block_id = block_id;
      const auto fork_flags = std::to_integer<std::uint8_t>(*take(1, "fork and flags"));
      const std::uint16_t data_length = load_le<std::uint16_t>(take(2, "block data length"));
      ref.fork = fork_flags & kForkMask;
      if (ref.fork > kMaxFork)
        fail("block " + std::to_string(block_id) + " has fork " + std::to_string(ref.fork));
      ref.has_image = (fork_flags & kHasImage) != 0;
      ref.will_init = (fork_flags & kWillInit) != 0;
      const bool has_data = (fork_flags & kHasData) != 0;
      if (has_data != (data_length != 0))
        fail("block " + std::to_string(block_id) + " has data length " +
             std::to_string(data_length) + " with BKPBLOCK_HAS_DATA " +
             (has_data ? "set" : "unset"));
      datatotal += data_length;
      if (ref.has_image) {
        const std::byte* h = take(5, "block image header");
        const std::uint16_t image_length = load_le<std::uint16_t>(h);
        const std::uint16_t hole_offset = load_le<std::uint16_t>(h + 2);
        const auto image_info = std::to_integer<std::uint8_t>(h[4]);
        const bool hole = (image_info & kImageHasHole) != 0;
        const bool compressed = (image_info & kImageCompressed) != 0;
        std::uint32_t hole_length = 0;
        if (hole && compressed)
          hole_length = load_le<std::uint16_t>(take(2, "block image hole length"));
        else if (hole)
          hole_length = kWalBlockSize - image_length;
        const bool consistent =
            hole ? hole_offset != 0 && hole_length != 0 && image_length != kWalBlockSize
                 : hole_offset == 0 &&
                       (compressed ? image_length != kWalBlockSize : image_length == kWalBlockSize);
        if (!consistent || image_length > kWalBlockSize)
          fail("block " + std::to_string(block_id) + " has an inconsistent page image (length " +
               std::to_string(image_length) + ", hole at " + std::to_string(hole_offset) + ")");
        datatotal += image_length;
      }
      if ((fork_flags & kSameRel) == 0) {
        const std::byte* n = take(12, "relation");
        ref.node = {load_le<std::uint32_t>(n), load_le<std::uint32_t>(n + 4),
                    load_le<std::uint32_t>(n + 8)};
      } else {
        if (!last_node)
          fail("block " + std::to_string(block_id) +
               " says BKPBLOCK_SAME_REL with no relation before it");
        ref.node = *last_node;
      }
      ref.block = load_le<std::uint32_t>(take(4, "block number"));
      last_node = ref.node;
      out.blocks.push_back(ref);
    }
    if (remaining != datatotal)
      fail("its headers leave " + std::to_string(remaining) + " bytes for " +
           std::to_string(datatotal) + " bytes of data");
    const std::byte* main = rec_.data() + rec_.size() - main_length;
    out.main_data.assign(main, main + main_length);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::corrupt,
                "WAL record at " + format_lsn(lsn_) + " cannot be decoded: " + what);
  }
  std::span<const std::byte> rec_;
  Lsn lsn_;
};

}  // namespace

struct WalRecordReader::Page {
  Lsn lsn;
  std::uint16_t info = 0;
  std::uint32_t remaining_length = 0;  // xlp_rem_len
  std::span<const std::byte> data;     // after the header
  std::size_t header_size = 0;
};

WalRecordReader::WalRecordReader(std::uint64_t wal_segment_size) : segment_size_(wal_segment_size) {
  validate_wal_segment_size(wal_segment_size);
}

std::optional<WalEnd> WalRecordReader::read_segment(WalSegmentNo segno,
                                                    std::span<const std::byte> bytes,
                                                    const OnRecord& on_record) {
  if (ended_)
    throw Error(ErrorKind::invalid_argument,
                "the WAL ended in an earlier segment; nothing follows");
  if (bytes.size() != segment_size_)
    throw Error(ErrorKind::invalid_argument, "a WAL segment of " + std::to_string(bytes.size()) +
                                                 " bytes was given, expected " +
                                                 std::to_string(segment_size_));
  if (next_segment_ && segno != *next_segment_)
    throw Error(ErrorKind::invalid_argument,
                "WAL segment " + std::to_string(segno) + " was given after segment " +
                    std::to_string(*next_segment_ - 1) + "; segments must follow one another");
  next_segment_ = segno + 1;
  switched_ = false;
  const Lsn start = wal_segment_start(segno, segment_size_);
  for (std::size_t offset = 0; offset < bytes.size() && !switched_; offset += kWalBlockSize) {
    const auto raw = bytes.subspan(offset, kWalBlockSize);
    Page page;
    page.lsn = Lsn{start.value + offset};
    const auto magic = load_le<std::uint16_t>(raw.data());
    page.info = load_le<std::uint16_t>(raw.data() + 2);
    const Lsn page_address{load_le<std::uint64_t>(raw.data() + 8)};
    page.remaining_length = load_le<std::uint32_t>(raw.data() + 16);
    page.header_size = offset == 0 ? kWalLongPageHeaderSize : kShortPageHeaderSize;
    // What pg_waldump and recovery accept as the next page of this WAL.
    auto end = [&](const std::string& why) {
      ended_ = true;
      return WalEnd{record_length_ != 0 ? record_start_ : page.lsn, why};
    };
    if (magic == 0 && page_address.value == 0) return end("zeroes where a page should start");
    if (page_address != page.lsn)
      return end("the page at " + format_lsn(page.lsn) +
                 " is left from an older segment (it says " + format_lsn(page_address) + ")");
    if (magic != kWalPageMagicPg15) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", magic);
      throw Error(ErrorKind::unsupported, "WAL page at " + format_lsn(page.lsn) + " has magic 0x" +
                                              hex + ": only PostgreSQL 15 WAL (0xD110) is read");
    }
    if ((page.info & ~kWalPageAllFlags) != 0 ||
        ((page.info & kWalPageLongHeader) != 0) != (offset == 0))
      return end("the page at " + format_lsn(page.lsn) + " has invalid flags");
    if (offset == 0) {
      const WalLongPageHeader h = read_wal_long_page_header(raw);
      if (h.segment_size != segment_size_ || h.block_size != kWalBlockSize)
        throw Error(ErrorKind::unsupported,
                    "WAL segment " + std::to_string(segno) + " has segment size " +
                        std::to_string(h.segment_size) + " and page size " +
                        std::to_string(h.block_size) + "; expected " +
                        std::to_string(segment_size_) + " and " + std::to_string(kWalBlockSize));
    }
    page.data = raw.subspan(page.header_size);
    if (auto e = read_page(page, on_record)) {
      ended_ = true;
      return e;
    }
  }
  return std::nullopt;
}

std::optional<WalEnd> WalRecordReader::read_page(const Page& page, const OnRecord& on_record) {
  std::size_t pos = 0;  // in page.data
  const bool continued = (page.info & kContRecord) != 0;
  if (skip_continuation_) {
    // The first page read: a continued record's tail belongs to a record
    // that started before what we were given.
    if (continued) {
      if (page.header_size + max_align(page.remaining_length) >= kWalBlockSize) return std::nullopt;
      pos = max_align(page.remaining_length);
    }
    skip_continuation_ = false;
  } else if (record_length_ != 0) {
    if (!continued) {
      if ((page.info & kOverwriteContRecord) != 0) {
        // Crash recovery abandoned the incomplete record: it never happened,
        // and what follows does not link back to a record read here.
        record_length_ = 0;
        record_.clear();
        prev_record_ = Lsn{};
      } else {
        return WalEnd{record_start_, "the record at " + format_lsn(record_start_) +
                                         " is not continued on the next page"};
      }
    } else {
      const std::size_t missing = record_length_ - record_.size();
      if (page.remaining_length != missing)
        return WalEnd{record_start_, "the continuation of the record at " +
                                         format_lsn(record_start_) + " has length " +
                                         std::to_string(page.remaining_length) + ", expected " +
                                         std::to_string(missing)};
      const std::size_t n = std::min(missing, page.data.size());
      record_.insert(record_.end(), page.data.begin(), page.data.begin() + n);
      if (record_.size() < record_length_) return std::nullopt;  // goes on after this page
      if (auto e = finish_record(on_record)) return e;
      if (switched_) return std::nullopt;
      pos = max_align(n);
    }
  }
  while (pos < page.data.size()) {
    record_start_ = Lsn{page.lsn.value + page.header_size + pos};
    const std::size_t available = page.data.size() - pos;
    const std::uint32_t length = load_le<std::uint32_t>(page.data.data() + pos);
    if (length == 0) return WalEnd{record_start_, "zeroes where a record should start"};
    if (length < kRecordHeaderSize || length > kMaxRecordLength)
      return WalEnd{record_start_, "invalid record length " + std::to_string(length) + " at " +
                                       format_lsn(record_start_)};
    const std::size_t n = std::min<std::size_t>(length, available);
    record_.assign(page.data.begin() + static_cast<std::ptrdiff_t>(pos),
                   page.data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    record_length_ = length;
    if (n < length) return std::nullopt;  // continued on the next page
    if (auto e = finish_record(on_record)) return e;
    if (switched_) return std::nullopt;
    pos += max_align(length);
  }
  return std::nullopt;
}

std::optional<WalEnd> WalRecordReader::finish_record(const OnRecord& on_record) {
  const std::span<const std::byte> rec(record_);
  const Lsn start = record_start_;
  record_length_ = 0;
  const Lsn prev{load_le<std::uint64_t>(rec.data() + 8)};
  if (prev_record_.value != 0 && prev != prev_record_)
    return WalEnd{start, "the record at " + format_lsn(start) + " links back to " +
                             format_lsn(prev) + ", not to " + format_lsn(prev_record_)};
  Crc32c crc;
  crc.update(rec.subspan(kRecordHeaderSize));
  crc.update(rec.subspan(0, kRecordCrcOffset));
  if (crc.value() != load_le<std::uint32_t>(rec.data() + kRecordCrcOffset))
    return WalEnd{start, "the record at " + format_lsn(start) + " fails its CRC"};
  WalRecord r;
  r.lsn = start;
  r.total_length = static_cast<std::uint32_t>(rec.size());
  r.xid = load_le<std::uint32_t>(rec.data() + 4);
  r.info = std::to_integer<std::uint8_t>(rec[16]);
  r.rmid = std::to_integer<std::uint8_t>(rec[17]);
  // The end counts the page headers the record crossed.
  std::uint64_t at = start.value, left = rec.size();
  for (;;) {
    const std::uint64_t page_end = (at / kWalBlockSize + 1) * kWalBlockSize;
    if (left <= page_end - at) {
      at += left;
      break;
    }
    left -= page_end - at;
    at = page_end + (page_end % segment_size_ == 0 ? kWalLongPageHeaderSize : kShortPageHeaderSize);
  }
  r.end = Lsn{at};
  RecordDecoder(rec, start).decode(r);
  prev_record_ = start;
  switched_ = r.rmid == kRmgrXlog && (r.info & 0xF0) == kXlogSwitch;
  on_record(r);
  return std::nullopt;
}

}  // namespace pgvault
