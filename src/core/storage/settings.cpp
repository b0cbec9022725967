#include "pgvault/storage/settings.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/uri.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace pgvault {

namespace fs = std::filesystem;

namespace {

// ---- the known settings ------------------------------------------------------------

struct KnownSetting {
  std::string_view name;
  std::vector<std::string_view> vendor_env;  // standard variables, in precedence order
};

const std::vector<KnownSetting>& known_table() {
  static const std::vector<KnownSetting> table = {
      {"azure_account", {"AZURE_STORAGE_ACCOUNT"}},
      {"azure_block_size", {}},
      {"azure_blocks_in_flight", {}},
      {"azure_endpoint", {}},
      {"azure_key", {"AZURE_STORAGE_KEY"}},
      {"azure_sas_token", {"AZURE_STORAGE_SAS_TOKEN"}},
      // GCS: HMAC keys have no standard variable; the service-account key
      // file is Google's Application Default Credentials variable.
      {"gcs_endpoint", {}},
      {"gcs_hmac_access_id", {}},
      {"gcs_hmac_secret", {}},
      {"gcs_key_file", {"GOOGLE_APPLICATION_CREDENTIALS"}},
      {"s3_access_key_id", {"AWS_ACCESS_KEY_ID"}},
      {"s3_endpoint", {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
      {"s3_part_size", {}},
      {"s3_parts_in_flight", {}},
      {"s3_region", {"AWS_REGION", "AWS_DEFAULT_REGION"}},
      {"s3_secret_access_key", {"AWS_SECRET_ACCESS_KEY"}},
      {"s3_session_token", {"AWS_SESSION_TOKEN"}},
      {"s3_uri_style", {}},
      {"storage_ca_file", {}},
      {"storage_connect_timeout", {}},
      {"storage_stall_timeout", {}},
      {"storage_verify_tls", {}},
  };
  return table;
}

const KnownSetting* find_known(std::string_view name) {
  for (const auto& k : known_table())
    if (k.name == name) return &k;
  return nullptr;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// The value as it may appear in a message.
std::string shown(std::string_view name, std::string_view value) {
  if (is_secret_setting(name)) return "<hidden>";
  return "\"" + std::string(value) + "\"";
}

std::string env_name(std::string_view setting) {
  return "PGVAULT_" + upper(setting);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Unknown s3_/azure_/gcs_/storage_ names are typos: refuse them.
void check_names(const StorageSettings& settings) {
  static constexpr std::string_view families[] = {"s3_", "azure_", "gcs_", "storage_"};
  for (const auto& [name, value] : settings) {
    (void)value;
    for (std::string_view family : families) {
      if (!name.starts_with(family) || find_known(name)) continue;
      std::string msg = "unknown setting pgvault." + name;
      std::string best;
      std::size_t best_d = 3;  // suggest only close matches
      std::string valid;
      for (const auto& k : known_table()) {
        std::size_t d = edit_distance(name, k.name);
        if (d < best_d) {
          best_d = d;
          best = std::string(k.name);
        }
        if (k.name.starts_with(family)) {
          if (!valid.empty()) valid += ", ";
          valid += "pgvault." + std::string(k.name);
        }
      }
      if (!best.empty()) msg += " (did you mean pgvault." + best + "?)";
      msg += "; valid " + std::string(family) + " settings: " + valid;
      throw Error(ErrorKind::invalid_argument, msg);
    }
  }
}

std::string get(const StorageSettings& s, std::string_view name) {
  auto it = s.find(std::string(name));
  return it == s.end() ? std::string() : it->second;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

[[noreturn]] void bad_value(std::string_view name, std::string_view value, std::string_view why) {
  throw Error(ErrorKind::invalid_argument, "invalid value " + shown(name, value) + " for pgvault." +
                                               std::string(name) + ": " + std::string(why));
}

// Splits "123 unit" into the number and the unit; false if there is no number.
bool split_number(std::string_view v, std::uint64_t& number, std::string& unit) {
  v = trim(v);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), number);
  if (ec != std::errc() || p == v.data()) return false;
  unit = lower(trim(std::string_view(p, v.data() + v.size() - p)));
  return true;
}

int parse_int_setting(std::string_view name, std::string_view value) {
  std::string_view v = trim(value);
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    bad_value(name, value, "expected a whole number");
  return n;
}

// Milliseconds; a bare number is seconds.
std::uint64_t parse_duration_ms(std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  std::string unit;
  if (!split_number(value, n, unit))
    bad_value(name, value, "expected a duration such as 10s, 500ms or 2min");
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "s")
    mult = 1000;
  else if (unit == "ms")
    mult = 1;
  else if (unit == "min")
    mult = 60000;
  else if (unit == "h")
    mult = 3600000;
  else
    bad_value(name, value, "unknown unit; use ms, s, min or h (a bare number is seconds)");
  if (n > std::numeric_limits<long>::max() / mult) bad_value(name, value, "too large");
  return n * mult;
}

bool parse_bool_setting(std::string_view name, std::string_view value) {
  std::string v = lower(trim(value));
  if (v == "on" || v == "true" || v == "yes" || v == "1") return true;
  if (v == "off" || v == "false" || v == "no" || v == "0") return false;
  bad_value(name, value, "expected on, off, true or false");
}

// ---- postgresql.conf syntax ------------------------------------------------------------

constexpr int kMaxIncludeDepth = 10;

bool id_start(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}
bool id_char(unsigned char c) {
  return id_start(c) || (c >= '0' && c <= '9') || c == '$';
}
bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

class ConfigReader {
 public:
  // data_directory (when given) receives the file's data_directory setting.
  explicit ConfigReader(StorageSettings& out, std::string* data_directory = nullptr)
      : out_(out), data_directory_(data_directory) {}

  void read(const fs::path& file, int depth, const std::string& from) {
    if (depth > kMaxIncludeDepth)
      throw Error(ErrorKind::invalid_argument, from + "could not open configuration file \"" +
                                                   file.string() + "\": maximum nesting depth of " +
                                                   std::to_string(kMaxIncludeDepth) +
                                                   " includes exceeded");
    std::ifstream in(file);
    if (!in) {
      int err = errno;
      throw Error(ErrorKind::io, from + "could not open configuration file \"" + file.string() +
                                     "\": " + std::strerror(err));
    }
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      parse_line(file, lineno, line, depth);
    }
    if (in.bad())
      throw Error(ErrorKind::io, "could not read configuration file \"" + file.string() + "\"");
  }

 private:
  [[noreturn]] static void syntax(const fs::path& file, int lineno, const std::string& what) {
    throw Error(ErrorKind::invalid_argument,
                file.string() + ":" + std::to_string(lineno) + ": syntax error: " + what);
  }

  void parse_line(const fs::path& file, int lineno, std::string_view line, int depth) {
    std::size_t i = 0;
    auto skip = [&] {
      while (i < line.size() && blank(line[i])) ++i;
    };
    skip();
    if (i == line.size() || line[i] == '#') return;
    // Name: ID or ID.ID
    std::size_t start = i;
    auto scan_id = [&] {
      if (i >= line.size() || !id_start(static_cast<unsigned char>(line[i]))) return false;
      while (i < line.size() && id_char(static_cast<unsigned char>(line[i]))) ++i;
      return true;
    };
    if (!scan_id()) syntax(file, lineno, "expected a setting name");
    if (i < line.size() && line[i] == '.') {
      ++i;
      if (!scan_id()) syntax(file, lineno, "incomplete setting name");
    }
    std::string name = lower(line.substr(start, i - start));
    skip();
    if (i < line.size() && line[i] == '=') {
      ++i;
      skip();
    }
    // Value
    std::string value;
    if (i < line.size() && line[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '\'') {
          if (i < line.size() && line[i] == '\'') {
            value += '\'';
            ++i;
            continue;
          }
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size()) {
          char e = line[i++];
          switch (e) {
            case 'b':
              value += '\b';
              break;
            case 'f':
              value += '\f';
              break;
            case 'n':
              value += '\n';
              break;
            case 'r':
              value += '\r';
              break;
            case 't':
              value += '\t';
              break;
            default:
              if (e >= '0' && e <= '7') {
                int v = e - '0';
                for (int k = 0; k < 2 && i < line.size() && line[i] >= '0' && line[i] <= '7'; ++k)
                  v = v * 8 + (line[i++] - '0');
                value += static_cast<char>(v & 0xff);
              } else {
                value += e;
              }
          }
          continue;
        }
        value += c;
      }
      if (!closed) syntax(file, lineno, "unterminated quoted value for " + name);
    } else {
      std::size_t vstart = i;
      while (i < line.size() && !blank(line[i]) && line[i] != '#') {
        if (line[i] == '\'' || line[i] == '=')
          syntax(file, lineno,
                 "unexpected character '" + std::string(1, line[i]) + "' in the value of " + name +
                     " (quote values containing it)");
        ++i;
      }
      if (i == vstart) syntax(file, lineno, "missing value for " + name);
      value = std::string(line.substr(vstart, i - vstart));
    }
    skip();
    if (i < line.size() && line[i] != '#')
      syntax(file, lineno,
             "unexpected text after the value of " + name + " near " + shown(name, line.substr(i)));

    std::string from = file.string() + ":" + std::to_string(lineno) + ": ";
    if (name == "include" || name == "include_if_exists" || name == "include_dir") {
      fs::path target = value;
      if (value.empty()) syntax(file, lineno, "empty file name for " + name);
      if (target.is_relative()) target = file.parent_path() / target;
      if (name == "include") {
        read(target, depth + 1, from);
      } else if (name == "include_if_exists") {
        std::error_code ec;
        if (fs::exists(target, ec)) read(target, depth + 1, from);
      } else {
        include_dir(target, depth, from);
      }
      return;
    }
    static constexpr std::string_view kPrefix = "pgvault.";
    if (name.starts_with(kPrefix)) out_[name.substr(kPrefix.size())] = value;
    if (name == "data_directory" && data_directory_ != nullptr) *data_directory_ = value;
  }

  void include_dir(const fs::path& dir, int depth, const std::string& from) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw Error(ErrorKind::io, from + "could not open configuration directory \"" + dir.string() +
                                     "\": " + (ec ? ec.message() : std::string("not a directory")));
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string n = it->path().filename().string();
      if (n.starts_with('.') || !n.ends_with(".conf")) continue;
      std::error_code ec2;
      if (fs::is_regular_file(it->path(), ec2)) names.push_back(n);
    }
    if (ec)
      throw Error(ErrorKind::io, from + "could not read configuration directory \"" + dir.string() +
                                     "\": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) read(dir / n, depth + 1, from);
  }

