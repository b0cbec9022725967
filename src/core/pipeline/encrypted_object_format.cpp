// The encrypted object's format: its header and its size
// (encrypted_object_format.hpp; the format is in src/core/pipeline/README.md).
#include "encrypted_object_format.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/evp.h>

namespace pgvault {

using namespace encryption_internal;

namespace {

void put_be32(std::byte* out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<std::byte>(v & 0xff);
}

std::uint32_t get_be32(const std::byte* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(in[i]);
  return v;
}

std::array<std::byte, kChecksumSize> header_checksum(const Header& header) {
  std::array<unsigned char, 32> digest;
  std::size_t len = 0;
  if (!EVP_Q_digest(nullptr, "SHA256", nullptr, header.data(), at::checksum, digest.data(), &len) ||
      len != digest.size())
    throw_openssl("computing the header checksum");
  std::array<std::byte, kChecksumSize> out;
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

}  // namespace

[[noreturn]] void encryption_internal::throw_not_encrypted() {
  throw Error(ErrorKind::corrupt,
              "not a pgvault encrypted object (it does not start with \"PGVLTENC\")");
}

bool encryption_internal::magic_prefix_matches(std::span<const std::byte> bytes) {
  std::size_t n = std::min(bytes.size(), kMagic.size());
  return std::memcmp(bytes.data(), kMagic.data(), n) == 0;
}

Header encryption_internal::build_header(const EncryptionKey& key, std::uint32_t chunk_size,
                                         std::span<const std::byte, kObjectSaltSize> object_salt) {
  Header h{};
  std::memcpy(h.data() + at::magic, kMagic.data(), kMagic.size());
  h[at::version] = std::byte{kFormatVersion};
  h[at::cipher] = std::byte{kCipherAes256GcmHkdfSha256};
  const KeyOrigin& origin = key.origin();
  h[at::derivation] = static_cast<std::byte>(origin.derivation);
  if (origin.derivation == KeyDerivation::scrypt) {
    h[at::log2_n] = std::byte{origin.scrypt.log2_n};
    put_be32(h.data() + at::scrypt_r, origin.scrypt.r);
    put_be32(h.data() + at::scrypt_p, origin.scrypt.p);
    std::copy(origin.salt.begin(), origin.salt.end(), h.begin() + at::salt);
  }
  put_be32(h.data() + at::chunk_size, chunk_size);
  std::copy(object_salt.begin(), object_salt.end(), h.begin() + at::object_salt);
  auto fingerprint = fingerprint_bytes(key.secret_bytes());
  std::copy(fingerprint.begin(), fingerprint.end(), h.begin() + at::fingerprint);
  auto checksum = header_checksum(h);
  std::copy(checksum.begin(), checksum.end(), h.begin() + at::checksum);
  return h;
}

ParsedHeader encryption_internal::parse_header(std::span<const std::byte> bytes) {
  if (bytes.empty() || !magic_prefix_matches(bytes)) throw_not_encrypted();
  if (bytes.size() < kEncryptionHeaderSize)
    throw Error(ErrorKind::corrupt, "encrypted object is truncated: it ends inside its header (" +
                                        std::to_string(bytes.size()) + " of " +
                                        std::to_string(kEncryptionHeaderSize) + " bytes)");
  Header h;
  std::copy_n(bytes.begin(), h.size(), h.begin());

  // The version comes before the checksum: a newer format may lay out its header differently.
  auto version = std::to_integer<unsigned>(h[at::version]);
  if (version > kFormatVersion)
    throw Error(ErrorKind::unsupported, "encrypted object has format version " +
                                            std::to_string(version) + "; this pgvault reads " +
                                            std::to_string(kFormatVersion) +
                                            " (a newer pgvault wrote it)");
  auto checksum = header_checksum(h);
  if (!std::equal(checksum.begin(), checksum.end(), h.begin() + at::checksum))
    throw Error(ErrorKind::corrupt,
                "encrypted object is corrupt: its header does not match its checksum");
  if (version != kFormatVersion)
    throw Error(ErrorKind::corrupt, "encrypted object is corrupt: format version " +
                                        std::to_string(version) + " does not exist");
  if (std::to_integer<unsigned>(h[at::cipher]) != kCipherAes256GcmHkdfSha256)
    throw Error(ErrorKind::unsupported,
                "encrypted object uses cipher suite " +
                    std::to_string(std::to_integer<unsigned>(h[at::cipher])) +
                    ", which this pgvault does not know");

  ParsedHeader parsed;
  EncryptionHeader& info = parsed.info;
  info.format_version = static_cast<std::uint8_t>(version);
  auto derivation = std::to_integer<unsigned>(h[at::derivation]);
  if (derivation == static_cast<unsigned>(KeyDerivation::raw_key)) {
    // Nothing else may be set for a raw key.
    bool unused_zero = std::all_of(h.begin() + at::log2_n, h.begin() + at::chunk_size,
                                   [](std::byte b) { return b == std::byte{0}; }) &&
                       std::all_of(h.begin() + at::salt, h.begin() + at::salt + kPassphraseSaltSize,
                                   [](std::byte b) { return b == std::byte{0}; });
    if (!unused_zero)
      throw Error(ErrorKind::corrupt,
                  "encrypted object is corrupt: its header has key derivation parameters for a "
                  "raw key");
  } else if (derivation == static_cast<unsigned>(KeyDerivation::scrypt)) {
    info.key_origin.derivation = KeyDerivation::scrypt;
    info.key_origin.scrypt = {std::to_integer<std::uint8_t>(h[at::log2_n]),
                              get_be32(h.data() + at::scrypt_r), get_be32(h.data() + at::scrypt_p)};
    std::copy_n(h.begin() + at::salt, kPassphraseSaltSize, info.key_origin.salt.begin());
    try {
      validate_scrypt_params(info.key_origin.scrypt);
    } catch (const Error& e) {
      throw Error(ErrorKind::corrupt, std::string("encrypted object is corrupt: ") + e.what());
    }
  } else {
    throw Error(ErrorKind::unsupported, "encrypted object uses key derivation " +
                                            std::to_string(derivation) +
                                            ", which this pgvault does not know");
  }
  info.chunk_size = get_be32(h.data() + at::chunk_size);
  if (info.chunk_size == 0 || info.chunk_size > kMaxEncryptionChunkSize)
    throw Error(ErrorKind::corrupt, "encrypted object is corrupt: its chunk size " +
                                        std::to_string(info.chunk_size) + " is out of range");
  info.key_fingerprint = hex({h.data() + at::fingerprint, kFingerprintSize});
  std::copy_n(h.begin() + at::object_salt, kObjectSaltSize, parsed.object_salt.begin());
  return parsed;
}

void encryption_internal::validate_chunk_size(std::size_t chunk_size) {
  if (chunk_size == 0 || chunk_size > kMaxEncryptionChunkSize)
    throw Error(ErrorKind::invalid_argument, "encryption chunk size " + std::to_string(chunk_size) +
                                                 " is out of range (allowed: 1.." +
                                                 std::to_string(kMaxEncryptionChunkSize) + ")");
}

// ---- headers and sizes ----------------------------------------------------------------

bool looks_encrypted(std::span<const std::byte> first_bytes) {
  return first_bytes.size() >= kMagic.size() && magic_prefix_matches(first_bytes);
}

EncryptionHeader read_encryption_header(std::span<const std::byte> first_bytes) {
  return parse_header(first_bytes).info;
}

std::uint64_t encrypted_size(std::uint64_t plaintext_size, std::size_t chunk_size) {
  validate_chunk_size(chunk_size);
  std::uint64_t chunks = std::max<std::uint64_t>(1, (plaintext_size + chunk_size - 1) / chunk_size);
  return kEncryptionHeaderSize + plaintext_size + chunks * kEncryptionTagSize;
}

}  // namespace pgvault
