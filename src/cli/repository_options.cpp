#include "repository_options.hpp"

#include "pgvault/error.hpp"

#include <cstdlib>

namespace pgvault::cli {

void RepositoryOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--repo", repo,
                  "Repository URL: file:///path, s3://bucket[/prefix], "
                  "azure://container[/prefix] or gs://bucket[/prefix] (default: "
                  "pgvault.repository of --config)")
      ->envname("PGVAULT_REPOSITORY");
  cmd->add_option("--config", config,
                  "postgresql.conf-syntax file with the pgvault.* settings (the server's "
                  "postgresql.conf works); includes are followed")
      ->envname("PGVAULT_CONFIG")
      ->check(CLI::ExistingFile);
  cmd->add_option("--encryption-key-file", encryption_key_file,
                  "Key file of encrypted backups (default: pgvault.encryption_key_file of "
                  "--config); a passphrase comes from --config or $PGVAULT_ENCRYPTION_PASSPHRASE")
      ->envname("PGVAULT_ENCRYPTION_KEY_FILE");
}

StorageSettings RepositoryOptions::settings() const {
  StorageSettings s;
  if (!config.empty()) s = read_config_file(config);
  apply_environment(s);
  return s;
}

std::unique_ptr<Storage> RepositoryOptions::open() const {
  const StorageSettings s = settings();
  std::string url = repo;
  if (url.empty()) {
    auto it = s.find("repository");
    if (it != s.end()) url = it->second;
  }
  if (url.empty())
    throw Error(ErrorKind::invalid_argument,
                "no repository: pass --repo URL, set PGVAULT_REPOSITORY, or give --config FILE "
                "with pgvault.repository set" +
                    (config.empty() ? std::string() : " (" + config + " does not set it)"));
  return open_storage_with(url, s);
}

EncryptionSettings RepositoryOptions::encryption() const {
  const StorageSettings s = settings();
  auto get = [&](const char* name) {
    auto it = s.find(name);
    return it == s.end() ? std::string() : it->second;
  };
  EncryptionSettings e{get("encryption_key_file"), get("encryption_passphrase")};
  if (!encryption_key_file.empty()) {
    e.key_file = encryption_key_file;
    e.passphrase.clear();  // the command line names the key to use
  }
  if (e.passphrase.empty() && e.key_file.empty()) {
    if (const char* p = std::getenv("PGVAULT_ENCRYPTION_PASSPHRASE")) e.passphrase = p;
  }
  return e;
}

DecryptorFactory RepositoryOptions::decryptor(const BackupMeta& meta) const {
  return decryptor_for(meta, encryption());
}

}  // namespace pgvault::cli
