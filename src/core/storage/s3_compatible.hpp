// Internal to src/core/storage: the S3 driver, parametrised for stores that
// speak the S3 API with a few differences (the GCS XML API). make_s3_storage()
// is this with the S3 dialect; make_gcs_storage() with the GCS one.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/storage.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pgvault::storage_internal {

// A request about to be sent, as its authenticator sees it.
struct OutgoingRequest {
  std::string method;
  std::string host;          // the Host header's value
  std::string path;          // as sent, percent-encoded
  http::QueryParams query;   // decoded
  http::HeaderList headers;  // the driver's own headers (range, if-match, content-type, ...)
  std::string_view body;
};

// Adds credentials to each request. Called concurrently by part uploads.
class RequestAuthenticator {
 public:
  virtual ~RequestAuthenticator() = default;
  // Headers to add to the request (Authorization and whatever the scheme needs).
  virtual http::HeaderList authenticate(const OutgoingRequest& request) = 0;
  // The store answered 401 to `rejected` (as sent). True when fresh credentials
  // are worth one more attempt (an expired or revoked bearer token).
  virtual bool renew_after_unauthorized(const http::HttpRequest& rejected) {
    (void)rejected;
    return false;
  }
};

// AWS Signature V4 with these keys (x-amz-content-sha256 = the body's
// SHA-256). `sign` is http::sigv4_sign for S3 (the region is the config's)
// or http::gcs_hmac_sign for GCS HMAC keys (region "auto").
using SigV4Signer =
    std::function<http::SigV4Result(http::SigV4Request, const http::SigV4Credentials&)>;
std::shared_ptr<RequestAuthenticator> make_sigv4_authenticator(http::SigV4Credentials credentials,
                                                               std::string region,
                                                               SigV4Signer sign);

// What differs between S3 and the S3-compatible stores this driver serves.
struct S3Dialect {
  std::string service = "S3";  // begins every message: "S3: PUT ... answered HTTP 403"
  std::string scheme = "s3";   // of url(): "s3://bucket/prefix"
  // Null = SigV4 (http::sigv4_sign) with the config's keys and region.
  std::shared_ptr<RequestAuthenticator> authenticator;
  // DeleteObjects (POST ?delete, 1000 keys a request); false = one DELETE
  // per object.
  bool multi_object_delete = true;
  // CreateBucket sends <LocationConstraint>region</...> outside us-east-1.
  bool location_constraint = true;
  http::HeaderList create_bucket_headers;  // e.g. x-goog-project-id
  // Non-empty: a missing bucket is never created; this says why.
  std::string cannot_create_bucket;
};

// Validates the config (messages say "invalid <service> setting ...") and
// builds the driver. Keys may be empty when the dialect has an authenticator.
std::unique_ptr<Storage> make_s3_compatible_storage(const S3Config& config, S3Dialect dialect,
                                                    http::TransportFactory transports,
                                                    http::RetryPolicy retry);

}  // namespace pgvault::storage_internal
