#include "pgvault/pipeline/crc32c.hpp"

#include "pgvault/text.hpp"

#include <isa-l/crc.h>

#include <climits>

namespace pgvault {

namespace {

// ISA-L takes the running register as it is (no inversion in or out) and a
// 64-bit length only on some versions: feed at most 1 GiB a call.
constexpr std::size_t kMaxCall = 1u << 30;

std::uint32_t crc_update(std::uint32_t state, const unsigned char* p, std::size_t n) {
  while (n > 0) {
    const std::size_t part = n < kMaxCall ? n : kMaxCall;
    state = crc32_iscsi(const_cast<unsigned char*>(p), static_cast<int>(part), state);
    p += part;
    n -= part;
  }
  return state;
}

}  // namespace

void Crc32c::update(std::span<const std::byte> data) {
  state_ = crc_update(state_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

void Crc32c::update(std::string_view data) {
  state_ = crc_update(state_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::string Crc32c::manifest_hex() const {
  const std::uint32_t v = value();
  const char bytes[4] = {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF),
                         static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 24) & 0xFF)};
  return hex(std::string_view(bytes, 4));
}

std::string crc32c_manifest_hex(std::string_view data) {
  Crc32c c;
  c.update(data);
  return c.manifest_hex();
}

}  // namespace pgvault
