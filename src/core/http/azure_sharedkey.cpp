// Azure Storage SharedKey authorization (Blob service) and SAS URLs.
// https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
#include "pgvault/http/signing.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <map>
#include <vector>

namespace pgvault::http {

namespace {}  // namespace

AzureSharedKeyResult azure_sharedkey_sign(const AzureSharedKeyRequest& req,
                                          std::string_view account_key_base64) {
  if (req.account.empty()) throw Error(ErrorKind::invalid_argument, "Azure account name is empty");
  std::string key;
  try {
    key = base64_decode(account_key_base64);
  } catch (const Error&) {
    throw Error(ErrorKind::invalid_argument, "Azure account key is not valid base64");
  }
  if (key.empty()) throw Error(ErrorKind::invalid_argument, "Azure account key is empty");

  // Lower-cased name -> values in order (repeated headers are comma-joined).
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : req.headers) {
    auto [it, inserted] = headers.try_emplace(ascii_lower(trim(name)), std::string(trim(value)));
    if (!inserted) it->second += "," + std::string(trim(value));
  }
  auto get = [&headers](const std::string& name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };

  std::string content_length = get("content-length");
  if (content_length == "0") content_length.clear();
  // With x-ms-date present the Date line is empty.
  std::string date = headers.contains("x-ms-date") ? std::string() : get("date");

  AzureSharedKeyResult out;
  std::string& s = out.string_to_sign;
  for (char c : req.method) {
    s.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  s += "\n" + get("content-encoding") + "\n" + get("content-language") + "\n" + content_length +
       "\n" + get("content-md5") + "\n" + get("content-type") + "\n" + date + "\n" +
       get("if-modified-since") + "\n" + get("if-match") + "\n" + get("if-none-match") + "\n" +
       get("if-unmodified-since") + "\n" + get("range") + "\n";

  // Canonicalized headers: every x-ms-* header, sorted by lower-cased name.
  for (const auto& [name, value] : headers) {
    if (name.starts_with("x-ms-")) s += name + ":" + value + "\n";
  }

  // Canonicalized resource: /account/path, then each query parameter as
  // "\nname:v1,v2" with lower-cased names sorted and values sorted.
  s += "/" + req.account + (req.path.empty() ? std::string("/") : req.path);
  std::map<std::string, std::vector<std::string>> params;
  for (const auto& [name, value] : req.query) params[ascii_lower(name)].push_back(value);
  for (auto& [name, values] : params) {
    std::sort(values.begin(), values.end());
    s += "\n" + name + ":";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) s.push_back(',');
      s += values[i];
    }
  }

  out.signature = base64_encode(hmac_sha256(key, s));
  out.authorization = "SharedKey " + req.account + ":" + out.signature;
  return out;
}

std::string azure_append_sas(std::string_view url, std::string_view sas_token) {
  while (!sas_token.empty() && sas_token.front() == '?') sas_token.remove_prefix(1);
  std::string out(url);
  if (sas_token.empty()) return out;
  if (out.find('?') == std::string::npos) {
    out.push_back('?');
  } else if (out.back() != '?' && out.back() != '&') {
    out.push_back('&');
  }
  out += sas_token;
  return out;
}

}  // namespace pgvault::http
