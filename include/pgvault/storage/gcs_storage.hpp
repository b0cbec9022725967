// gs://bucket/prefix: Google Cloud Storage through its XML API, which speaks
// the S3 protocol; the driver is the S3 driver with GCS's differences (see
// src/core/storage/gcs_storage.cpp for the list and how each is handled).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/repository_url.hpp"
#include "pgvault/storage/settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault {

class Storage;

inline constexpr std::string_view kGcsDefaultEndpoint = "https://storage.googleapis.com";

// Credentials: HMAC keys (requests signed with SigV4, region "auto"), or a
// service account (requests carry "Authorization: Bearer <token>", the token
// got by an RS256-signed JWT exchange at the key's token_uri). Exactly one of
// the two must be set.
struct GcsConfig {
  std::string bucket;
  std::string prefix;    // no leading/trailing '/'; may be empty
  std::string endpoint;  // "https://storage.googleapis.com" when empty
  std::string hmac_access_id;
  std::string hmac_secret;
  // The service account's JSON key file, read by make_gcs_storage() (the
  // error names the file, never its content) ...
  std::string key_file;
  // ... or the key itself, already parsed (wins over key_file).
  std::optional<http::GcsServiceAccount> service_account;
  std::uint64_t part_size = 8ull << 20;  // as S3: grows so 10,000 parts reach 5 TiB
  int parts_in_flight = 3;
  std::uint64_t single_put_limit = 8ull << 20;
};

// The pgvault.gcs_* settings of a gs:// repository (gcs_settings.cpp);
// errors as s3_config_from's. Credentials are HMAC keys
// (gcs_hmac_access_id and gcs_hmac_secret, both) or a service-account JSON
// key file (gcs_key_file, which GOOGLE_APPLICATION_CREDENTIALS fills). When
// both are set the HMAC keys win and key_file is left empty: they are set for
// pgvault alone, while GOOGLE_APPLICATION_CREDENTIALS is often a machine-wide
// default. The key file is not read here (make_gcs_storage reads it).
GcsConfig gcs_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);

// Seconds since the epoch; injectable so tests can move time.
using UnixClock = std::function<std::int64_t()>;

// A cached token is used until this long before it expires (at most half its
// lifetime), so a request never starts with a token about to lapse.
inline constexpr std::int64_t kGcsTokenRefreshMargin = 300;

// OAuth 2.0 access tokens for a service account: POSTs the JWT assertion
// (http::gcs_jwt_assertion) to the account's token_uri and caches the token
// until kGcsTokenRefreshMargin before it expires. Thread-safe: part uploads on
// several threads share one source; while one thread fetches, the others wait
// for its token instead of fetching their own. Errors name GCS, the token URI
// and the HTTP status (and the OAuth error code), never the assertion, the
// key or a token.
class GcsTokenSource {
 public:
  // The token requests go through a transport from `transports` (created on
  // first use) with `retry`; `clock` defaults to the system clock.
  GcsTokenSource(http::GcsServiceAccount account, http::TransportFactory transports,
                 http::RetryPolicy retry = {}, UnixClock clock = {});
  ~GcsTokenSource();
  GcsTokenSource(const GcsTokenSource&) = delete;
  GcsTokenSource& operator=(const GcsTokenSource&) = delete;

  // A token valid for a while yet: the cached one, or a new one.
  std::string token();
  // The store refused `rejected` (HTTP 401): forget it if it is the cached
  // token, so the next token() fetches a new one. A token already replaced
  // by another thread is left alone (one refresh per expiry, not per thread).
  void invalidate(std::string_view rejected);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads and parses a service-account JSON key file. Throws Error(io) when it
// cannot be read and Error(invalid_argument) when it is not a service-account
// key; both name the file, never its content.
http::GcsServiceAccount read_gcs_key_file(const std::string& path);

// Validates the config (errors say "GCS" and name the field) and builds the
// driver; a key_file is read here. No request is sent while opening.
std::unique_ptr<Storage> make_gcs_storage(const GcsConfig& config,
                                          http::TransportFactory transports);
// Same, with the retry policy of every request (storage and token endpoint)
// and the clock of the token cache (tests inject both).
std::unique_ptr<Storage> make_gcs_storage(const GcsConfig& config,
                                          http::TransportFactory transports,
                                          http::RetryPolicy retry, UnixClock clock = {});

}  // namespace pgvault
