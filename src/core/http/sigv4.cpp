// AWS Signature Version 4, plus the crypto/encoding helpers shared by the
// other signers (they live here because every signer needs HMAC-SHA256).
#include "pgvault/http/signing.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/text.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

namespace pgvault::http {

namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorKind::invalid_argument, what);
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &len) == nullptr) {
    throw Error(ErrorKind::internal, "HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) invalid("invalid base64 (length is not a multiple of 4)");
  if (text.empty()) return {};
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) invalid("invalid base64");
  // EVP_DecodeBlock does not strip the bytes produced by '=' padding.
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string sigv4_canonical_uri(const SigV4Request& req) {
  std::string path = req.path.empty() ? std::string("/") : req.path;
  if (req.normalize_path) path = normalize_path(path);
  if (req.double_encode_path) path = uri_encode(path, /*keep_slash=*/true);
  return path;
}

std::string sigv4_signing_key(std::string_view secret, std::string_view date,
                              std::string_view region, std::string_view service) {
  std::string k = hmac_sha256("AWS4" + std::string(secret), date);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  return hmac_sha256(k, "aws4_request");
}

SigV4Result sigv4_sign(const SigV4Request& req, const SigV4Credentials& creds) {
  const std::string& ts = req.timestamp;
  if (ts.size() != 16 || ts[8] != 'T' || ts[15] != 'Z' || !all_digits(ts.substr(0, 8)) ||
      !all_digits(ts.substr(9, 6))) {
    invalid("SigV4 timestamp must look like 20150830T123600Z, got \"" + ts + "\"");
  }
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
    invalid("SigV4 signing needs an access key id and a secret access key");
  }
  if (req.region.empty() || req.service.empty()) {
    invalid("SigV4 signing needs a region and a service");
  }
  if (req.method.empty()) invalid("SigV4 signing needs an HTTP method");
  if (req.payload_hash.empty()) invalid("SigV4 signing needs a payload hash");

  // Canonical headers: lower-case names, trimmed values, repeated names joined
  // with ',' in the order given; std::map sorts by name.
  std::map<std::string, std::string> canon;
  auto add = [&canon](std::string_view name, std::string_view value) {
    std::string n = ascii_lower(collapse_spaces(name));
    auto [it, inserted] = canon.try_emplace(n, collapse_spaces(value));
    if (!inserted) it->second += "," + collapse_spaces(value);
  };
  for (const auto& [name, value] : req.headers) {
    std::string n = ascii_lower(collapse_spaces(name));
    if (n == "x-amz-date" || n == "x-amz-content-sha256" || n == "x-amz-security-token" ||
        n == "authorization") {
      invalid("SigV4: header " + n + " is added by the signer; do not pass it");
    }
    add(name, value);
  }
  if (!canon.contains("host")) invalid("SigV4 signing needs a host header");

  SigV4Result out;
  out.headers.emplace_back("x-amz-date", ts);
  add("x-amz-date", ts);
  if (req.content_sha256_header) {
    out.headers.emplace_back("x-amz-content-sha256", req.payload_hash);
    add("x-amz-content-sha256", req.payload_hash);
  }
  if (!creds.session_token.empty()) {
    out.headers.emplace_back("x-amz-security-token", creds.session_token);
    if (creds.sign_session_token) add("x-amz-security-token", creds.session_token);
  }

  std::string canonical_headers;
  for (const auto& [name, value] : canon) {
    canonical_headers += name + ":" + value + "\n";
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }

  out.canonical_request = req.method + "\n" + sigv4_canonical_uri(req) + "\n" +
                          canonical_query(req.query) + "\n" + canonical_headers + "\n" +
                          out.signed_headers + "\n" + req.payload_hash;

  const std::string date = ts.substr(0, 8);
  const std::string scope = date + "/" + req.region + "/" + req.service + "/aws4_request";
  out.string_to_sign =
      "AWS4-HMAC-SHA256\n" + ts + "\n" + scope + "\n" + sha256_hex(out.canonical_request);

  out.signature =
      hex(hmac_sha256(sigv4_signing_key(creds.secret_access_key, date, req.region, req.service),
                      out.string_to_sign));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope +
                      ", SignedHeaders=" + out.signed_headers + ", Signature=" + out.signature;
  out.headers.emplace_back("Authorization", out.authorization);
  return out;
}

}  // namespace pgvault::http
