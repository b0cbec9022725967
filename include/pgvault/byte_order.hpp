// Fixed-width little-endian integers in byte buffers: PostgreSQL's on-disk
// structures (WAL page headers, data pages) are in the byte order of the
// machine that wrote them, which for every platform pgvault is built for is
// little-endian, and pgvault's own incremental file format is little-endian
// by definition. Byte by byte, so alignment never matters.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace pgvault {

template <typename T>
requires std::is_unsigned_v<T>
constexpr T load_le(const std::byte* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(std::to_integer<T>(p[i]) << (8 * i));
  return v;
}

template <typename T>
requires std::is_unsigned_v<T>
constexpr void store_le(std::byte* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}

}  // namespace pgvault
