#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvault::http {

// Name/value pairs in request order; names may repeat. Values are decoded.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding: every byte except the unreserved characters
// A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex). With keep_slash, '/' is
// left alone too (for object keys / paths).
std::string uri_encode(std::string_view s, bool keep_slash = false);

// Reverses %XX escapes ('+' is NOT a space). Malformed escapes are kept
// literally.
std::string uri_decode(std::string_view s);

// Splits "a=1&b=&c" into decoded pairs ({"a","1"},{"b",""},{"c",""}). A
// leading '?' is ignored; empty segments are skipped.
QueryParams parse_query(std::string_view query);

// Encodes every name and value, sorts by encoded name then encoded value
// (byte order) and joins as "n1=v1&n2=v2" (a name without value gives "n=").
// This is the SigV4 canonical query string.
std::string canonical_query(const QueryParams& params);

// Encodes the params in the given order as "n1=v1&n2=v2" (for building URLs).
std::string build_query(const QueryParams& params);

// Removes "." and ".." segments and collapses repeated '/' (RFC 3986 5.2.4
// plus slash collapsing), keeping a trailing '/' when there was one. The
// result always starts with '/'.
std::string normalize_path(std::string_view path);

struct Url {
  std::string scheme;          // lower-cased, e.g. "https"
  std::string host;            // without brackets for IPv6 literals, lower-cased
  std::uint16_t port = 0;      // explicit port, or the scheme default (80/443)
  bool explicit_port = false;  // the URL spelled out a port
  std::string path;            // as written (still percent-encoded); "/" when absent
  std::string query;           // raw, without '?' and without the fragment

  // "host" or "host:port" when the port is explicit and not the scheme's
  // default, with brackets for IPv6: the value of the Host header.
  std::string host_header() const;
};

// Parses "scheme://host[:port][/path][?query][#fragment]". Throws
// pgvault::Error(invalid_argument) on a missing scheme or host, a bad port, or
// user-info (credentials never belong in a URL here).
Url parse_url(std::string_view url);

}  // namespace pgvault::http
