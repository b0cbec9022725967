// Reading pgvault.* settings from files in postgresql.conf syntax: the CLI's
// --config, read as the server reads its own configuration.
//
// Secrets: no message produced here contains the value of a setting whose
// name contains "key", "secret", "token", "password" or "passphrase" (see
// is_secret_setting).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/config/setting_value.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// Parses a file in postgresql.conf syntax and returns its pgvault.* settings
// (other names are parsed and dropped). Supports "name = value" and
// "name value", '#' comments, bare and single-quoted values ('' and the
// backslash escapes \b \f \n \r \t \ooo), include 'file', include_if_exists
// 'file' and include_dir 'dir' (its *.conf files in name order, hidden files
// skipped), relative paths resolved against the including file's directory,
// at most 10 levels of nesting. Later settings override earlier ones.
// Throws Error(io) when a file cannot be read and Error(invalid_argument) for
// syntax errors, both with "file:line" and never with a secret's value.
SettingValues read_config_file(const std::string& path);

// The pgvault.* settings a server started with this postgresql.conf has:
// the file (includes followed), then its data directory's
// postgresql.auto.conf (ALTER SYSTEM's values win), then the server's
// default repository (default_repository_url) when neither sets
// pgvault.repository. The data directory is the file's data_directory
// setting (absolute only), else the file's own directory when it holds
// PG_VERSION; when it is unknown, only the file is read and no default
// applies. A postgresql.auto.conf that exists but cannot be read is an error
// (its values would be missed).
struct ServerConfig {
  SettingValues settings;
  std::vector<std::string> files;   // the files read, in order (includes not listed)
  std::string data_directory;       // empty when unknown
  std::string data_directory_from;  // how it was found, or why it is unknown
  bool default_repository = false;  // settings["repository"] is the server's default
};
ServerConfig read_server_config(const std::string& postgresql_conf);

}  // namespace pgvault
