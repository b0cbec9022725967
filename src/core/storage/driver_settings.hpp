// Internal to src/core/storage: what every driver's settings mapping
// (s3_settings.cpp, azure_settings.cpp, gcs_settings.cpp) shares. A driver
// lists its fields and the setting each comes from; map_driver_settings()
// checks the URL's scheme and every setting, and copies them over. What is
// the driver's own (S3's uri style default, the credential rules) stays in
// its file.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/config/setting_value.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/repository_url.hpp"
#include "pgvault/storage/settings.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault::storage_internal {

// Every given setting checked on its own (validate_storage_setting), after
// refusing unknown s3_/azure_/gcs_/storage_ names (typos), listing the
// valid ones and the closest match.
void validate_each(const StorageSettings& settings);

// How a message asks for a setting: "pgvault.s3_region (environment:
// AWS_REGION or AWS_DEFAULT_REGION or PGVAULT_S3_REGION)".
std::string env_hint(std::string_view setting);

// A field of a driver's configuration and the setting it comes from.
template <class Config>
struct SettingField {
  std::string_view setting;
  std::function<void(Config&, std::string_view setting, const std::string& value)> assign;
};

// The value as given.
template <class Config>
SettingField<Config> text_field(std::string_view setting, std::string Config::*member) {
  return {setting, [member](Config& c, std::string_view, const std::string& v) { c.*member = v; }};
}
// A size: parse_size_setting.
template <class Config>
SettingField<Config> size_field(std::string_view setting, std::uint64_t Config::*member) {
  return {setting, [member](Config& c, std::string_view name, const std::string& v) {
            c.*member = parse_size_setting(name, v);
          }};
}
// A count: parse_int_setting.
template <class Config>
SettingField<Config> count_field(std::string_view setting, int Config::*member) {
  return {setting, [member](Config& c, std::string_view name, const std::string& v) {
            c.*member = parse_int_setting(name, v);
          }};
}

template <class Config>
struct DriverSettings {
  std::string_view scheme;         // "s3"
  std::string_view store;          // "an S3": "not an S3 repository: gs://"
  std::string Config::*container;  // receives the URL's bucket or container
  std::vector<SettingField<Config>> fields;
};

// The configuration of url's repository from settings: the URL's container
// and prefix, and every field whose setting is set (an empty or missing
// setting keeps the configuration's default). Throws Error(invalid_argument)
// when url is another store's, or for any setting validate_each() refuses.
template <class Config>
Config map_driver_settings(const DriverSettings<Config>& driver, const ParsedRepositoryUrl& url,
                           const StorageSettings& settings) {
  if (url.scheme != driver.scheme)
    throw Error(ErrorKind::invalid_argument,
                "not " + std::string(driver.store) + " repository: " + url.scheme + "://");
  validate_each(settings);
  Config c;
  c.*driver.container = url.container;
  c.prefix = url.prefix;
  for (const SettingField<Config>& f : driver.fields)
    if (std::string v = setting_or_empty(settings, f.setting); !v.empty())
      f.assign(c, f.setting, v);
  return c;
}

}  // namespace pgvault::storage_internal
