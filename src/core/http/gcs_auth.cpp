// Google Cloud Storage: HMAC keys (SigV4 interoperability form) and the
// service-account RS256 JWT assertion for the OAuth 2.0 token exchange.
#include "pgvault/http/signing.hpp"

#include "pgvault/error.hpp"

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

namespace pgvault::http {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorKind::invalid_argument, what);
}

std::string rs256_sign(std::string_view pem, std::string_view data) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw Error(ErrorKind::internal, "BIO_new_mem_buf failed");
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) invalid("GCS service account: private_key is not a PEM private key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    invalid("GCS service account: private_key is not an RSA key");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) throw Error(ErrorKind::internal, "EVP_MD_CTX_new failed");
  std::size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    throw Error(ErrorKind::internal, "RS256 signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1) {
    throw Error(ErrorKind::internal, "RS256 signing failed");
  }
  sig.resize(len);
  return sig;
}

}  // namespace

SigV4Result gcs_hmac_sign(SigV4Request req, const SigV4Credentials& creds) {
  req.region = "auto";
  req.service = "s3";
  req.double_encode_path = false;
  req.normalize_path = false;
  return sigv4_sign(req, creds);
}

GcsServiceAccount gcs_parse_service_account(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    invalid("GCS service account key is not a JSON object");
  }
  auto str = [&doc](const char* name) -> std::string {
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("type") != "service_account") {
    invalid("GCS credentials JSON is not a service-account key (type must be \"service_account\")");
  }
  GcsServiceAccount out;
  out.client_email = str("client_email");
  out.private_key = str("private_key");
  out.private_key_id = str("private_key_id");
  out.project_id = str("project_id");
  if (std::string uri = str("token_uri"); !uri.empty()) out.token_uri = uri;
  if (out.client_email.empty()) invalid("GCS service account key lacks client_email");
  if (out.private_key.empty()) invalid("GCS service account key lacks private_key");
  return out;
}

std::string gcs_jwt_assertion(const GcsServiceAccount& account, std::int64_t iat,
                              std::string_view scope) {
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!account.private_key_id.empty()) header["kid"] = account.private_key_id;
  nlohmann::json claims = {{"iss", account.client_email},
                           {"scope", std::string(scope)},
                           {"aud", account.token_uri},
                           {"iat", iat},
                           {"exp", iat + 3600}};
  std::string signing_input =
      base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  return signing_input + "." + base64url_encode(rs256_sign(account.private_key, signing_input));
}

std::string gcs_token_request_body(std::string_view assertion) {
  return "grant_type=" + uri_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
         "&assertion=" + uri_encode(assertion);
}

GcsAccessToken gcs_parse_token_response(std::string_view json) {
  auto bad = [](const std::string& what) {
    throw Error(ErrorKind::storage, "GCS: the token endpoint's answer " + what);
  };
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) bad("is not a JSON object");
  GcsAccessToken out;
  auto token = doc.find("access_token");
  if (token == doc.end() || !token->is_string() || token->get<std::string>().empty())
    bad("has no access_token");
  out.access_token = token->get<std::string>();
  auto type = doc.find("token_type");
  if (type != doc.end()) {
    std::string t = type->is_string() ? type->get<std::string>() : std::string();
    for (char& c : t)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (t != "bearer") bad("has a token_type other than Bearer");
  }
  out.expires_in = 3600;
  auto expires = doc.find("expires_in");
  if (expires != doc.end()) {
    if (expires->is_number_integer())
      out.expires_in = expires->get<std::int64_t>();
    else if (expires->is_number())
      out.expires_in = static_cast<std::int64_t>(expires->get<double>());
    else
      bad("has an expires_in that is not a number");
    if (out.expires_in <= 0) bad("has an expires_in that is not positive");
  }
  return out;
}

std::string gcs_token_error_summary(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return {};
  auto text = [&doc](const char* name) -> std::string {
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string error = text("error"), description = text("error_description");
  // Both are short codes and sentences; keep a runaway one out of messages.
  if (description.size() > 300) description = description.substr(0, 300) + "...";
  if (error.size() > 100) error = error.substr(0, 100) + "...";
  if (error.empty()) return description;
  return description.empty() ? error : error + ": " + description;
}

}  // namespace pgvault::http
