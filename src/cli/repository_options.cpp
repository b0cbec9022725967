#include "repository_options.hpp"

#include "pgvault/error.hpp"

#include <cstdlib>

namespace pgvault::cli {
namespace {

// What is missing when a repository's root does not exist.
std::string missing_root(const std::string& url) {
  const ParsedRepositoryUrl parsed = parse_repository_url(url);
  if (parsed.scheme == "file") return "no directory " + parsed.path;
  if (parsed.scheme == "azure") return "no container \"" + parsed.container + "\"";
  return "no bucket \"" + parsed.container + "\"";
}

}  // namespace

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
  auto storage = open_storage_with(url, s);
  // Listing a missing directory, bucket or container finds nothing, just
  // like an empty repository: a mistyped URL must not look like one.
  if (!storage->root_exists())
    throw Error(ErrorKind::not_found, "repository " + storage->url() + " does not exist (" +
                                          missing_root(url) +
                                          "); check the URL (the server creates a repository "
                                          "when it writes its first backup)");
  return storage;
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
