#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/uri.hpp"

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Request-signing primitives for the object-store drivers: AWS Signature
// Version 4 (S3 and S3-compatible stores, GCS HMAC keys), Azure SharedKey and
// SAS, and the RS256 JWT assertion of a GCS service account. Pure functions
// over strings: no I/O, no clock (the caller passes the time).
namespace pgvault::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- crypto helpers (OpenSSL) ---------------------------------------------
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string base64_encode(std::string_view bytes);                     // standard, padded
// Throws pgvault::Error(invalid_argument) on malformed input.
std::string base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);  // RFC 4648 section 5, no padding

// ---- AWS Signature Version 4 -------------------------------------------------
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SigV4Request {
  std::string method;  // "GET", "PUT", ...
  // The path as sent on the wire. For S3 it is already percent-encoded (each
  // key byte outside the unreserved set as %XX, '/' kept; see
  // uri_encode(key, true)) and is used unchanged in the canonical request.
  std::string path = "/";
  // Every other AWS service encodes the path once more when canonicalising
  // ("double encoding"); S3 does not. Set for non-S3 services.
  bool double_encode_path = false;
  // Remove dot segments and repeated slashes first (non-S3 services only; S3
  // keys may legitimately contain them).
  bool normalize_path = false;
  QueryParams query;  // decoded names/values; canonical_query() sorts/encodes
  // Headers to sign, any case, any order; a name may repeat (values are then
  // comma-joined in order). Must include "host". Do not pass x-amz-date,
  // x-amz-content-sha256 or x-amz-security-token: the signer adds them.
  Headers headers;
  // Hex SHA-256 of the body, or kUnsignedPayload.
  std::string payload_hash = std::string(kEmptyPayloadSha256);
  // Send and sign x-amz-content-sha256 (required by S3; other services sign
  // without it).
  bool content_sha256_header = true;
  std::string timestamp;  // "YYYYMMDD'T'HHMMSS'Z'", see compact_timestamp(std::time_t)
  std::string region;     // "us-east-1"; "auto" for GCS and R2
  std::string service;    // "s3"
};

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional; adds x-amz-security-token
  // Some services (STS-style) want the token added after signing. Default:
  // the token is a signed header (what S3 requires).
  bool sign_session_token = true;
};

struct SigV4Result {
  // Headers the caller must add to the request, in this order: x-amz-date,
  // x-amz-content-sha256 (if enabled), x-amz-security-token (if any),
  // Authorization.
  Headers headers;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header value
};

// The canonical URI of req (after optional normalisation and double encoding).
std::string sigv4_canonical_uri(const SigV4Request& req);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
std::string sigv4_signing_key(std::string_view secret, std::string_view date,
                              std::string_view region, std::string_view service);
// Throws pgvault::Error(invalid_argument) on a malformed timestamp, missing
// host header or empty credentials/region/service.
SigV4Result sigv4_sign(const SigV4Request& req, const SigV4Credentials& creds);

// ---- Azure Blob: SharedKey and SAS ------------------------------------------
inline constexpr std::string_view kAzureApiVersion = "2020-10-02";

struct AzureSharedKeyRequest {
  std::string method;
  std::string account;
  // The URL path as sent, percent-encoded, starting with '/': "/container/blob".
  // With path-style endpoints (Azurite) it includes the account:
  // "/devstoreaccount1/container/blob".
  std::string path = "/";
  QueryParams query;  // decoded
  // All request headers that will be sent (any case). Standard headers
  // (Content-Length, Content-Type, Range, ...) and every x-ms-* header are
  // taken from here; include x-ms-date and x-ms-version.
  Headers headers;
};

struct AzureSharedKeyResult {
  std::string string_to_sign;
  std::string signature;      // base64
  std::string authorization;  // "SharedKey account:signature"
};

// Signs with the base64 account key (version 2015-02-21 and later format:
// Content-Length empty when 0). Throws pgvault::Error(invalid_argument) when
// the key is not base64.
AzureSharedKeyResult azure_sharedkey_sign(const AzureSharedKeyRequest& req,
                                          std::string_view account_key_base64);

// Appends a SAS token (with or without its leading '?') to url, using '&'
// when url already has a query. An empty token returns url unchanged.
std::string azure_append_sas(std::string_view url, std::string_view sas_token);

// ---- Google Cloud Storage -----------------------------------------------------
inline constexpr std::string_view kGcsScopeReadWrite =
    "https://www.googleapis.com/auth/devstorage.read_write";
inline constexpr std::string_view kGcsDefaultTokenUri = "https://oauth2.googleapis.com/token";

// GCS XML API with HMAC keys: SigV4 with region "auto" and service "s3"
// (the AWS4-HMAC-SHA256 form GCS accepts for interoperability).
SigV4Result gcs_hmac_sign(SigV4Request req, const SigV4Credentials& creds);

struct GcsServiceAccount {
  std::string client_email;
  std::string private_key;  // PEM (PKCS#8)
  std::string private_key_id;
  std::string token_uri = std::string(kGcsDefaultTokenUri);
  std::string project_id;  // may be empty; needed to create a bucket (x-goog-project-id)
};

// Parses a service-account JSON key file. Throws pgvault::Error
// (invalid_argument) when it is not JSON, not type "service_account", or
// lacks client_email/private_key. Error messages never include the key.
GcsServiceAccount gcs_parse_service_account(std::string_view json);

// The RS256-signed JWT assertion ("header.claims.signature", base64url) for
// the OAuth 2.0 JWT-bearer token exchange: iss=client_email, scope, aud=
// token_uri, iat, exp=iat+3600.
std::string gcs_jwt_assertion(const GcsServiceAccount& account, std::int64_t iat,
                              std::string_view scope = kGcsScopeReadWrite);

// The form body of the token request for an assertion.
std::string gcs_token_request_body(std::string_view assertion);

// The token endpoint's answer: {"access_token": ..., "expires_in": 3599,
// "token_type": "Bearer"}.
struct GcsAccessToken {
  std::string access_token;
  std::int64_t expires_in = 0;  // seconds; 3600 when the answer has none
};

// Parses a successful token response. Throws pgvault::Error(storage) when it
// is not JSON, lacks access_token, or its token_type is not Bearer. Messages
// never include the body (it carries the token).
GcsAccessToken gcs_parse_token_response(std::string_view json);

// "invalid_grant: Invalid JWT Signature." from an OAuth error answer
// ({"error": ..., "error_description": ...}); "" when the body is not one.
std::string gcs_token_error_summary(std::string_view json);

}  // namespace pgvault::http