  StorageSettings& out_;
  std::string* data_directory_;
};

// ---- repository URLs --------------------------------------------------------------------

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

bool is_local_host(const std::string& host) {
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  if (host.find(':') != std::string::npos) return true;  // IPv6 literal
  if (!looks_like_ipv4(host)) return false;
  return true;
}

std::string repo_label(const ParsedRepositoryUrl& u) {
  return u.scheme + "://" + u.container + (u.prefix.empty() ? "" : "/" + u.prefix);
}

std::string env_hint(std::string_view setting) {
  const KnownSetting* k = find_known(setting);
  std::string vendor;
  if (k)
    for (std::string_view v : k->vendor_env)
      vendor += (vendor.empty() ? "" : " or ") + std::string(v);
  return "pgvault." + std::string(setting) +
         " (environment: " + (vendor.empty() ? "" : vendor + " or ") + env_name(setting) + ")";
}

}  // namespace

// ---- public ---------------------------------------------------------------------------

bool is_secret_setting(std::string_view name) {
  std::string n = lower(name);
  for (std::string_view w : {"key", "secret", "token", "password", "passphrase"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

const std::vector<std::string>& known_storage_settings() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& k : known_table()) v.emplace_back(k.name);
    std::sort(v.begin(), v.end());
    return v;
  }();
  return names;
}

