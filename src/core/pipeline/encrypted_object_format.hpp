// Internal to src/core/pipeline: the encrypted object's header, as the
// sealing and opening streams (encrypted_object_streams.cpp) build and read
// it. The format is documented in src/core/pipeline/README.md.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "encryption_support.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pgvault::encryption_internal {

inline constexpr std::string_view kMagic = "PGVLTENC";
inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::uint8_t kCipherAes256GcmHkdfSha256 = 1;
inline constexpr std::size_t kObjectSaltSize = 32;
inline constexpr std::size_t kChecksumSize = 8;

// Header layout: offsets of its fields.
namespace at {
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t version = 8;
inline constexpr std::size_t cipher = 9;
inline constexpr std::size_t derivation = 10;
inline constexpr std::size_t log2_n = 11;
inline constexpr std::size_t scrypt_r = 12;
inline constexpr std::size_t scrypt_p = 16;
inline constexpr std::size_t chunk_size = 20;
inline constexpr std::size_t salt = 24;
inline constexpr std::size_t object_salt = salt + kPassphraseSaltSize;
inline constexpr std::size_t fingerprint = object_salt + kObjectSaltSize;
inline constexpr std::size_t checksum = fingerprint + kFingerprintSize;
}  // namespace at
static_assert(at::checksum + kChecksumSize == kEncryptionHeaderSize);

using Header = std::array<std::byte, kEncryptionHeaderSize>;

struct ParsedHeader {
  EncryptionHeader info;
  std::array<std::byte, kObjectSaltSize> object_salt;
};

// The header of a new object encrypted with key.
Header build_header(const EncryptionKey& key, std::uint32_t chunk_size,
                    std::span<const std::byte, kObjectSaltSize> object_salt);
// Throws Error(corrupt) for anything but a valid header, Error(unsupported)
// for a newer format version, cipher suite or key derivation.
ParsedHeader parse_header(std::span<const std::byte> bytes);
// Whether bytes (possibly fewer than the magic) start like an encrypted object.
bool magic_prefix_matches(std::span<const std::byte> bytes);
[[noreturn]] void throw_not_encrypted();
// Throws Error(invalid_argument) for a chunk size outside 1..kMaxEncryptionChunkSize.
void validate_chunk_size(std::size_t chunk_size);

}  // namespace pgvault::encryption_internal
