#include "pgvault/wal/wal_page_header.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"

#include <bit>
#include <cstdio>

namespace pgvault {

static_assert(std::endian::native == std::endian::little,
              "WAL page headers are read as little-endian: PostgreSQL writes them in native order");

namespace {

std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

std::string magic_description(std::uint16_t magic) {
  auto major = postgres_major_for_wal_magic(magic);
  return hex4(magic) + (major ? " (PostgreSQL " + std::to_string(*major) + ")"
                              : std::string(" (no PostgreSQL version pgvault knows)"));
}

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " kB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

WalLongPageHeader read_wal_long_page_header(std::span<const std::byte> bytes) {
  if (bytes.size() < kWalLongPageHeaderSize)
    throw Error(ErrorKind::corrupt, "a WAL long page header needs " +
                                        std::to_string(kWalLongPageHeaderSize) + " bytes, got " +
                                        std::to_string(bytes.size()));
  WalLongPageHeader h;
  h.magic = load_le<std::uint16_t>(bytes.data() + 0);
  h.info = load_le<std::uint16_t>(bytes.data() + 2);
  h.timeline = load_le<std::uint32_t>(bytes.data() + 4);
  h.page_address = Lsn{load_le<std::uint64_t>(bytes.data() + 8)};
  h.remaining_length = load_le<std::uint32_t>(bytes.data() + 16);
  h.system_identifier = load_le<std::uint64_t>(bytes.data() + 24);
  h.segment_size = load_le<std::uint32_t>(bytes.data() + 32);
  h.block_size = load_le<std::uint32_t>(bytes.data() + 36);
  return h;
}

std::optional<int> postgres_major_for_wal_magic(std::uint16_t magic) {
  switch (magic) {
    case 0xD101:
      return 12;
    case 0xD106:
      return 13;
    case 0xD10D:
      return 14;
    case 0xD110:
      return 15;
    case 0xD113:
      return 16;
    case 0xD116:
      return 17;
    default:
      return std::nullopt;
  }
}

void validate_wal_segment_header(const WalFileName& file, std::span<const std::byte> head,
                                 const WalSegmentExpectation& expected,
                                 std::optional<std::uint64_t> file_size) {
  const std::string name = file.name();
  if (file.kind() != WalFileKind::segment && file.kind() != WalFileKind::partial)
    throw Error(ErrorKind::invalid_argument, name + " is a " +
                                                 std::string(wal_file_kind_name(file.kind())) +
                                                 " file, which has no WAL page header to check");
  auto corrupt = [&](const std::string& what) -> Error {
    return Error(ErrorKind::corrupt, "WAL file " + name + " " + what);
  };
  validate_wal_segment_size(expected.segment_size);
  if (file_size && *file_size != expected.segment_size)
    throw corrupt("is " + std::to_string(*file_size) +
                  " bytes long, but a WAL segment of this "
                  "cluster is " +
                  std::to_string(expected.segment_size) +
                  " bytes: it is truncated or not a WAL segment");
  if (head.size() < kWalLongPageHeaderSize)
    throw corrupt("is too short for a WAL page header (" + std::to_string(head.size()) +
                  " bytes, at least " + std::to_string(kWalLongPageHeaderSize) + " needed)");

  const WalLongPageHeader h = read_wal_long_page_header(head);
  if (h.magic != expected.magic)
    throw corrupt("has WAL page magic " + magic_description(h.magic) + ", expected " +
                  magic_description(expected.magic) +
                  ": it was written by another PostgreSQL version or is not WAL");
  if ((h.info & kWalPageLongHeader) == 0)
    throw corrupt("does not start with a long page header (xlp_info " + hex4(h.info) +
                  " lacks XLP_LONG_HEADER 0x0002): it is not the start of a WAL segment");
  if ((h.info & ~kWalPageAllFlags) != 0)
    throw corrupt("has unknown page flags (xlp_info " + hex4(h.info) + ", known flags " +
                  hex4(kWalPageAllFlags) + ")");
  if (h.system_identifier != expected.system_identifier)
    throw Error(ErrorKind::conflict,
                name + " belongs to database system " + std::to_string(h.system_identifier) +
                    " but this cluster is " + std::to_string(expected.system_identifier) +
                    ": another cluster writes into this WAL directory or repository");
  if (h.segment_size != expected.segment_size)
    throw corrupt("says its segment size is " + size_text(h.segment_size) +
                  ", but this cluster's wal_segment_size is " + size_text(expected.segment_size));
  const bool block_power_of_two = h.block_size != 0 && (h.block_size & (h.block_size - 1)) == 0;
  if (!block_power_of_two || h.block_size < kMinWalBlockSize || h.block_size > kMaxWalBlockSize ||
      expected.segment_size % h.block_size != 0)
    throw corrupt("says its WAL block size is " + std::to_string(h.block_size) +
                  " bytes (allowed: a power of two from 1 kB to 64 kB)");

  const Lsn start = file.start_lsn(expected.segment_size);
  if (h.page_address != start) {
    std::string found = "page address " + format_lsn(h.page_address);
    if (h.page_address.value % expected.segment_size == 0 && h.page_address < start)
      found += ", the start of segment " +
               WalFileName::segment(h.timeline == 0 ? 1 : h.timeline,
                                    wal_segment_of(h.page_address, expected.segment_size),
                                    expected.segment_size)
                   .segment_name() +
               ": a recycled segment that was never written again";
    throw corrupt("starts at " + found + ", but its name says " + format_lsn(start));
  }
  if (h.timeline == 0 || h.timeline > file.timeline())
    throw corrupt("has its first page on timeline " + std::to_string(h.timeline) +
                  ", but its name says timeline " + std::to_string(file.timeline()) +
                  " (a page can only come from that timeline or an ancestor)");
}

}  // namespace pgvault
