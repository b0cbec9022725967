// WAL file names and positions, as PostgreSQL 15 writes them (xlog_internal.h:
// XLogFileName, TLHistoryFileName, BackupHistoryFileName, XLByteToSeg).
//
// Contract:
//  - parse_wal_file_name accepts exactly the four names PostgreSQL hands to
//    archive_command/archive_library (%f) and asks for in restore_command:
//      segment         TTTTTTTTXXXXXXXXYYYYYYYY
//      history         TTTTTTTT.history
//      backup history  TTTTTTTTXXXXXXXXYYYYYYYY.OOOOOOOO.backup
//      partial         TTTTTTTTXXXXXXXXYYYYYYYY.partial
//    with upper-case hexadecimal digits and nothing else (no '/', no other
//    length, no lower case, timeline 0 refused), so a parsed name is safe to
//    use as one component of a local path or an object key. Anything else
//    throws Error(invalid_argument) saying what is wrong and what is allowed.
//  - A segment number (XLogSegNo) depends on wal_segment_size: a power of two
//    from 1 MB to 1 GB. XXXXXXXX * (4 GiB / size) + YYYYYYYY is the segment
//    number; YYYYYYYY must be below 4 GiB / size.
//  - Lsn is an XLogRecPtr; its text form is pg_lsn's ("16/B374D848").
//  - WalFileName orders as PostgreSQL's names sort as text (timeline, then
//    position; a history file before the segments of its timeline).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/text.hpp"  // quote_untrusted

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgvault {

using TimelineId = std::uint32_t;
using WalSegmentNo = std::uint64_t;

// A position in the WAL (XLogRecPtr).
struct Lsn {
  std::uint64_t value = 0;
  auto operator<=>(const Lsn&) const = default;
};

// pg_lsn's output: "%X/%X" (upper-case hex, no leading zeros), e.g. "0/16B3748".
std::string format_lsn(Lsn lsn);
// pg_lsn's input: 1..8 hex digits (either case), '/', 1..8 hex digits, nothing
// else. Throws Error(invalid_argument) naming the text and the expected form.
Lsn parse_lsn(std::string_view text);

inline constexpr std::uint64_t kMinWalSegmentSize = std::uint64_t{1} << 20;  // 1 MB
inline constexpr std::uint64_t kMaxWalSegmentSize = std::uint64_t{1} << 30;  // 1 GB
inline constexpr std::uint64_t kDefaultWalSegmentSize = std::uint64_t{16} << 20;

// Throws Error(invalid_argument) unless size is a power of two in 1 MB..1 GB
// (what initdb --wal-segsize allows).
void validate_wal_segment_size(std::uint64_t wal_segment_size);
// XLogSegmentsPerXLogId: segments per XXXXXXXX value (4 GiB / size).
std::uint64_t wal_segments_per_xlog_id(std::uint64_t wal_segment_size);
// XLByteToSeg: the segment that holds the byte at lsn.
WalSegmentNo wal_segment_of(Lsn lsn, std::uint64_t wal_segment_size);
// XLogSegNoOffsetToRecPtr(segno, 0): the LSN of the segment's first byte.
// Throws Error(invalid_argument) when that LSN does not fit in 64 bits.
Lsn wal_segment_start(WalSegmentNo segno, std::uint64_t wal_segment_size);

enum class WalFileKind { segment, history, backup_history, partial };
// "segment", "history", "backup history", "partial".
std::string_view wal_file_kind_name(WalFileKind kind);

class WalFileName {
 public:
  static WalFileName segment(TimelineId timeline, WalSegmentNo segno,
                             std::uint64_t wal_segment_size);
  static WalFileName history(TimelineId timeline);
  static WalFileName backup_history(TimelineId timeline, WalSegmentNo segno,
                                    std::uint64_t wal_segment_size, std::uint32_t offset);
  static WalFileName partial(TimelineId timeline, WalSegmentNo segno,
                             std::uint64_t wal_segment_size);

  WalFileKind kind() const { return kind_; }
  TimelineId timeline() const { return timeline_; }
  // The XXXXXXXX and YYYYYYYY parts (0 for a history file).
  std::uint32_t log_id() const { return log_; }
  std::uint32_t log_segment() const { return seg_; }
  // The OOOOOOOO part of a .backup name: the backup's start offset in its segment.
  std::uint32_t backup_offset() const { return offset_; }
  bool has_segment() const { return kind_ != WalFileKind::history; }

  // The full file name, exactly as PostgreSQL writes it.
  std::string name() const;
  // The 24-character segment name (TTTTTTTTXXXXXXXXYYYYYYYY) of a segment,
  // .backup or .partial file; throws Error(invalid_argument) for a history file.
  std::string segment_name() const;
  // The segment number; throws Error(invalid_argument) for a history file or
  // when YYYYYYYY is impossible for this segment size (e.g. 00000100 at 16 MB).
  WalSegmentNo segment_no(std::uint64_t wal_segment_size) const;
  // The LSN of the first byte of the segment (see segment_no for errors).
  Lsn start_lsn(std::uint64_t wal_segment_size) const;
  // The segment after / before this one on the same timeline, as a plain
  // segment name. previous_segment throws Error(invalid_argument) at segment 0.
  WalFileName next_segment(std::uint64_t wal_segment_size) const;
  WalFileName previous_segment(std::uint64_t wal_segment_size) const;

  std::strong_ordering operator<=>(const WalFileName& other) const {
    return name() <=> other.name();
  }
  bool operator==(const WalFileName& other) const { return name() == other.name(); }

 private:
  friend WalFileName parse_wal_file_name(std::string_view text);
  WalFileName(WalFileKind kind, TimelineId timeline, std::uint32_t log, std::uint32_t seg,
              std::uint32_t offset)
      : kind_(kind), timeline_(timeline), log_(log), seg_(seg), offset_(offset) {}

  WalFileKind kind_;
  TimelineId timeline_;
  std::uint32_t log_;
  std::uint32_t seg_;
  std::uint32_t offset_;
};

// Throws Error(invalid_argument): 'invalid WAL file name "<text>": <why> (allowed: ...)'.
// The text is shown with control and non-ASCII bytes escaped, since it may come
// from a repository listing or a command line.
WalFileName parse_wal_file_name(std::string_view text);

}  // namespace pgvault