StorageSettings read_config_file(const std::string& path) {
  StorageSettings out;
  ConfigReader(out).read(fs::path(path), 0, "");
  return out;
}

std::string default_repository_url(std::string_view data_directory) {
  std::string parent(data_directory);
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  const auto slash = parent.rfind('/');
  parent = (slash == std::string::npos || slash == 0) ? "/" : parent.substr(0, slash);
  return "file://" + parent + (parent == "/" ? "" : "/") + "pgvault";
}

ServerConfig read_server_config(const std::string& postgresql_conf) {
  ServerConfig out;
  std::string data_directory;
  ConfigReader(out.settings, &data_directory).read(fs::path(postgresql_conf), 0, "");
  out.files.push_back(postgresql_conf);

  std::error_code ec;
  const fs::path conf_dir = fs::absolute(postgresql_conf, ec).lexically_normal().parent_path();
  if (!data_directory.empty()) {
    if (fs::path(data_directory).is_absolute()) {
      out.data_directory = fs::path(data_directory).lexically_normal().string();
      out.data_directory_from = "data_directory in " + postgresql_conf;
    } else {
      // The server resolves it against its working directory, which a file
      // does not say.
      out.data_directory_from = "data_directory '" + data_directory + "' in " + postgresql_conf +
                                " is relative, so the data directory is unknown";
    }
  } else if (!ec && fs::exists(conf_dir / "PG_VERSION", ec)) {
    out.data_directory = conf_dir.string();
    out.data_directory_from = "the directory of " + postgresql_conf;
  } else {
    out.data_directory_from = postgresql_conf +
                              " sets no data_directory and is not in a data directory (no "
                              "PG_VERSION beside it), so the data directory is unknown";
  }
  if (out.data_directory.empty()) return out;

  while (out.data_directory.size() > 1 && out.data_directory.back() == '/')
    out.data_directory.pop_back();
  // ALTER SYSTEM's file, read last by the server: its values win.
  const fs::path auto_conf = fs::path(out.data_directory) / "postgresql.auto.conf";
  if (fs::exists(auto_conf, ec) || ec) {
    StorageSettings overrides;
    try {
      ConfigReader(overrides).read(auto_conf, 0, "");
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::io) throw;
      throw Error(e.kind(), std::string(e.what()) + " (ALTER SYSTEM's values there override " +
                                postgresql_conf +
                                "; run pgvault as the server's OS user, e.g. sudo -u postgres)");
    }
    for (auto& [name, value] : overrides) out.settings[name] = std::move(value);
    out.files.push_back(auto_conf.string());
  }
  auto repository = out.settings.find("repository");
  if (repository == out.settings.end() || repository->second.empty()) {
    out.settings["repository"] = default_repository_url(out.data_directory);
    out.default_repository = true;
  }
  return out;
}

