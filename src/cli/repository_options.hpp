// The options every pgvault subcommand shares: where the repository is, how
// to reach it, and the key of encrypted backups.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/restore/restored_copy.hpp"  // WalFetchInvocation
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgvault::cli {

// --repo (or $PGVAULT_REPOSITORY) and the pgvault.* settings of --config FILE
// (or $PGVAULT_CONFIG), a postgresql.conf-syntax file such as the server's
// own (read as the server reads it: see read_server_config); the
// environment (AWS_*, AZURE_STORAGE_*, PGVAULT_*) fills what the files leave
// unset. Encrypted backups take their key from
// --encryption-key-file, the file's pgvault.encryption_key_file or
// pgvault.encryption_passphrase, or $PGVAULT_ENCRYPTION_KEY_FILE /
// $PGVAULT_ENCRYPTION_PASSPHRASE (a passphrase is never a command-line
// argument: other users could read it in ps).
struct RepositoryOptions {
  std::string repo;
  std::string config;
  std::string encryption_key_file;
  // Whether open() prints which files gave the settings (say_what_was_read).
  bool say_settings = true;

  void add_to(CLI::App* cmd);
  // The repository, which must exist (open_repository with
  // RepositoryRoot::must_exist).
  std::unique_ptr<Storage> open() const;
  EncryptionSettings encryption() const;
  // The decryptor of meta's objects (none for an unencrypted backup).
  DecryptorFactory decryptor(const BackupMeta& meta) const;
  // The environment variables that gave a setting the --config file left
  // unset (store settings and credentials, the encryption passphrase), by
  // name, never their values. A program started elsewhere (the server's
  // restore_command) does not have them.
  std::vector<std::string> environment_variables_used() const;
  // `pgvault wal-fetch` as a server's restore_command runs it, with this
  // command's repository settings: this program's absolute path, --config and
  // --encryption-key-file as absolute paths, --repo, and the system.
  WalFetchInvocation wal_fetch_invocation(const std::string& system_identifier) const;
  // One line on standard error: which files gave the settings (nothing
  // without --config, or before they were read).
  void say_what_was_read() const;

 private:
  // --config's settings (read once) and the environment's.
  const StorageSettings& settings() const;
  std::string repository_url() const;
  mutable std::optional<ServerConfig> server_config_;
  mutable std::vector<std::string> environment_used_;
};

}  // namespace pgvault::cli
