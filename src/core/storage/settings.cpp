#include "pgvault/storage/settings.hpp"

#include "pgvault/config/setting_value.hpp"
#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/storage/azure_storage.hpp"  // kAzureMaxBlockSize
#include "pgvault/text.hpp"
#include "driver_settings.hpp"

#include <algorithm>

namespace pgvault {

namespace {

// ---- the known settings ------------------------------------------------------------

struct KnownSetting {
  std::string_view name;
  std::vector<std::string_view> vendor_env;  // standard variables, in precedence order
};

const std::vector<KnownSetting>& known_table() {
  static const std::vector<KnownSetting> table = {
      {"azure_account", {"AZURE_STORAGE_ACCOUNT"}},
      {"azure_block_size", {}},
      {"azure_blocks_in_flight", {}},
      {"azure_endpoint", {}},
      {"azure_key", {"AZURE_STORAGE_KEY"}},
      {"azure_sas_token", {"AZURE_STORAGE_SAS_TOKEN"}},
      // GCS: HMAC keys have no standard variable; the service-account key
      // file is Google's Application Default Credentials variable.
      {"gcs_endpoint", {}},
      {"gcs_hmac_access_id", {}},
      {"gcs_hmac_secret", {}},
      {"gcs_key_file", {"GOOGLE_APPLICATION_CREDENTIALS"}},
      {"s3_access_key_id", {"AWS_ACCESS_KEY_ID"}},
      {"s3_endpoint", {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
      {"s3_part_size", {}},
      {"s3_parts_in_flight", {}},
      {"s3_region", {"AWS_REGION", "AWS_DEFAULT_REGION"}},
      {"s3_secret_access_key", {"AWS_SECRET_ACCESS_KEY"}},
      {"s3_session_token", {"AWS_SESSION_TOKEN"}},
      {"s3_uri_style", {}},
      {"storage_ca_file", {}},
      {"storage_connect_timeout", {}},
      {"storage_stall_timeout", {}},
      {"storage_verify_tls", {}},
  };
  return table;
}

const KnownSetting* find_known(std::string_view name) {
  for (const auto& k : known_table())
    if (k.name == name) return &k;
  return nullptr;
}

std::string env_name(std::string_view setting) {
  return "PGVAULT_" + ascii_upper(setting);
}

// Unknown s3_/azure_/gcs_/storage_ names are typos: refuse them.
void check_names(const StorageSettings& settings) {
  static constexpr std::string_view families[] = {"s3_", "azure_", "gcs_", "storage_"};
  for (const auto& [name, value] : settings) {
    (void)value;
    for (std::string_view family : families) {
      if (!name.starts_with(family) || find_known(name)) continue;
      std::string msg = "unknown setting pgvault." + name;
      std::string best;
      std::size_t best_d = 3;  // suggest only close matches
      std::string valid;
      for (const auto& k : known_table()) {
        std::size_t d = edit_distance(name, k.name);
        if (d < best_d) {
          best_d = d;
          best = std::string(k.name);
        }
        if (k.name.starts_with(family)) {
          if (!valid.empty()) valid += ", ";
          valid += "pgvault." + std::string(k.name);
        }
      }
      if (!best.empty()) msg += " (did you mean pgvault." + best + "?)";
      msg += "; valid " + std::string(family) + " settings: " + valid;
      throw Error(ErrorKind::invalid_argument, msg);
    }
  }
}

}  // namespace

namespace storage_internal {

std::string env_hint(std::string_view setting) {
  const KnownSetting* k = find_known(setting);
  std::string vendor;
  if (k)
    for (std::string_view v : k->vendor_env)
      vendor += (vendor.empty() ? "" : " or ") + std::string(v);
  return "pgvault." + std::string(setting) +
         " (environment: " + (vendor.empty() ? "" : vendor + " or ") + env_name(setting) + ")";
}

void validate_each(const StorageSettings& settings) {
  check_names(settings);
  for (const auto& [name, value] : settings)
    if (find_known(name)) validate_storage_setting(name, value);
}

}  // namespace storage_internal

const std::vector<std::string>& known_storage_settings() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& k : known_table()) v.emplace_back(k.name);
    std::sort(v.begin(), v.end());
    return v;
  }();
  return names;
}