void apply_environment(StorageSettings& settings,
                       const std::function<const char*(const char*)>& getenv) {
  auto lookup = [&](const std::string& var) -> std::string {
    const char* v = getenv(var.c_str());
    return v ? std::string(v) : std::string();
  };
  for (const auto& k : known_table()) {
    std::string name(k.name);
    auto it = settings.find(name);
    if (it != settings.end() && !it->second.empty()) continue;
    std::string value = lookup(env_name(name));
    for (std::size_t i = 0; value.empty() && i < k.vendor_env.size(); ++i)
      value = lookup(std::string(k.vendor_env[i]));
    if (!value.empty()) settings[name] = value;
  }
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

std::uint64_t parse_size_setting(std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  std::string unit;
  if (!split_number(value, n, unit))
    bad_value(name, value, "expected a size such as 16MB (units B, kB, MB, GB, TB)");
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    mult = 1ull << 10;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    mult = 1ull << 20;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    mult = 1ull << 30;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    mult = 1ull << 40;
  else
    bad_value(name, value, "unknown unit; use B, kB, MB, GB or TB");
  if (n > std::numeric_limits<std::uint64_t>::max() / mult) bad_value(name, value, "too large");
  return n * mult;
}

void validate_storage_setting(std::string_view name, std::string_view value) {
  if (trim(value).empty()) return;
  const std::string n = lower(name);
  if (!find_known(n)) {
    StorageSettings one{{n, std::string(value)}};
    check_names(one);  // names the valid settings of the family
    throw Error(ErrorKind::invalid_argument, "unknown storage setting pgvault." + n);
  }
  auto in_range = [&](std::uint64_t v, std::uint64_t lo, std::uint64_t hi, std::string_view what) {
    if (v < lo || v > hi) bad_value(n, value, "must be between " + std::string(what));
  };
  if (n == "s3_part_size") {
    in_range(parse_size_setting(n, value), 5ull << 20, 5ull << 30, "5MB and 5GB");
  } else if (n == "azure_block_size") {
    in_range(parse_size_setting(n, value), 1, kAzureMaxBlockSize, "1B and 4000MB");
  } else if (n.ends_with("_in_flight")) {
    int v = parse_int_setting(n, value);
    in_range(v < 0 ? 0 : static_cast<std::uint64_t>(v), 1, 64, "1 and 64");
  } else if (n == "s3_uri_style") {
    std::string v = lower(trim(value));
    if (v != "host" && v != "path") bad_value(n, value, "expected host or path");
  } else if (n.ends_with("_endpoint")) {
    http::Url u;
    try {
      u = http::parse_url(trim(value));
    } catch (const Error& e) {
      bad_value(n, value, e.what());
    }
    if (u.scheme != "http" && u.scheme != "https")
      bad_value(n, value, "expected an http:// or https:// URL");
    // Azure's path-style endpoints (Azurite, some sovereign setups) carry the
    // account in the path; S3 and GCS endpoints are a bare origin.
    if (!n.starts_with("azure_") && ((u.path != "/" && !u.path.empty()) || !u.query.empty()))
      bad_value(n, value, "expected scheme://host[:port] without a path or query");
  } else if (n == "storage_verify_tls") {
    (void)parse_bool_setting(n, value);
  } else if (n.ends_with("_timeout")) {
    if (parse_duration_ms(n, value) == 0) bad_value(n, value, "must be greater than zero");
  } else if (n == "azure_key") {
    bool ok = true;
    try {
      ok = !http::base64_decode(trim(value)).empty();
    } catch (const Error&) {
      ok = false;
    }
    if (!ok) bad_value(n, value, "expected the storage account key in base64");
  }
}

namespace {

// Every given setting checked on its own before a configuration is built.
void validate_each(const StorageSettings& settings) {
  check_names(settings);
  for (const auto& [name, value] : settings)
    if (find_known(name)) validate_storage_setting(name, value);
}

}  // namespace

S3Config s3_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  if (url.scheme != "s3")
    throw Error(ErrorKind::invalid_argument, "not an S3 repository: " + url.scheme + "://");
  validate_each(settings);
  S3Config c;
  c.bucket = url.container;
  c.prefix = url.prefix;
  if (std::string v = get(settings, "s3_region"); !v.empty()) c.region = v;
  c.endpoint = get(settings, "s3_endpoint");
  std::string style = lower(trim(get(settings, "s3_uri_style")));
  if (style.empty()) {
    style = "host";
    if (!c.endpoint.empty()) {
      http::Url u;
      try {
        u = http::parse_url(c.endpoint);
      } catch (const Error& e) {
        bad_value("s3_endpoint", c.endpoint, e.what());
      }
      if (is_local_host(u.host)) style = "path";
    }
  } else if (style != "host" && style != "path") {
    bad_value("s3_uri_style", get(settings, "s3_uri_style"), "expected host or path");
  }
  c.uri_style = style;
  c.access_key_id = get(settings, "s3_access_key_id");
  c.secret_access_key = get(settings, "s3_secret_access_key");
  c.session_token = get(settings, "s3_session_token");
  std::vector<std::string> missing;
  if (c.access_key_id.empty()) missing.push_back(env_hint("s3_access_key_id"));
  if (c.secret_access_key.empty()) missing.push_back(env_hint("s3_secret_access_key"));
  if (!missing.empty()) {
    std::string msg = "S3 repository " + repo_label(url) + " has no credentials: set " + missing[0];
    if (missing.size() > 1) msg += " and " + missing[1];
    throw Error(ErrorKind::invalid_argument, msg);
  }
  if (std::string v = get(settings, "s3_part_size"); !v.empty())
    c.part_size = parse_size_setting("s3_part_size", v);
  if (std::string v = get(settings, "s3_parts_in_flight"); !v.empty())
    c.parts_in_flight = parse_int_setting("s3_parts_in_flight", v);
  return c;
}

