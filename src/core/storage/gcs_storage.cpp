// The GCS driver (gs://bucket/prefix): the S3 driver on the GCS XML API
// (https://storage.googleapis.com, path style: bucket names may hold dots and
// underscores that virtual-host TLS names cannot), with "GCS" in every
// message. What the XML API does not share with S3, and how each is handled:
//
// - Authentication: HMAC keys sign with SigV4 exactly as S3 does, but with
//   region "auto" (http::gcs_hmac_sign). A service account sends
//   "Authorization: Bearer <token>" instead, from a GcsTokenSource; no
//   x-amz-* headers then. A 401 (expired or revoked token) invalidates the
//   token and the request is sent once more with a new one.
// - Multi-object delete: the XML API long had no DeleteObjects (POST
//   ?delete); Google's reference now documents one, but one DELETE per
//   object works with every version and emulator, and retention removes a
//   handful of objects per backup: remove_prefix() lists and deletes object
//   by object (404 = already gone).
// - Bucket creation: GCS buckets belong to a project. With a service account
//   the PUT carries x-goog-project-id (project_id of the key file); with HMAC
//   keys the key's project (the default project for interoperable access)
//   is used. No LocationConstraint body: "auto" is no location, and without
//   a body GCS creates a US multi-region bucket. 409 BucketAlreadyOwnedByYou
//   is success; 409 BucketAlreadyExists (the name belongs to someone else) is
//   reported. A service account without project_id does not try.
// - Listing: the XML API supports ListObjectsV2 (list-type=2,
//   continuation-token / NextContinuationToken), so listing is S3's.
// - Multipart uploads: the XML API multipart upload is documented as
//   compatible with S3's (POST ?uploads with Content-Length 0, PUT
//   ?partNumber&uploadId, POST ?uploadId, DELETE ?uploadId to abort), so the
//   S3 writer with S3's part limits (5 MiB to 5 GiB, at most 10,000 parts;
//   assumed, not measured), part-size growth and abort-on-abandon apply
//   unchanged. Abandoned parts are billed until aborted, as on S3.
// - Reads: Range, Content-Range, 416 with "bytes */0" for an empty object and
//   If-Match on the ETag (412 when it no longer matches) work as on S3, so the
//   shared ranged reader applies unchanged.
// - Errors: the same <Error><Code>..</Code><Message>..</Message> XML
//   (NoSuchBucket, NoSuchKey, AccessDenied, ...), read by the S3 code.
#include "pgvault/storage/gcs_storage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/storage/storage.hpp"
#include "s3_compatible.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace pgvault {

namespace {

constexpr const char* kService = "GCS";

// Bearer tokens from a service account.
class BearerAuthenticator final : public storage_internal::RequestAuthenticator {
 public:
  explicit BearerAuthenticator(std::shared_ptr<GcsTokenSource> tokens)
      : tokens_(std::move(tokens)) {}

  http::HeaderList authenticate(const storage_internal::OutgoingRequest&) override {
    return {{"authorization", "Bearer " + tokens_->token()}};
  }

  bool renew_after_unauthorized(const http::HttpRequest& rejected) override {
    constexpr std::string_view kScheme = "Bearer ";
    for (const auto& [name, value] : rejected.headers) {
      if (name != "authorization" || !value.starts_with(kScheme)) continue;
      tokens_->invalidate(std::string_view(value).substr(kScheme.size()));
      return true;
    }
    return false;
  }

 private:
  std::shared_ptr<GcsTokenSource> tokens_;
};

[[noreturn]] void bad_config(const std::string& what) {
  throw Error(ErrorKind::invalid_argument, "invalid GCS repository settings: " + what);
}

}  // namespace

http::GcsServiceAccount read_gcs_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw Error(ErrorKind::io, "could not read the GCS service-account key file \"" + path +
                                   "\": " + std::strerror(err));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad())
    throw Error(ErrorKind::io, "could not read the GCS service-account key file \"" + path + "\"");
  try {
    return http::gcs_parse_service_account(content.str());
  } catch (const Error& e) {
    // gcs_parse_service_account never quotes the content; add the file.
    throw Error(ErrorKind::invalid_argument,
                "the GCS key file \"" + path + "\" is not usable: " + e.what() +
                    " (create a JSON key for a service account; other credential types are not "
                    "supported)");
  }
}

std::unique_ptr<Storage> make_gcs_storage(const GcsConfig& config,
                                          http::TransportFactory transports,
                                          http::RetryPolicy retry, UnixClock clock) {
  if (!transports) throw Error(ErrorKind::invalid_argument, "GCS: no transport factory");
  const bool hmac = !config.hmac_access_id.empty() || !config.hmac_secret.empty();
  const bool account = config.service_account.has_value() || !config.key_file.empty();
  if (!hmac && !account)
    bad_config("no credentials: set HMAC keys (access id and secret) or a service-account key");
  if (hmac && account) bad_config("set either HMAC keys or a service-account key, not both");
  if (hmac && config.hmac_access_id.empty()) bad_config("the HMAC access id is empty");
  if (hmac && config.hmac_secret.empty()) bad_config("the HMAC secret is empty");

  S3Config s3;
  s3.bucket = config.bucket;
  s3.prefix = config.prefix;
  s3.region = "auto";
  s3.endpoint = config.endpoint.empty() ? std::string(kGcsDefaultEndpoint) : config.endpoint;
  s3.uri_style = "path";
  s3.part_size = config.part_size;
  s3.parts_in_flight = config.parts_in_flight;
  s3.single_put_limit = config.single_put_limit;

  storage_internal::S3Dialect dialect;
  dialect.service = kService;
  dialect.scheme = "gs";
  dialect.multi_object_delete = false;
  dialect.location_constraint = false;
  if (hmac) {
    dialect.authenticator = storage_internal::make_sigv4_authenticator(
        {config.hmac_access_id, config.hmac_secret, "", true}, "auto", http::gcs_hmac_sign);
  } else {
    http::GcsServiceAccount sa =
        config.service_account ? *config.service_account : read_gcs_key_file(config.key_file);
    if (sa.project_id.empty())
      dialect.cannot_create_bucket =
          "the service-account key has no project_id to create it in; create the bucket first";
    else
      dialect.create_bucket_headers.emplace_back("x-goog-project-id", sa.project_id);
    auto tokens =
        std::make_shared<GcsTokenSource>(std::move(sa), transports, retry, std::move(clock));
    dialect.authenticator = std::make_shared<BearerAuthenticator>(std::move(tokens));
  }
  return storage_internal::make_s3_compatible_storage(s3, std::move(dialect), std::move(transports),
                                                      std::move(retry));
}

std::unique_ptr<Storage> make_gcs_storage(const GcsConfig& config,
                                          http::TransportFactory transports) {
  return make_gcs_storage(config, std::move(transports), http::RetryPolicy{}, {});
}

}  // namespace pgvault
