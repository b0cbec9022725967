// Internal to src/core/pipeline: what the encryption files share. All
// cryptography is OpenSSL 3's.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/error.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

namespace pgvault::encryption_internal {

inline constexpr std::size_t kFingerprintSize = 16;

// Key material on the stack, wiped however the scope is left.
template <std::size_t N>
struct Secret {
  std::array<std::byte, N> bytes{};
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  unsigned char* data() { return reinterpret_cast<unsigned char*>(bytes.data()); }
};

inline const unsigned char* uc(const std::byte* p) {
  return reinterpret_cast<const unsigned char*>(p);
}
inline unsigned char* uc(std::byte* p) {
  return reinterpret_cast<unsigned char*>(p);
}

// Internal error with OpenSSL's reason; clears the thread's error queue so a
// stale entry cannot confuse later TLS code (libcurl, libpq) on this thread.
[[noreturn]] inline void throw_openssl(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = std::string(" (") + buf + ")";
  }
  ERR_clear_error();
  throw Error(ErrorKind::internal, what + " failed (OpenSSL)" + reason);
}

inline void random_bytes(std::span<std::byte> out) {
  if (RAND_bytes(uc(out.data()), static_cast<int>(out.size())) != 1)
    throw_openssl("generating random bytes");
}

// The key's public fingerprint: HMAC-SHA256(key, "pgvault key fingerprint
// v1")[0..16). In every object's header and in backup.json (as hex).
std::array<std::byte, kFingerprintSize> fingerprint_bytes(std::span<const std::byte> key);

}  // namespace pgvault::encryption_internal
