// Encrypted objects: AES-256-GCM in authenticated chunks with a final-chunk
// marker. The object format (header, sizes), the sealing stream
// (make_encryptor) and the opening stream (make_decryptor) with the key
// providers it asks for keys. The byte format and its reasoning are in
// src/core/pipeline/README.md.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/encryption_key.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace pgvault {

inline constexpr std::size_t kEncryptionHeaderSize = 96;
inline constexpr std::size_t kEncryptionTagSize = 16;  // per chunk
inline constexpr std::size_t kDefaultEncryptionChunkSize = std::size_t{1} << 20;
inline constexpr std::size_t kMaxEncryptionChunkSize = std::size_t{64} << 20;

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

// What backup.json records about the key a backup is encrypted with: the
// algorithm, the key's fingerprint and how it was made; nothing secret. The
// catalog copies it into BackupMeta (record_encryption in backup_meta.hpp).
struct EncryptionRecord {
  std::string algorithm;        // "aes-256-gcm"
  std::string key_fingerprint;  // as EncryptionKey::fingerprint()
  std::string key_derivation;   // "raw" (key file) or "scrypt" (passphrase)
};
EncryptionRecord encryption_record(const EncryptionKey& key);

}  // namespace pgvault
