#include "pgvault/storage/repository_url.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"  // redact_url
#include "pgvault/text.hpp"
#include "storage_internal.hpp"

namespace pgvault {

namespace storage_internal {

bool looks_like_ipv4(std::string_view s) {
  int dots = 0;
  for (char c : s) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

}  // namespace storage_internal

namespace {

using storage_internal::looks_like_ipv4;

constexpr std::string_view kAcceptedUrls =
    "accepted: file:///absolute/path, s3://bucket[/prefix], azure://container[/prefix], "
    "gs://bucket[/prefix]";

[[noreturn]] void bad_url(std::string_view url, const std::string& why) {
  throw Error(ErrorKind::invalid_argument,
              "invalid repository URL \"" + http::redact_url(url) + "\": " + why);
}

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Returns "" when the name is valid, else the reason.
std::string check_bucket_name(std::string_view scheme, std::string_view name) {
  bool s3 = scheme == "s3", azure = scheme == "azure";
  std::string rule =
      s3 ? "S3 bucket names are 3 to 63 characters: lowercase letters, digits, dots and hyphens, "
           "beginning and ending with a letter or digit"
      : azure
          ? "Azure container names are 3 to 63 characters: lowercase letters, digits and single "
            "hyphens, beginning and ending with a letter or digit"
          : "Cloud Storage bucket names are 3 to 63 characters (222 with dots): lowercase letters, "
            "digits, dots, hyphens and underscores, beginning and ending with a letter or digit";
  std::string what = std::string(s3      ? "bucket"
                                 : azure ? "container"
                                         : "bucket") +
                     " name \"" + std::string(name) + "\" ";
  if (name.empty())
    return std::string(s3 || !azure ? "the bucket" : "the container") + " name is missing; " + rule;
  std::size_t max = (!s3 && !azure && name.find('.') != std::string_view::npos) ? 222 : 63;
  if (name.size() < 3 || name.size() > max) return what + "has the wrong length; " + rule;
  for (char c : name) {
    bool ok = lower_alnum(c) || c == '-' || (!azure && c == '.') || (!s3 && !azure && c == '_');
    if (!ok) {
      std::string cs = (c >= 'A' && c <= 'Z') ? "an uppercase letter"
                                              : "the character '" + std::string(1, c) + "'";
      return what + "contains " + cs + "; " + rule;
    }
  }
  if (!lower_alnum(name.front()) || !lower_alnum(name.back()))
    return what + "must begin and end with a letter or digit; " + rule;
  if (azure && name.find("--") != std::string_view::npos)
    return what + "contains consecutive hyphens; " + rule;
  if (!azure && name.find("..") != std::string_view::npos)
    return what + "contains consecutive dots; " + rule;
  if (!azure && looks_like_ipv4(name)) return what + "must not look like an IP address; " + rule;
  if (!s3 && !azure) {
    std::size_t start = 0;
    while (start <= name.size()) {
      std::size_t dot = name.find('.', start);
      std::size_t len = (dot == std::string_view::npos ? name.size() : dot) - start;
      if (len > 63) return what + "has a dot-separated part longer than 63 characters; " + rule;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    if (name.starts_with("goog")) return what + "must not begin with \"goog\"; " + rule;
  }
  return {};
}

std::string check_prefix(std::string_view prefix) {
  constexpr std::string_view rule =
      "the prefix is '/'-separated names without empty, \".\" or \"..\" segments";
  if (prefix.starts_with('/')) return "the prefix must not start with '/'; " + std::string(rule);
  if (prefix.ends_with('/')) return "the prefix must not end with '/'; " + std::string(rule);
  std::size_t start = 0;
  while (true) {
    std::size_t slash = prefix.find('/', start);
    std::string_view seg = prefix.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty()) return "the prefix contains an empty segment (\"//\"); " + std::string(rule);
    if (seg == "." || seg == "..")
      return "the prefix contains a \"" + std::string(seg) + "\" segment; " + std::string(rule);
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        return "the prefix contains a control character; " + std::string(rule);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

}  // namespace

std::string ParsedRepositoryUrl::label() const {
  if (scheme == "file") return "file://" + path;
  return scheme + "://" + container + (prefix.empty() ? "" : "/" + prefix);
}

std::string ParsedRepositoryUrl::missing_root() const {
  if (scheme == "file") return "no directory " + path;
  if (scheme == "azure") return "no container " + quoted(container);
  return "no bucket " + quoted(container);
}

ParsedRepositoryUrl parse_repository_url(std::string_view url) {
  ParsedRepositoryUrl out;
  if (url.starts_with("file://") || url.starts_with('/')) {
    out.scheme = "file";
    out.path = storage_internal::file_repository_path(url);  // the file driver's own rules
    return out;
  }
  std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) bad_url(url, "no scheme; " + std::string(kAcceptedUrls));
  std::string scheme(url.substr(0, sep));
  if (scheme != "s3" && scheme != "azure" && scheme != "gs")
    bad_url(url, "unsupported scheme \"" + scheme + "\"; " + std::string(kAcceptedUrls));
  std::string_view rest = url.substr(sep + 3);
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos)
    // Never echo: the part before '@' is likely a credential.
    throw Error(ErrorKind::invalid_argument,
                "invalid repository URL: credentials (user:secret@) do not belong in the URL; set "
                "them as pgvault.* settings or in the environment");
  if (rest.find_first_of("?#") != std::string_view::npos)
    bad_url(url,
            "a query or fragment ('?', '#') is not allowed; put SAS tokens in "
            "pgvault.azure_sas_token");
  out.scheme = scheme;
  out.container = std::string(authority);
  if (std::string why = check_bucket_name(scheme, out.container); !why.empty()) bad_url(url, why);
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    if (prefix.empty())
      bad_url(url, "remove the trailing '/' (use " + scheme + "://" + out.container + ")");
    if (std::string why = check_prefix(prefix); !why.empty()) bad_url(url, why);
    out.prefix = std::string(prefix);
  }
  return out;
}

void validate_repository_url(std::string_view url) {
  (void)parse_repository_url(url);
}

std::string default_repository_url(std::string_view data_directory) {
  std::string parent(data_directory);
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  const auto slash = parent.rfind('/');
  parent = (slash == std::string::npos || slash == 0) ? "/" : parent.substr(0, slash);
  return "file://" + parent + (parent == "/" ? "" : "/") + "pgvault";
}

}  // namespace pgvault
