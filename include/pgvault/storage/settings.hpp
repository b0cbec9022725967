// Storage settings: the pgvault.* settings that select and configure a
// repository's object store, read from a postgresql.conf-syntax file (the CLI's
// --config), from the environment, or (in the server) from the GUCs, and
// mapped onto the driver configurations.
//
// Secrets: no message produced here contains the value of a setting whose
// name contains "key", "secret", "token", "password" or "passphrase" (see
// is_secret_setting).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/storage.hpp"

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// Setting name WITHOUT the "pgvault." prefix (lower case) -> value.
using StorageSettings = std::map<std::string, std::string>;

// True when the value of this setting must never be shown (names containing
// key, secret, token, password or passphrase).
bool is_secret_setting(std::string_view name);

// The storage settings pgvault knows (s3_*, azure_*, gcs_*, storage_*), sorted.
const std::vector<std::string>& known_storage_settings();

// Parses a file in postgresql.conf syntax and returns its pgvault.* settings
// (other names are parsed and dropped). Supports "name = value" and
// "name value", '#' comments, bare and single-quoted values ('' and the
// backslash escapes \b \f \n \r \t \ooo), include 'file', include_if_exists
// 'file' and include_dir 'dir' (its *.conf files in name order, hidden files
// skipped), relative paths resolved against the including file's directory,
// at most 10 levels of nesting. Later settings override earlier ones.
// Throws Error(io) when a file cannot be read and Error(invalid_argument) for
// syntax errors, both with "file:line" and never with a secret's value.
StorageSettings read_config_file(const std::string& path);

// The server's default repository: the directory "pgvault" beside the data
// directory (file://<parent of data_directory>/pgvault).
std::string default_repository_url(std::string_view data_directory);

// The pgvault.* settings a server started with this postgresql.conf has:
// the file (includes followed), then its data directory's
// postgresql.auto.conf (ALTER SYSTEM's values win), then the server's
// default repository when neither sets pgvault.repository. The data
// directory is the file's data_directory setting (absolute only), else the
// file's own directory when it holds PG_VERSION; when it is unknown, only
// the file is read and no default applies. A postgresql.auto.conf that
// exists but cannot be read is an error (its values would be missed).
struct ServerConfig {
  StorageSettings settings;
  std::vector<std::string> files;   // the files read, in order (includes not listed)
  std::string data_directory;       // empty when unknown
  std::string data_directory_from;  // how it was found, or why it is unknown
  bool default_repository = false;  // settings["repository"] is the server's default
};
ServerConfig read_server_config(const std::string& postgresql_conf);

// Fills the settings that are missing or empty from the environment:
// PGVAULT_<NAME> for every known storage setting (e.g. PGVAULT_S3_URI_STYLE),
// then the vendors' standard variables:
//   AWS_ACCESS_KEY_ID -> s3_access_key_id       AWS_SECRET_ACCESS_KEY -> s3_secret_access_key
//   AWS_SESSION_TOKEN -> s3_session_token       AWS_REGION, AWS_DEFAULT_REGION -> s3_region
//   AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL -> s3_endpoint
//   AZURE_STORAGE_ACCOUNT -> azure_account      AZURE_STORAGE_KEY -> azure_key
//   AZURE_STORAGE_SAS_TOKEN -> azure_sas_token
//   GOOGLE_APPLICATION_CREDENTIALS -> gcs_key_file
// PGVAULT_* wins over the vendor variables; empty variables count as unset.
void apply_environment(StorageSettings& settings,
                       const std::function<const char*(const char*)>& getenv = ::getenv);

struct ParsedRepositoryUrl {
  std::string scheme;     // "file", "s3", "azure" or "gs"
  std::string container;  // bucket or container; empty for file
  std::string prefix;     // object prefix, no leading/trailing '/'; may be empty
  std::string path;       // file: the normalized absolute directory; else empty
};

// Accepts file:///absolute/path (or an absolute path), s3://bucket[/prefix],
// azure://container[/prefix] and gs://bucket[/prefix], checking the store's
// naming rules. Throws Error(invalid_argument) saying what is allowed.
ParsedRepositoryUrl parse_repository_url(std::string_view url);

// Checks one setting's value on its own (the server's check hooks use it when
// postgresql.conf is read; the config mappings below call it for every
// setting they are given): the name must be a known storage setting and the
// value parse (sizes, counts, durations, booleans, endpoints, the uri style,
// the Azure key's base64) within the allowed range. An empty value is always
// accepted (unset). Throws Error(invalid_argument) saying what is allowed,
// never with a secret's value.
void validate_storage_setting(std::string_view name, std::string_view value);

// "16MB", "8 MiB", "1048576" (bytes); units B, kB, MB, GB, TB (1024-based,
// case-insensitive, "KiB" style accepted). Throws Error(invalid_argument)
// naming pgvault.<name>.
std::uint64_t parse_size_setting(std::string_view name, std::string_view value);

// Settings -> driver configuration. Call apply_environment() first when the
// environment should count. Throws Error(invalid_argument) for missing
// credentials (naming the setting and the environment variable), bad values,
// and unknown s3_/azure_/gcs_/storage_ names (listing the valid ones).
S3Config s3_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);
AzureConfig azure_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);
// GCS credentials are HMAC keys (gcs_hmac_access_id and gcs_hmac_secret, both)
// or a service-account JSON key file (gcs_key_file, which
// GOOGLE_APPLICATION_CREDENTIALS fills). When both are set the HMAC keys win
// and key_file is left empty: they are set for pgvault alone, while
// GOOGLE_APPLICATION_CREDENTIALS is often a machine-wide default. The key file
// is not read here (make_gcs_storage reads it).
GcsConfig gcs_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);

// storage_ca_file, storage_verify_tls (on/off/true/false/yes/no/1/0),
// storage_connect_timeout and storage_stall_timeout (a bare number is seconds;
// units ms, s, min).
http::HttpOptions http_options_from(const StorageSettings& settings);

// Opens any repository: file:// goes to open_storage() unchanged; s3://,
// azure:// and gs:// build the drivers with CurlTransports made from
// http_options_from(settings) (no request is sent while opening; gs:// with a
// service account reads its key file here).
std::unique_ptr<Storage> open_storage_with(std::string_view url, const StorageSettings& settings);

}  // namespace pgvault
