#include "pgvault/http/uri.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <charconv>
#include <tuple>

namespace pgvault::http {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

[[noreturn]] void bad_url(std::string_view url, std::string_view why) {
  throw Error(ErrorKind::invalid_argument,
              "invalid URL \"" + std::string(url) + "\": " + std::string(why));
}

}  // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_digit_value(s[i + 1]);
      int lo = hex_digit_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

QueryParams parse_query(std::string_view query) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  QueryParams params;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(uri_decode(part), std::string());
    } else {
      params.emplace_back(uri_decode(part.substr(0, eq)), uri_decode(part.substr(eq + 1)));
    }
  }
  return params;
}

std::string canonical_query(const QueryParams& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params)
    encoded.emplace_back(uri_encode(name), uri_encode(value));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string build_query(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += uri_encode(name);
    out.push_back('=');
    out += uri_encode(value);
  }
  return out;
}

std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  bool trailing_slash = false;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    std::string_view seg =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    bool last = slash == std::string_view::npos;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = true;
    } else if (seg == ".") {
      trailing_slash = true;
    } else if (!seg.empty()) {
      segments.push_back(seg);
      trailing_slash = false;
    } else {
      trailing_slash = true;
    }
    if (last) break;
    pos = slash + 1;
  }
  std::string out;
  for (auto seg : segments) {
    out.push_back('/');
    out += seg;
  }
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

std::string Url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (explicit_port && !default_port) h += ":" + std::to_string(port);
  return h;
}

Url parse_url(std::string_view url) {
  Url out;
  std::size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) bad_url(url, "missing scheme");
  out.scheme = ascii_lower(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 3);

  std::size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  std::size_t auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  rest = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) bad_url(url, "user-info is not supported");

  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) bad_url(url, "unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(url, "garbage after IPv6 literal");
      port = after.substr(1);
      out.explicit_port = true;
    }
  } else {
    std::size_t pc = authority.rfind(':');
    host = authority.substr(0, pc);
    if (pc != std::string_view::npos) {
      port = authority.substr(pc + 1);
      out.explicit_port = true;
    }
  }
  if (host.empty()) bad_url(url, "missing host");
  out.host = ascii_lower(host);

  if (out.explicit_port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
        value > 65535) {
      bad_url(url, "bad port");
    }
    out.port = static_cast<std::uint16_t>(value);
  } else if (out.scheme == "http") {
    out.port = 80;
  } else if (out.scheme == "https") {
    out.port = 443;
  }

  std::size_t q = rest.find('?');
  out.path = std::string(rest.substr(0, q));
  if (out.path.empty()) out.path = "/";
  if (q != std::string_view::npos) out.query = std::string(rest.substr(q + 1));
  return out;
}

}  // namespace pgvault::http
