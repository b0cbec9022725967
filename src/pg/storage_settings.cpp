// Object-store GUCs. The list of settings is the core's
// (known_storage_settings()), so the server, the CLI's --config file and the
// environment accept exactly the same names.
//
// Secrets (names with key, secret, token or password): PostgreSQL writes
// 'parameter "x" changed to "<value>"' to the server log when a reload
// changes a setting, whatever its flags. An emit_log_hook rewrites that
// message for our secret settings before it reaches any log destination, so
// secrets can be rotated with a reload like every other setting. Check hooks
// always set GUC_check_errmsg: PostgreSQL's default message would print the
// rejected value.
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/settings.hpp"

#include <array>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "alerts.hpp"
#include "error_boundary.hpp"
#include "storage_settings.hpp"

namespace pgvault::pg {

namespace {

// Check and show hooks get no setting name, so each setting gets its own
// instance of the hook templates below: this bounds how many there can be.
constexpr std::size_t kMaxStorageSettings = 48;

std::array<char*, kMaxStorageSettings> values{};

const std::map<std::string, std::pair<const char*, const char*>>& descriptions() {
  // name -> {short description, long description}
  static const std::map<std::string, std::pair<const char*, const char*>> d = {
      {"azure_account", {"Azure storage account name.", "Environment: AZURE_STORAGE_ACCOUNT."}},
      {"azure_block_size",
       {"Size of the first blocks of a large Azure upload.",
        "Default 8MB; blocks double every 5,000 so 50,000 blocks reach the largest blob."}},
      {"azure_blocks_in_flight",
       {"How many blocks of one Azure upload are sent in parallel (1-64).",
        "Default 3. Memory: (in flight + 1) x block size."}},
      {"azure_endpoint",
       {"Azure Blob endpoint URL.",
        "Default https://<account>.blob.core.windows.net; Azurite and path-style endpoints "
        "include the account: http://127.0.0.1:10000/devstoreaccount1."}},
      {"azure_key",
       {"Azure storage account key (base64, SharedKey authentication).",
        "Secret. Environment: AZURE_STORAGE_KEY."}},
      {"azure_sas_token",
       {"Azure shared access signature token, instead of an account key.",
        "Secret. Environment: AZURE_STORAGE_SAS_TOKEN."}},
      {"gcs_endpoint",
       {"Google Cloud Storage XML API endpoint URL.", "Default https://storage.googleapis.com."}},
      {"gcs_hmac_access_id", {"Google Cloud Storage HMAC access id.", nullptr}},
      {"gcs_hmac_secret", {"Google Cloud Storage HMAC secret.", "Secret."}},
      {"gcs_key_file",
       {"Path of a Google service-account JSON key file.",
        "Environment: GOOGLE_APPLICATION_CREDENTIALS."}},
      {"s3_access_key_id", {"S3 access key id.", "Environment: AWS_ACCESS_KEY_ID."}},
      {"s3_endpoint",
       {"S3 endpoint URL, for S3-compatible stores (MinIO, Ceph, R2, ...).",
        "Default: AWS's endpoint for pgvault.s3_region. Environment: AWS_ENDPOINT_URL_S3, "
        "AWS_ENDPOINT_URL."}},
      {"s3_part_size",
       {"Size of the first parts of a multipart S3 upload (5MB-5GB).",
        "Default 8MB; parts double every 900 so 10,000 parts reach the largest object."}},
      {"s3_parts_in_flight",
       {"How many parts of one S3 upload are sent in parallel (1-64).",
        "Default 3. Memory: (in flight + 1) x part size."}},
      {"s3_region",
       {"S3 region.", "Default us-east-1. Environment: AWS_REGION, AWS_DEFAULT_REGION."}},
      {"s3_secret_access_key",
       {"S3 secret access key.", "Secret. Environment: AWS_SECRET_ACCESS_KEY."}},
      {"s3_session_token",
       {"S3 session token of temporary credentials.", "Secret. Environment: AWS_SESSION_TOKEN."}},
      {"s3_uri_style",
       {"S3 addressing: host (virtual-host style) or path.",
        "Default host, or path when pgvault.s3_endpoint is an IP address or localhost."}},
      {"storage_ca_file",
       {"PEM file of certificate authorities for TLS to the object store.",
        "Default: the system's CA bundle."}},
      {"storage_connect_timeout",
       {"Timeout for connecting to the object store (TCP and TLS).", "Default 10s."}},
      {"storage_stall_timeout",
       {"A transfer to or from the object store that moves no byte for this long fails and "
        "is retried.",
        "Default 60s."}},
      {"storage_verify_tls",
       {"Whether the object store's TLS certificate and host name are verified.",
        "Default on. Turn off only for testing."}},
  };
  return d;
}

const std::string& setting_name(std::size_t i) {
  return known_storage_settings()[i];
}

template <std::size_t I>
bool check_storage_setting(char** newval, void**, GucSource) {
  try {
    validate_storage_setting(setting_name(I), *newval ? *newval : "");
    return true;
  } catch (const std::exception& e) {
    GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
    GUC_check_errmsg("%s", e.what());  // core messages never carry a secret's value
    return false;
  }
}

template <std::size_t I>
const char* show_secret_setting() {
  return values[I] != nullptr && values[I][0] != '\0' ? "********" : "";
}

template <std::size_t... I>
constexpr auto check_hooks(std::index_sequence<I...>) {
  return std::array<GucStringCheckHook, sizeof...(I)>{&check_storage_setting<I>...};
}
template <std::size_t... I>
constexpr auto show_hooks(std::index_sequence<I...>) {
  return std::array<GucShowHook, sizeof...(I)>{&show_secret_setting<I>...};
}
constexpr auto kCheckHooks = check_hooks(std::make_index_sequence<kMaxStorageSettings>{});
constexpr auto kShowHooks = show_hooks(std::make_index_sequence<kMaxStorageSettings>{});

emit_log_hook_type previous_emit_log_hook = nullptr;

// Every secret pgvault.* setting: storage credentials, the encryption
// passphrase, the alert webhook URL and the SMTP credentials.
const std::vector<std::string>& secret_setting_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"encryption_passphrase"};
    for (const std::string& n : known_storage_settings())
      if (is_secret_setting(n)) v.push_back(n);
    for (const std::string& n : alert_secret_setting_names()) v.push_back(n);
    return v;
  }();
  return names;
}