AzureConfig azure_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  if (url.scheme != "azure")
    throw Error(ErrorKind::invalid_argument, "not an Azure repository: " + url.scheme + "://");
  validate_each(settings);
  AzureConfig c;
  c.container = url.container;
  c.prefix = url.prefix;
  c.account = get(settings, "azure_account");
  c.endpoint = get(settings, "azure_endpoint");
  c.key = get(settings, "azure_key");
  c.sas_token = get(settings, "azure_sas_token");
  if (c.sas_token.starts_with('?')) c.sas_token.erase(0, 1);
  std::string label = "Azure repository " + repo_label(url);
  if (c.account.empty())
    throw Error(ErrorKind::invalid_argument,
                label + " has no storage account: set " + env_hint("azure_account"));
  if (c.key.empty() && c.sas_token.empty())
    throw Error(ErrorKind::invalid_argument, label + " has no credentials: set " +
                                                 env_hint("azure_key") + " or " +
                                                 env_hint("azure_sas_token"));
  if (!c.key.empty() && !c.sas_token.empty())
    throw Error(ErrorKind::invalid_argument,
                label + ": set only one of pgvault.azure_key and pgvault.azure_sas_token");
  if (std::string v = get(settings, "azure_block_size"); !v.empty())
    c.block_size = parse_size_setting("azure_block_size", v);
  if (std::string v = get(settings, "azure_blocks_in_flight"); !v.empty())
    c.blocks_in_flight = parse_int_setting("azure_blocks_in_flight", v);
  return c;
}

