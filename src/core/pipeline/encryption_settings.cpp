// The encryption settings: a new backup's key, a restore's key provider
// (encryption_settings.hpp).
#include "pgvault/pipeline/encryption_settings.hpp"

#include "pgvault/error.hpp"

#include <memory>

namespace pgvault {

void validate_encryption_settings(const EncryptionSettings& settings) {
  if (!settings.key_file.empty() && !settings.passphrase.empty())
    throw Error(ErrorKind::invalid_argument,
                "set only one of pgvault.encryption_key_file and pgvault.encryption_passphrase");
}

std::optional<EncryptionKey> backup_encryption_key(const EncryptionSettings& settings) {
  validate_encryption_settings(settings);
  if (!settings.key_file.empty()) return load_key_file(settings.key_file);
  if (!settings.passphrase.empty())
    return derive_key_from_passphrase(settings.passphrase, new_salt());
  return std::nullopt;
}

KeyProvider restore_key_provider(const EncryptionSettings& settings) {
  validate_encryption_settings(settings);
  if (!settings.key_file.empty()) {
    // Read lazily: an unencrypted backup restores even if the file is gone.
    auto key = std::make_shared<std::optional<EncryptionKey>>();
    std::string path = settings.key_file;
    return [key, path](const EncryptionHeader& header) {
      if (!*key) *key = load_key_file(path);
      return key_provider(**key)(header);
    };
  }
  if (!settings.passphrase.empty()) return passphrase_key_provider(settings.passphrase);
  return no_key_provider();
}

}  // namespace pgvault
