// Storage settings: the pgvault.* settings that select and configure a
// repository's object store (s3_*, azure_*, gcs_*, storage_*), whether read
// from a postgresql.conf-syntax file (config/config_file.hpp, the CLI's
// --config), from the environment, or (in the server) from the GUCs. Each
// driver maps them onto its configuration beside its driver
// (s3_config_from in s3_storage.hpp, azure_config_from, gcs_config_from);
// open_repository (open_repository.hpp) is the one way to open a repository
// from them.
//
// Secrets: no message produced here contains the value of a setting whose
// name contains "key", "secret", "token", "password" or "passphrase" (see
// is_secret_setting).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/config/config_file.hpp"
#include "pgvault/config/setting_value.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/repository_url.hpp"

#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// Setting name WITHOUT the "pgvault." prefix (lower case) -> value.
using StorageSettings = SettingValues;

// The storage settings pgvault knows (s3_*, azure_*, gcs_*, storage_*), sorted.
const std::vector<std::string>& known_storage_settings();

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

// Checks one setting's value on its own (the server's check hooks use it when
// postgresql.conf is read; the config mappings call it for every setting
// they are given): the name must be a known storage setting and the value
// parse (sizes, counts, durations, booleans, endpoints, the uri style, the
// Azure key's base64) within the allowed range. An empty value is always
// accepted (unset). Throws Error(invalid_argument) saying what is allowed,
// never with a secret's value.
void validate_storage_setting(std::string_view name, std::string_view value);

// storage_ca_file, storage_verify_tls (on/off/true/false/yes/no/1/0),
// storage_connect_timeout and storage_stall_timeout (a bare number is seconds;
// units ms, s, min).
http::HttpOptions http_options_from(const StorageSettings& settings);

}  // namespace pgvault
