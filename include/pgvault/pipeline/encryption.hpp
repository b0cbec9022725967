// Encryption at rest: AES-256-GCM in authenticated chunks with a final-chunk
// marker, as streaming pipeline stages. The byte format and its reasoning are
// in src/core/pipeline/README.md.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

struct BackupMeta;

inline constexpr std::size_t kEncryptionKeySize = 32;  // AES-256
inline constexpr std::size_t kPassphraseSaltSize = 16;
inline constexpr std::size_t kEncryptionHeaderSize = 96;
inline constexpr std::size_t kEncryptionTagSize = 16;  // per chunk
inline constexpr std::size_t kDefaultEncryptionChunkSize = std::size_t{1} << 20;
inline constexpr std::size_t kMaxEncryptionChunkSize = std::size_t{64} << 20;

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

// What an object's header says, readable without the key.
struct EncryptionHeader {
  std::uint8_t format_version = 0;
  KeyOrigin key_origin;
  std::uint32_t chunk_size = 0;  // plaintext bytes per chunk
  std::string key_fingerprint;   // as EncryptionKey::fingerprint()
};

// True when first_bytes start with the encryption magic ("PGVLTENC"). Cheap;
// proves nothing about the rest.
bool looks_encrypted(std::span<const std::byte> first_bytes);

// Parses and checks the header at the start of first_bytes (at least
// kEncryptionHeaderSize bytes). Throws Error(corrupt) for anything else,
// Error(unsupported) for a newer format version.
EncryptionHeader read_encryption_header(std::span<const std::byte> first_bytes);

// Stored size for a plaintext size: header + plaintext + one tag per chunk
// (at least one chunk, even for empty input).
std::uint64_t encrypted_size(std::uint64_t plaintext_size,
                             std::size_t chunk_size = kDefaultEncryptionChunkSize);

// Seals everything written into one encrypted object for next (header, then
// chunks; next is finished on finish()). Holds one chunk in memory. The key is
// not referenced after construction. Throws Error(invalid_argument) for a chunk
// size outside 1..kMaxEncryptionChunkSize.
std::unique_ptr<Sink> make_encryptor(const EncryptionKey& key, Sink& next,
                                     std::size_t chunk_size = kDefaultEncryptionChunkSize);

// Called once per object, with its header, for the key to decrypt it with. It
// may throw (e.g. missing_key_message()); the decryptor then fails with that error.
using KeyProvider = std::function<EncryptionKey(const EncryptionHeader& header)>;

// Always hands out (a clone of) key.
KeyProvider key_provider(const EncryptionKey& key);
// Derives the key from passphrase with each header's salt and parameters,
// remembering the last one: the objects of one backup share a salt, so a restore
// derives once per backup. Copies share the remembered key; the passphrase is
// wiped when the last copy goes. Refuses raw-key objects with a message that says so.
KeyProvider passphrase_key_provider(std::string passphrase);
// For a caller without any key: fails with missing_key_message().
KeyProvider no_key_provider();

// "this object is encrypted (key fingerprint ...), but no encryption key was
// given: set pgvault.encryption_key_file ..." (or _passphrase, as the header says).
std::string missing_key_message(const EncryptionHeader& header);

// Opens an encrypted object written into it and writes the plaintext to next,
// one authenticated chunk at a time (nothing unauthenticated is passed on).
// Errors: invalid_argument (wrong key or passphrase, key file vs passphrase,
// missing key), corrupt (not encrypted, tampered, reordered, truncated, trailing
// data), unsupported (newer format). The plaintext passed on before a corrupt
// error is authentic but incomplete: treat the whole output as failed.
std::unique_ptr<Sink> make_decryptor(KeyProvider provider, Sink& next);
inline std::unique_ptr<Sink> make_decryptor(const EncryptionKey& key, Sink& next) {
  return make_decryptor(key_provider(key), next);
}

// pgvault.encryption_key_file / pgvault.encryption_passphrase, as the server
// and the CLI's --config read them. At most one may be set.
struct EncryptionSettings {
  std::string key_file;
  std::string passphrase;
  bool enabled() const { return !key_file.empty() || !passphrase.empty(); }
};

// Throws Error(invalid_argument) when both are set (never showing either).
void validate_encryption_settings(const EncryptionSettings& settings);

// The key a new backup is encrypted with: the key file's key, or the
// passphrase stretched with a fresh salt (one derivation per backup).
// nullopt when encryption is off.
std::optional<EncryptionKey> backup_encryption_key(const EncryptionSettings& settings);

// How a restore or verification finds the key of an encrypted object: the
// key file, the passphrase (derived once per salt), or none (which fails
// with a message saying the backup is encrypted and what to set).
KeyProvider restore_key_provider(const EncryptionSettings& settings);

// Records in backup.json that a backup is encrypted with key: the algorithm,
// the key's fingerprint and how it was made ("raw" or "scrypt"); nothing
// secret. A null key leaves the backup unencrypted.
void record_encryption(BackupMeta& meta, const EncryptionKey* key);

}  // namespace pgvault
