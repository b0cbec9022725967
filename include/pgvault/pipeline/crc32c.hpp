#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

// Incremental CRC-32C (Castagnoli), the checksum PostgreSQL's backup_manifest
// uses by default. It detects corruption of restored files (every burst of up
// to 32 bits, and any other damage but with 2^-32 odds), at memory speed
// (ISA-L's crc32_iscsi, SSE4.2/PCLMUL). It is no tamper evidence: that is the
// SHA-256 of each stored object in backup.json.
class Crc32c {
 public:
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  std::uint32_t value() const { return ~state_; }
  // As PostgreSQL writes it into backup_manifest: the 4 bytes of the CRC in
  // the server's memory order (little-endian here), in lower-case hex.
  std::string manifest_hex() const;

 private:
  std::uint32_t state_ = 0xFFFFFFFFu;
};

std::string crc32c_manifest_hex(std::string_view data);

}  // namespace pgvault
