// The encryption settings (pgvault.encryption_key_file,
// pgvault.encryption_passphrase): which key a new backup is encrypted with
// and how a restore finds the key of an encrypted object.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/encryption_key.hpp"

#include <optional>
#include <string>

namespace pgvault {

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

}  // namespace pgvault
