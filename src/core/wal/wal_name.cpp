#include "pgvault/wal/wal_name.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <cstdio>

namespace pgvault {

namespace {

constexpr std::string_view kAllowedNames =
    "allowed: a segment TTTTTTTTXXXXXXXXYYYYYYYY, TTTTTTTT.history, "
    "TTTTTTTTXXXXXXXXYYYYYYYY.OOOOOOOO.backup or TTTTTTTTXXXXXXXXYYYYYYYY.partial, "
    "in upper-case hexadecimal";

bool is_upper_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", v);
  return buf;
}

[[noreturn]] void bad_name(std::string_view text, const std::string& why) {
  throw Error(ErrorKind::invalid_argument, "invalid WAL file name \"" + quote_untrusted(text) +
                                               "\": " + why + " (" + std::string(kAllowedNames) +
                                               ")");
}

// Eight upper-case hex digits at text[pos..pos+8) as a number; the caller has
// checked the length.
std::uint32_t read_hex8(std::string_view text, std::size_t pos, std::string_view part) {
  std::uint32_t v = 0;
  for (std::size_t i = pos; i < pos + 8; ++i) {
    char c = text[i];
    if (!is_upper_hex(c)) {
      std::string why = std::string(part) + " has ";
      if (hex_digit_value(c) >= 0)
        why += "lower-case hexadecimal '" + std::string(1, c) + "'";
      else
        why += "'" + quote_untrusted(text.substr(i, 1)) + "', not a hexadecimal digit";
      why += " at position " + std::to_string(i + 1);
      bad_name(text, why);
    }
    v = v * 16 + static_cast<std::uint32_t>(hex_digit_value(c));
  }
  return v;
}

}  // namespace

std::string format_lsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn.value >> 32),
                static_cast<unsigned>(lsn.value & 0xFFFFFFFFu));
  return buf;
}

Lsn parse_lsn(std::string_view text) {
  auto bad = [&]() -> Error {
    return Error(ErrorKind::invalid_argument,
                 "invalid LSN \"" + quote_untrusted(text) +
                     "\" (expected the pg_lsn form X/Y: 1 to 8 hexadecimal digits, '/', "
                     "1 to 8 hexadecimal digits, e.g. 0/16B3748)");
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) throw bad();
  std::string_view hi = text.substr(0, slash), lo = text.substr(slash + 1);
  std::uint64_t parts[2] = {0, 0};
  int i = 0;
  for (std::string_view part : {hi, lo}) {
    if (part.empty() || part.size() > 8) throw bad();
    for (char c : part) {
      int v = hex_digit_value(c);
      if (v < 0) throw bad();
      parts[i] = parts[i] * 16 + static_cast<std::uint64_t>(v);
    }
    ++i;
  }
  return Lsn{(parts[0] << 32) | parts[1]};
}

void validate_wal_segment_size(std::uint64_t size) {
  bool power_of_two = size != 0 && (size & (size - 1)) == 0;
  if (!power_of_two || size < kMinWalSegmentSize || size > kMaxWalSegmentSize)
    throw Error(ErrorKind::invalid_argument,
                "invalid WAL segment size " + std::to_string(size) +
                    " bytes (allowed: a power of two from 1 MB to 1 GB, as initdb --wal-segsize)");
}

std::uint64_t wal_segments_per_xlog_id(std::uint64_t wal_segment_size) {
  validate_wal_segment_size(wal_segment_size);
  return (std::uint64_t{1} << 32) / wal_segment_size;
}

WalSegmentNo wal_segment_of(Lsn lsn, std::uint64_t wal_segment_size) {
  validate_wal_segment_size(wal_segment_size);
  return lsn.value / wal_segment_size;
}

Lsn wal_segment_start(WalSegmentNo segno, std::uint64_t wal_segment_size) {
  validate_wal_segment_size(wal_segment_size);
  if (segno > UINT64_MAX / wal_segment_size)
    throw Error(ErrorKind::invalid_argument, "WAL segment number " + std::to_string(segno) +
                                                 " is beyond the end of the WAL for " +
                                                 std::to_string(wal_segment_size) +
                                                 "-byte segments");
  return Lsn{segno * wal_segment_size};
}

std::string_view wal_file_kind_name(WalFileKind kind) {
  switch (kind) {
    case WalFileKind::segment:
      return "segment";
    case WalFileKind::history:
      return "history";
    case WalFileKind::backup_history:
      return "backup history";
    case WalFileKind::partial:
      return "partial";
  }
  return "segment";
}

namespace {

void check_timeline(TimelineId timeline) {
  if (timeline == 0)
    throw Error(ErrorKind::invalid_argument, "timeline 0 does not exist (timelines start at 1)");
}

}  // namespace

WalFileName WalFileName::segment(TimelineId timeline, WalSegmentNo segno,
                                 std::uint64_t wal_segment_size) {
  check_timeline(timeline);
  const std::uint64_t per_id = wal_segments_per_xlog_id(wal_segment_size);
  wal_segment_start(segno, wal_segment_size);  // refuses a segment past the end of the WAL
  return WalFileName(WalFileKind::segment, timeline, static_cast<std::uint32_t>(segno / per_id),
                     static_cast<std::uint32_t>(segno % per_id), 0);
}

