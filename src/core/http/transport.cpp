// Shared pieces of the HTTP layer: response header lookup and redaction.
#include "pgvault/http/transport.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace pgvault::http {

namespace {

// Query parameters whose values are secrets (compared case-insensitively).
constexpr std::array<std::string_view, 12> kSecretParams = {
    "x-amz-signature",  "x-amz-credential",  "x-amz-security-token",
    "x-goog-signature", "x-goog-credential", "sig",
    "signature",        "access_token",      "token",
    "client_secret",    "password",          "awsaccesskeyid"};

bool is_secret_param(std::string_view name) {
  return std::any_of(kSecretParams.begin(), kSecretParams.end(),
                     [&](std::string_view p) { return ascii_iequals(p, name); });
}

bool ends_value(char c) {
  return c == '&' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' || is_ascii_space(c);
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) return v;
  return {};
}

bool HttpResponse::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return ascii_iequals(h.first, name); });
}

std::string redact_url(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    // user:password@ after "scheme://"
    if (text.compare(i, 3, "://") == 0) {
      out.append("://");
      i += 3;
      std::size_t j = i;
      while (j < text.size() && text[j] != '/' && text[j] != '@' && text[j] != '?' &&
             !ends_value(text[j]))
        ++j;
      if (j < text.size() && text[j] == '@') {
        out.append("REDACTED@");
        i = j + 1;
      }
      continue;
    }
    // name=value after '?', '&' or ';'
    char c = text[i];
    out.push_back(c);
    ++i;
    if (c != '?' && c != '&' && c != ';') continue;
    std::size_t j = i;
    while (j < text.size() && is_name_char(text[j])) ++j;
    if (j < text.size() && text[j] == '=' && is_secret_param(text.substr(i, j - i))) {
      out.append(text.substr(i, j - i + 1));
      out.append("REDACTED");
      i = j + 1;
      while (i < text.size() && !ends_value(text[i])) ++i;
    }
  }
  return out;
}

bool is_secret_header(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kSecret = {
      "authorization",
      "proxy-authorization",
      "x-amz-security-token",
      "cookie",
      "set-cookie",
      "x-goog-iam-authorization-token",
      "x-ms-copy-source-authorization",
      "x-amz-server-side-encryption-customer-key"};
  return std::any_of(kSecret.begin(), kSecret.end(),
                     [&](std::string_view s) { return ascii_iequals(s, name); });
}

std::string url_host(std::string_view url) {
  auto p = url.find("://");
  if (p == std::string_view::npos) return {};
  auto rest = url.substr(p + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  return std::string(rest);
}

std::string describe_request(const HttpRequest& request) {
  return request.method + " " + redact_url(request.url);
}

}  // namespace pgvault::http
