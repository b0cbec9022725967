// gcs_config_from: the pgvault.gcs_* settings onto the GCS driver's
// configuration.
#include "pgvault/error.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "driver_settings.hpp"

#include <string>

namespace pgvault {

namespace {

using namespace storage_internal;

const DriverSettings<GcsConfig>& gcs_settings() {
  static const DriverSettings<GcsConfig> driver{
      "gs",
      "a GCS",
      &GcsConfig::bucket,
      {text_field("gcs_endpoint", &GcsConfig::endpoint),
       text_field("gcs_hmac_access_id", &GcsConfig::hmac_access_id),
       text_field("gcs_hmac_secret", &GcsConfig::hmac_secret),
       text_field("gcs_key_file", &GcsConfig::key_file)},
  };
  return driver;
}

}  // namespace

GcsConfig gcs_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  GcsConfig c = map_driver_settings(gcs_settings(), url, settings);
  std::string label = "GCS repository " + url.label();
  if (!c.hmac_access_id.empty() || !c.hmac_secret.empty()) {
    // HMAC keys win over a key file: they are set for pgvault alone, while
    // GOOGLE_APPLICATION_CREDENTIALS is often a machine-wide default.
    for (std::string_view name : {"gcs_hmac_access_id", "gcs_hmac_secret"})
      if (setting_or_empty(settings, name).empty())
        throw Error(ErrorKind::invalid_argument,
                    label + " has an incomplete HMAC key: set " + env_hint(name) + " too");
    c.key_file.clear();
  } else if (c.key_file.empty()) {
    throw Error(ErrorKind::invalid_argument,
                label + " has no credentials: set " + env_hint("gcs_key_file") +
                    " to a service-account JSON key file, or HMAC keys in " +
                    env_hint("gcs_hmac_access_id") + " and " + env_hint("gcs_hmac_secret"));
  }
  return c;
}

}  // namespace pgvault