WalFileName WalFileName::history(TimelineId timeline) {
  check_timeline(timeline);
  return WalFileName(WalFileKind::history, timeline, 0, 0, 0);
}

WalFileName WalFileName::backup_history(TimelineId timeline, WalSegmentNo segno,
                                        std::uint64_t wal_segment_size, std::uint32_t offset) {
  WalFileName n = segment(timeline, segno, wal_segment_size);
  if (offset >= wal_segment_size)
    throw Error(ErrorKind::invalid_argument,
                "backup start offset " + std::to_string(offset) + " is not inside a " +
                    std::to_string(wal_segment_size) + "-byte segment");
  n.kind_ = WalFileKind::backup_history;
  n.offset_ = offset;
  return n;
}

WalFileName WalFileName::partial(TimelineId timeline, WalSegmentNo segno,
                                 std::uint64_t wal_segment_size) {
  WalFileName n = segment(timeline, segno, wal_segment_size);
  n.kind_ = WalFileKind::partial;
  return n;
}

std::string WalFileName::name() const {
  switch (kind_) {
    case WalFileKind::history:
      return hex8(timeline_) + ".history";
    case WalFileKind::backup_history:
      return segment_name() + "." + hex8(offset_) + ".backup";
    case WalFileKind::partial:
      return segment_name() + ".partial";
    case WalFileKind::segment:
      break;
  }
  return segment_name();
}

std::string WalFileName::segment_name() const {
  if (!has_segment())
    throw Error(ErrorKind::invalid_argument,
                "timeline history file " + hex8(timeline_) + ".history has no segment");
  return hex8(timeline_) + hex8(log_) + hex8(seg_);
}

WalSegmentNo WalFileName::segment_no(std::uint64_t wal_segment_size) const {
  if (!has_segment()) segment_name();  // throws: a history file has no segment
  const std::uint64_t per_id = wal_segments_per_xlog_id(wal_segment_size);
  if (seg_ >= per_id)
    throw Error(ErrorKind::invalid_argument, "WAL file " + name() + " cannot exist with " +
                                                 std::to_string(wal_segment_size >> 20) +
                                                 " MB segments: its last 8 digits must be below " +
                                                 hex8(static_cast<std::uint32_t>(per_id)) +
                                                 " (is the segment size right?)");
  return std::uint64_t{log_} * per_id + seg_;
}

Lsn WalFileName::start_lsn(std::uint64_t wal_segment_size) const {
  return wal_segment_start(segment_no(wal_segment_size), wal_segment_size);
}

WalFileName WalFileName::next_segment(std::uint64_t wal_segment_size) const {
  return segment(timeline_, segment_no(wal_segment_size) + 1, wal_segment_size);
}

WalFileName WalFileName::previous_segment(std::uint64_t wal_segment_size) const {
  WalSegmentNo segno = segment_no(wal_segment_size);
  if (segno == 0)
    throw Error(ErrorKind::invalid_argument,
                "WAL segment " + segment_name() + " is the first one: it has no previous segment");
  return segment(timeline_, segno - 1, wal_segment_size);
}

WalFileName parse_wal_file_name(std::string_view text) {
  constexpr std::string_view kHistory = ".history", kPartial = ".partial", kBackup = ".backup";
  if (text.empty()) bad_name(text, "it is empty");
  if (text.find('/') != std::string_view::npos || text.find('\\') != std::string_view::npos)
    bad_name(text, "it contains a path separator");

  WalFileKind kind;
  if (text.size() == 8 + kHistory.size() && text.ends_with(kHistory))
    kind = WalFileKind::history;
  else if (text.size() == 24)
    kind = WalFileKind::segment;
  else if (text.size() == 24 + kPartial.size() && text.ends_with(kPartial))
    kind = WalFileKind::partial;
  else if (text.size() == 24 + 1 + 8 + kBackup.size() && text[24] == '.' && text.ends_with(kBackup))
    kind = WalFileKind::backup_history;
  else
    bad_name(text,
             "its length (" + std::to_string(text.size()) + ") and suffix match no WAL file name");

  const TimelineId timeline = read_hex8(text, 0, "the timeline (first 8 characters)");
  if (timeline == 0) bad_name(text, "timeline 00000000 does not exist (timelines start at 1)");
  if (kind == WalFileKind::history) return WalFileName(kind, timeline, 0, 0, 0);
  const std::uint32_t log = read_hex8(text, 8, "the log number (characters 9 to 16)");
  const std::uint32_t seg = read_hex8(text, 16, "the segment (characters 17 to 24)");
  std::uint32_t offset = 0;
  if (kind == WalFileKind::backup_history)
    offset = read_hex8(text, 25, "the backup offset (characters 26 to 33)");
  return WalFileName(kind, timeline, log, seg, offset);
}

}  // namespace pgvault
