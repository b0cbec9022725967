// Encryption keys: the 256-bit key (wiped, printed only by fingerprint), key
// files, and keys derived from a passphrase with scrypt. Nothing here knows
// the object format (encrypted_object.hpp) or the settings
// (encryption_settings.hpp).
#pragma once
#include "pgvault/pg_free.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

inline constexpr std::size_t kEncryptionKeySize = 32;  // AES-256
inline constexpr std::size_t kPassphraseSaltSize = 16;
using PassphraseSalt = std::array<std::byte, kPassphraseSaltSize>;

// scrypt cost: N = 2^log2_n, memory about 128 * r * N bytes (32 MiB by default).
// Stored in every header, so the defaults can be raised without breaking old backups.
struct ScryptParams {
  std::uint8_t log2_n = 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
  bool operator==(const ScryptParams&) const = default;
};

// Throws Error(invalid_argument) unless 1 <= log2_n <= 24, 1 <= r <= 64,
// 1 <= p <= 64 and the memory needed is at most 1 GiB. The same bounds protect
// a decryptor from a header that asks for absurd amounts of work.
void validate_scrypt_params(const ScryptParams& params);

enum class KeyDerivation : std::uint8_t {
  raw_key = 0,  // pgvault.encryption_key_file: the 32 bytes are the key
  scrypt = 1,   // pgvault.encryption_passphrase, stretched with scrypt and a per-backup salt
};

// How a key was obtained. Public: it is written into every object's header so
// the key can be derived again from the passphrase on restore.
struct KeyOrigin {
  KeyDerivation derivation = KeyDerivation::raw_key;
  ScryptParams scrypt{};  // meaningful for KeyDerivation::scrypt only
  PassphraseSalt salt{};  // all zero for a raw key
  bool operator==(const KeyOrigin&) const = default;
};

// A 256-bit key. Wiped (OPENSSL_cleanse) when destroyed or moved from; copies
// only through clone(); streaming it prints its fingerprint, never its bytes.
class EncryptionKey {
 public:
  // Throws Error(invalid_argument) for origin.derivation == scrypt with bad parameters.
  static EncryptionKey from_bytes(std::span<const std::byte, kEncryptionKeySize> bytes,
                                  const KeyOrigin& origin = {});
  // A fresh random raw key (RAND_bytes), e.g. for writing a new key file.
  static EncryptionKey generate();

  ~EncryptionKey();
  EncryptionKey(EncryptionKey&& other) noexcept;
  EncryptionKey& operator=(EncryptionKey&& other) noexcept;
  EncryptionKey(const EncryptionKey&) = delete;
  EncryptionKey& operator=(const EncryptionKey&) = delete;
  EncryptionKey clone() const;
  // "EncryptionKey(fingerprint 0123...)": never the key bytes.
  friend std::ostream& operator<<(std::ostream& out, const EncryptionKey& key);

  const KeyOrigin& origin() const { return origin_; }
  // 32 lower-case hex characters: the first 16 bytes of
  // HMAC-SHA256(key, "pgvault key fingerprint v1"). Safe to record in
  // backup.json, history and messages: it identifies the key, it does not reveal it.
  const std::string& fingerprint() const;
  // The key itself, for the cipher. Throws Error(internal) on a moved-from key.
  std::span<const std::byte, kEncryptionKeySize> secret_bytes() const;

 private:
  EncryptionKey() = default;
  void wipe() noexcept;

  std::array<std::byte, kEncryptionKeySize> bytes_{};
  KeyOrigin origin_;
  std::string fingerprint_;  // empty once moved from
};

// Reads a key file holding exactly 32 raw bytes. Refuses a file that others
// can access, or that its group can access unless root owns it (PostgreSQL's
// rule for ssl_key_file). Errors name the file and its size, never its content:
// not_found (missing), invalid_argument (size, permissions, not a regular file), io.
EncryptionKey load_key_file(const std::string& path);

// A fresh random salt: one per backup, shared by all of its objects, so the
// passphrase is stretched once per backup.
PassphraseSalt new_salt();

// scrypt(passphrase, salt, params) -> 32-byte key with origin {scrypt, params, salt}.
// Throws Error(invalid_argument) for an empty passphrase or bad parameters.
EncryptionKey derive_key_from_passphrase(std::string_view passphrase, const PassphraseSalt& salt,
                                         const ScryptParams& params = {});

// Plain scrypt (RFC 7914) into out, any salt and output length; for known-answer
// tests and tools. Same errors as derive_key_from_passphrase.
void scrypt_kdf(std::string_view passphrase, std::span<const std::byte> salt,
                const ScryptParams& params, std::span<std::byte> out);

}  // namespace pgvault