void apply_environment(StorageSettings& settings,
                       const std::function<const char*(const char*)>& getenv) {
  auto lookup = [&](const std::string& var) -> std::string {
    const char* v = getenv(var.c_str());
    return v ? std::string(v) : std::string();
  };
  for (const auto& k : known_table()) {
    std::string name(k.name);
    auto it = settings.find(name);
    if (it != settings.end() && !it->second.empty()) continue;
    std::string value = lookup(env_name(name));
    for (std::size_t i = 0; value.empty() && i < k.vendor_env.size(); ++i)
      value = lookup(std::string(k.vendor_env[i]));
    if (!value.empty()) settings[name] = value;
  }
}

void validate_storage_setting(std::string_view name, std::string_view value) {
  if (trim(value).empty()) return;
  const std::string n = ascii_lower(name);
  if (!find_known(n)) {
    StorageSettings one{{n, std::string(value)}};
    check_names(one);  // names the valid settings of the family
    throw Error(ErrorKind::invalid_argument, "unknown storage setting pgvault." + n);
  }
  auto in_range = [&](std::uint64_t v, std::uint64_t lo, std::uint64_t hi, std::string_view what) {
    if (v < lo || v > hi) bad_setting_value(n, value, "must be between " + std::string(what));
  };
  if (n == "s3_part_size") {
    in_range(parse_size_setting(n, value), 5ull << 20, 5ull << 30, "5MB and 5GB");
  } else if (n == "azure_block_size") {
    in_range(parse_size_setting(n, value), 1, kAzureMaxBlockSize, "1B and 4000MB");
  } else if (n.ends_with("_in_flight")) {
    int v = parse_int_setting(n, value);
    in_range(v < 0 ? 0 : static_cast<std::uint64_t>(v), 1, 64, "1 and 64");
  } else if (n == "s3_uri_style") {
    std::string v = ascii_lower(trim(value));
    if (v != "host" && v != "path") bad_setting_value(n, value, "expected host or path");
  } else if (n.ends_with("_endpoint")) {
    http::Url u;
    try {
      u = http::parse_url(trim(value));
    } catch (const Error& e) {
      bad_setting_value(n, value, e.what());
    }
    if (u.scheme != "http" && u.scheme != "https")
      bad_setting_value(n, value, "expected an http:// or https:// URL");
    // Azure's path-style endpoints (Azurite, some sovereign setups) carry the
    // account in the path; S3 and GCS endpoints are a bare origin.
    if (!n.starts_with("azure_") && ((u.path != "/" && !u.path.empty()) || !u.query.empty()))
      bad_setting_value(n, value, "expected scheme://host[:port] without a path or query");
  } else if (n == "storage_verify_tls") {
    (void)parse_bool_setting(n, value);
  } else if (n.ends_with("_timeout")) {
    if (parse_duration_ms_setting(n, value) == 0)
      bad_setting_value(n, value, "must be greater than zero");
  } else if (n == "azure_key") {
    bool ok = true;
    try {
      ok = !http::base64_decode(trim(value)).empty();
    } catch (const Error&) {
      ok = false;
    }
    if (!ok) bad_setting_value(n, value, "expected the storage account key in base64");
  }
}

http::HttpOptions http_options_from(const StorageSettings& settings) {
  http::HttpOptions o;
  storage_internal::validate_each(settings);
  o.ca_file = setting_or_empty(settings, "storage_ca_file");
  if (std::string v = setting_or_empty(settings, "storage_verify_tls"); !v.empty())
    o.verify_tls = parse_bool_setting("storage_verify_tls", v);
  if (std::string v = setting_or_empty(settings, "storage_connect_timeout"); !v.empty()) {
    std::uint64_t ms = parse_duration_ms_setting("storage_connect_timeout", v);
    if (ms == 0) bad_setting_value("storage_connect_timeout", v, "must be greater than zero");
    o.connect_timeout_ms = static_cast<long>(ms);
  }
  if (std::string v = setting_or_empty(settings, "storage_stall_timeout"); !v.empty())
    o.stall_timeout_s =
        static_cast<long>((parse_duration_ms_setting("storage_stall_timeout", v) + 999) / 1000);
  return o;
}

}  // namespace pgvault
