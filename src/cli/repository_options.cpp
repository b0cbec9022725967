#include "repository_options.hpp"

#include "pgvault/error.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <unistd.h>

namespace pgvault::cli {

namespace {

// This program, as the server will run it from restore_command.
std::string own_executable() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0)
    throw_os_error(
        "could not find the path of the pgvault program (/proc/self/exe) for "
        "restore_command",
        errno);
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string absolute(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace
void RepositoryOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--repo", repo,
                  "Repository URL: file:///path, s3://bucket[/prefix], "
                  "azure://container[/prefix] or gs://bucket[/prefix] (default: "
                  "pgvault.repository of --config, or the server's default beside its data "
                  "directory)")
      ->envname("PGVAULT_REPOSITORY");
  cmd->add_option("--config", config,
                  "postgresql.conf-syntax file with the pgvault.* settings; includes are "
                  "followed. A server's postgresql.conf counts as the server sees it: its data "
                  "directory's postgresql.auto.conf (ALTER SYSTEM) is read after it, and an "
                  "unset pgvault.repository is the server's default (the data directory is "
                  "data_directory, or the file's directory when it holds PG_VERSION). What was "
                  "read is printed on standard error")
      ->envname("PGVAULT_CONFIG")
      ->check(CLI::ExistingFile);
  cmd->add_option("--encryption-key-file", encryption_key_file,
                  "Key file of encrypted backups (default: pgvault.encryption_key_file of "
                  "--config); a passphrase comes from --config or $PGVAULT_ENCRYPTION_PASSPHRASE")
      ->envname("PGVAULT_ENCRYPTION_KEY_FILE");
}

const StorageSettings& RepositoryOptions::settings() const {
  if (!server_config_) {
    server_config_ = config.empty() ? ServerConfig{} : read_server_config(config);
    apply_environment(server_config_->settings, [this](const char* name) -> const char* {
      const char* value = std::getenv(name);
      if (value != nullptr && *value != '\0') environment_used_.emplace_back(name);
      return value;
    });
  }
  return server_config_->settings;
}

// One line on standard error: which files gave the settings, and where the
// repository came from when the file did not name it.
void RepositoryOptions::say_what_was_read() const {
  if (config.empty() || !server_config_) return;
  const ServerConfig& c = *server_config_;
  std::string line = "pgvault: settings from ";
  for (std::size_t i = 0; i < c.files.size(); ++i) line += (i == 0 ? "" : ", ") + c.files[i];
  if (c.data_directory.empty()) {
    line += " only (" + c.data_directory_from + ")";
    std::cerr << line << "\n";
    return;
  }
  // A lost data directory (disaster recovery) has no postgresql.auto.conf:
  // what ALTER SYSTEM set there cannot count.
  if (c.files.size() == 1) line += " (no postgresql.auto.conf in " + c.data_directory + ")";
  if (c.default_repository && repo.empty()) {
    line += "; repository " + c.settings.at("repository") +
            ", the server's default beside data directory " + c.data_directory +
            " (pgvault.repository is not set)";
  }
  std::cerr << line << "\n";
}

// --repo, else the --config file's pgvault.repository (or the server's
// default it implies).
std::string RepositoryOptions::repository_url() const {
  if (!repo.empty()) return repo;
  auto it = settings().find("repository");
  if (it != settings().end() && !it->second.empty()) return it->second;
  throw Error(ErrorKind::invalid_argument,
              "no repository: pass --repo URL, set PGVAULT_REPOSITORY, or give --config FILE "
              "with pgvault.repository set (or the server's postgresql.conf, whose default "
              "repository is beside its data directory)" +
                  (config.empty() ? std::string()
                                  : " (" + config + " does not set it, and " +
                                        server_config_->data_directory_from + ")"));
}

// Every command reads: a missing directory, bucket or container is an error,
// never an empty repository.
std::unique_ptr<Storage> RepositoryOptions::open() const {
  const StorageSettings& s = settings();
  if (say_settings) say_what_was_read();
  return open_repository(repository_url(), s, RepositoryRoot::must_exist);
}

EncryptionSettings RepositoryOptions::encryption() const {
  const StorageSettings& s = settings();
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

std::vector<std::string> RepositoryOptions::environment_variables_used() const {
  settings();
  std::vector<std::string> used = environment_used_;
  const EncryptionSettings e = encryption();
  const auto passphrase = settings().find("encryption_passphrase");
  if (!e.passphrase.empty() && (passphrase == settings().end() || passphrase->second.empty()))
    used.emplace_back("PGVAULT_ENCRYPTION_PASSPHRASE");
  return used;
}

// The core's messages name the server's settings; here the ways the command
// takes a key are named, before anything is read or written.
DecryptorFactory RepositoryOptions::decryptor(const BackupMeta& meta) const {
  if (meta.encryption == "none") return decryptor_for(meta, {});
  const EncryptionSettings e = encryption();
  const bool passphrase_backup = meta.key_derivation == "scrypt";
  const std::string backup = "backup \"" + meta.name + "\" is encrypted" +
                             (passphrase_backup ? " with a passphrase" : "") +
                             " (key fingerprint " + meta.key_fingerprint + ")";
  const std::string give_key_file =
      "pass --encryption-key-file FILE, set $PGVAULT_ENCRYPTION_KEY_FILE, or set "
      "pgvault.encryption_key_file in the --config file";
  const std::string give_passphrase =
      "set pgvault.encryption_passphrase in the --config file, or $PGVAULT_ENCRYPTION_PASSPHRASE";
  if (e.key_file.empty() && e.passphrase.empty())
    throw Error(
        ErrorKind::invalid_argument,
        backup + ", but no encryption key was given: " +
            (passphrase_backup ? give_passphrase + ", to the passphrase it was encrypted with (a "
                                                   "passphrase is never a command-line argument)"
                               : "set pgvault.encryption_key_file to the key file it was "
                                 "encrypted with: " +
                                     give_key_file));
  if (passphrase_backup && e.passphrase.empty())
    throw Error(ErrorKind::invalid_argument,
                backup + ", but a key file was given (" + e.key_file +
                    "): give the passphrase instead: " + give_passphrase);
  if (meta.key_derivation == "raw" && e.key_file.empty())
    throw Error(ErrorKind::invalid_argument,
                backup + " with a key file, but only a passphrase was given: " + give_key_file);
  return decryptor_for(meta, e);
}

WalFetchInvocation RepositoryOptions::wal_fetch_invocation(
    const std::string& system_identifier) const {
  WalFetchInvocation fetch;
  fetch.program = own_executable();
  fetch.config_file = absolute(config);
  fetch.repository_url = repo;
  fetch.encryption_key_file = absolute(encryption_key_file);
  fetch.system_identifier = system_identifier;
  return fetch;
}

}  // namespace pgvault::cli
