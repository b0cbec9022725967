// WAL segments as PostgreSQL 15 writes them, built byte by byte for the unit
// tests of archiving, fetching and verifying (the layout is
// wal_page_header.hpp's; src/core/wal/README.md says how it was checked
// against a real server). 1 MB segments keep the tests quick.
#pragma once

#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_page_header.hpp"

#include <cstdint>
#include <string>

namespace pgvault::wal_test {

inline constexpr std::uint64_t kSegSize = kMinWalSegmentSize;
inline constexpr std::uint64_t kSegmentSysid = 7315123456789012345ULL;

// The segment called `name` of system `sysid`: the long page header
// (little-endian) and then `fill` every 97 bytes, so that different fills
// make different contents.
inline std::string segment_bytes(const std::string& name, std::uint64_t sysid = kSegmentSysid,
                                 char fill = 'r') {
  const WalFileName file = parse_wal_file_name(name);
  std::string b(kSegSize, '\0');
  for (std::size_t i = 64; i < b.size(); i += 97) b[i] = fill;
  auto put = [&](std::size_t off, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) b[off + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  put(0, kWalPageMagicPg15, 2);
  put(2, kWalPageLongHeader, 2);
  put(4, file.timeline(), 4);
  put(8, file.start_lsn(kSegSize).value, 8);
  put(24, sysid, 8);
  put(32, kSegSize, 4);
  put(36, 8192, 4);
  return b;
}

}  // namespace pgvault::wal_test