// Rewrites 'parameter "pgvault.<secret>" changed to "<value>"' to
// 'parameter "pgvault.<secret>" changed'. Matched on the untranslated
// message id, so it works whatever lc_messages is.
void hide_secret_setting_changes(ErrorData* edata) {
  if (edata->message_id != nullptr && edata->message != nullptr &&
      strcmp(edata->message_id, "parameter \"%s\" changed to \"%s\"") == 0) {
    // The name is looked for without its quotes, which translations may change.
    for (const std::string& name : secret_setting_names()) {
      const std::string full = "pgvault." + name;
      const char* at = strstr(edata->message, full.c_str());
      const char next = at ? at[full.size()] : '\0';
      if (at != nullptr && !isalnum(static_cast<unsigned char>(next)) && next != '_') {
        // Allocated in the error's own context (EmitErrorReport switched to it).
        edata->message = psprintf("parameter \"%s\" changed", full.c_str());
        break;
      }
    }
  }
  if (previous_emit_log_hook) previous_emit_log_hook(edata);
}

}  // namespace

void define_storage_settings() {
  const auto& names = known_storage_settings();
  if (names.size() > kMaxStorageSettings)
    elog(FATAL, "pgvault: %zu storage settings, at most %zu supported", names.size(),
         kMaxStorageSettings);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string full = "pgvault." + names[i];
    const bool secret = is_secret_setting(names[i]);
    auto d = descriptions().find(names[i]);
    const char* short_desc = d != descriptions().end() ? d->second.first : "Object-store setting.";
    const char* long_desc = d != descriptions().end() ? d->second.second : nullptr;
    // DefineCustomStringVariable keeps the name and descriptions: give it
    // copies that live as long as the process.
    DefineCustomStringVariable(MemoryContextStrdup(TopMemoryContext, full.c_str()), short_desc,
                               long_desc, &values[i], "", PGC_SIGHUP,
                               secret ? GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL : 0, kCheckHooks[i],
                               nullptr, secret ? kShowHooks[i] : nullptr);
  }
  previous_emit_log_hook = emit_log_hook;
  emit_log_hook = hide_secret_setting_changes;
}

StorageSettings current_storage_settings() {
  StorageSettings settings;
  const auto& names = known_storage_settings();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (values[i] != nullptr && values[i][0] != '\0') settings[names[i]] = values[i];
  apply_environment(settings);
  return settings;
}

std::unique_ptr<Storage> open_repository(std::string_view url) {
  return pgvault::open_repository(url, current_storage_settings());
}

}  // namespace pgvault::pg
