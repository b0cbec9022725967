// s3_config_from: the pgvault.s3_* settings onto the S3 driver's configuration.
#include "pgvault/error.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/text.hpp"
#include "driver_settings.hpp"
#include "storage_internal.hpp"

#include <string>
#include <vector>

namespace pgvault {

namespace {

using namespace storage_internal;

const DriverSettings<S3Config>& s3_settings() {
  static const DriverSettings<S3Config> driver{
      "s3",
      "an S3",
      &S3Config::bucket,
      {text_field("s3_region", &S3Config::region), text_field("s3_endpoint", &S3Config::endpoint),
       text_field("s3_access_key_id", &S3Config::access_key_id),
       text_field("s3_secret_access_key", &S3Config::secret_access_key),
       text_field("s3_session_token", &S3Config::session_token),
       size_field("s3_part_size", &S3Config::part_size),
       count_field("s3_parts_in_flight", &S3Config::parts_in_flight)},
  };
  return driver;
}

// Endpoints on this machine or an IP address (MinIO, Ceph, a test server)
// have no per-bucket DNS names: they take path-style URLs.
bool is_local_host(const std::string& host) {
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  if (host.find(':') != std::string::npos) return true;  // IPv6 literal
  return looks_like_ipv4(host);
}

}  // namespace

S3Config s3_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  S3Config c = map_driver_settings(s3_settings(), url, settings);
  std::string style = ascii_lower(trim(setting_or_empty(settings, "s3_uri_style")));
  if (style.empty()) {
    style = "host";
    if (!c.endpoint.empty()) {
      http::Url u;
      try {
        u = http::parse_url(c.endpoint);
      } catch (const Error& e) {
        bad_setting_value("s3_endpoint", c.endpoint, e.what());
      }
      if (is_local_host(u.host)) style = "path";
    }
  } else if (style != "host" && style != "path") {
    bad_setting_value("s3_uri_style", setting_or_empty(settings, "s3_uri_style"),
                      "expected host or path");
  }
  c.uri_style = style;
  std::vector<std::string> missing;
  if (c.access_key_id.empty()) missing.push_back(env_hint("s3_access_key_id"));
  if (c.secret_access_key.empty()) missing.push_back(env_hint("s3_secret_access_key"));
  if (!missing.empty()) {
    std::string msg = "S3 repository " + url.label() + " has no credentials: set " + missing[0];
    if (missing.size() > 1) msg += " and " + missing[1];
    throw Error(ErrorKind::invalid_argument, msg);
  }
  return c;
}

}  // namespace pgvault