GcsConfig gcs_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  if (url.scheme != "gs")
    throw Error(ErrorKind::invalid_argument, "not a GCS repository: " + url.scheme + "://");
  validate_each(settings);
  GcsConfig c;
  c.bucket = url.container;
  c.prefix = url.prefix;
  c.endpoint = get(settings, "gcs_endpoint");
  c.hmac_access_id = get(settings, "gcs_hmac_access_id");
  c.hmac_secret = get(settings, "gcs_hmac_secret");
  c.key_file = get(settings, "gcs_key_file");
  std::string label = "GCS repository " + repo_label(url);
  if (!c.hmac_access_id.empty() || !c.hmac_secret.empty()) {
    // HMAC keys win over a key file: they are set for pgvault alone, while
    // GOOGLE_APPLICATION_CREDENTIALS is often a machine-wide default.
    for (std::string_view name : {"gcs_hmac_access_id", "gcs_hmac_secret"})
      if (get(settings, name).empty())
        throw Error(ErrorKind::invalid_argument,
                    label + " has an incomplete HMAC key: set " + env_hint(name) + " too");
    c.key_file.clear();
  } else if (c.key_file.empty()) {
    throw Error(ErrorKind::invalid_argument,
                label + " has no credentials: set " + env_hint("gcs_key_file") +
                    " to a service-account JSON key file, or HMAC keys in " +
                    env_hint("gcs_hmac_access_id") + " and " + env_hint("gcs_hmac_secret"));
  }
  return c;
}

http::HttpOptions http_options_from(const StorageSettings& settings) {
  http::HttpOptions o;
  validate_each(settings);
  o.ca_file = get(settings, "storage_ca_file");
  if (std::string v = get(settings, "storage_verify_tls"); !v.empty())
    o.verify_tls = parse_bool_setting("storage_verify_tls", v);
  if (std::string v = get(settings, "storage_connect_timeout"); !v.empty()) {
    std::uint64_t ms = parse_duration_ms("storage_connect_timeout", v);
    if (ms == 0) bad_value("storage_connect_timeout", v, "must be greater than zero");
    o.connect_timeout_ms = static_cast<long>(ms);
  }
  if (std::string v = get(settings, "storage_stall_timeout"); !v.empty())
    o.stall_timeout_s =
        static_cast<long>((parse_duration_ms("storage_stall_timeout", v) + 999) / 1000);
  return o;
}

std::unique_ptr<Storage> open_storage_with(std::string_view url, const StorageSettings& settings) {
  if (url.starts_with("file://") || url.starts_with('/'))
    return storage_internal::make_file_storage(storage_internal::file_repository_path(url));
  ParsedRepositoryUrl parsed = parse_repository_url(url);
  http::HttpOptions options = http_options_from(settings);
  TransportFactory factory = [options]() -> std::unique_ptr<http::HttpTransport> {
    return std::make_unique<http::CurlTransport>(options);
  };
  if (parsed.scheme == "s3") return make_s3_storage(s3_config_from(parsed, settings), factory);
  // Reads the service-account key file, if that is the credential.
  if (parsed.scheme == "gs") return make_gcs_storage(gcs_config_from(parsed, settings), factory);
  return make_azure_storage(azure_config_from(parsed, settings), factory);
}

}  // namespace pgvault
