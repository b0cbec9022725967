#include "pgvault/wal/wal_layout.hpp"

#include "pgvault/error.hpp"

#include <optional>

namespace pgvault {

namespace {

constexpr std::size_t kSha256HexSize = 64;
constexpr std::string_view kWalDir = "/wal/";

bool is_sha256_hex(std::string_view s) {
  if (s.size() != kSha256HexSize) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Why text is not a system identifier, or "" when it is one.
std::string system_identifier_problem(std::string_view text) {
  if (text.empty() || text.size() > 20) return "it must have 1 to 20 digits";
  for (char c : text)
    if (c < '0' || c > '9') return "it must be decimal digits only";
  if (text[0] == '0') return "it must not start with 0";
  if (text.size() == 20 && text > "18446744073709551615") return "it is above 2^64 - 1";
  return "";
}

std::optional<Compression> compression_for_suffix(std::string_view suffix) {
  for (Compression c : {Compression::none, Compression::gzip, Compression::lz4, Compression::zstd})
    if (suffix == compression_suffix(c)) return c;
  return std::nullopt;
}

}  // namespace

void validate_wal_system_identifier(std::string_view text) {
  std::string problem = system_identifier_problem(text);
  if (!problem.empty())
    throw Error(ErrorKind::invalid_argument,
                "invalid system identifier \"" + quote_untrusted(text) + "\": " + problem);
}

std::uint64_t parse_wal_system_identifier(std::string_view text) {
  validate_wal_system_identifier(text);
  std::uint64_t v = 0;
  for (char c : text) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

std::string wal_root(const std::string& system_identifier) {
  validate_wal_system_identifier(system_identifier);
  return system_identifier + std::string(kWalDir);
}

std::string wal_timeline_prefix(const std::string& system_identifier, TimelineId timeline) {
  // TTTTTTTT, as in the timeline's history file name (which refuses timeline 0).
  return wal_root(system_identifier) + WalFileName::history(timeline).name().substr(0, 8) + "/";
}

std::string wal_directory(const std::string& system_identifier, const WalFileName& file) {
  if (!file.has_segment()) return wal_root(system_identifier);
  return wal_timeline_prefix(system_identifier, file.timeline()) +
         file.segment_name().substr(0, 16) + "/";
}

std::string wal_object_prefix(const std::string& system_identifier, const WalFileName& file) {
  std::string prefix = wal_directory(system_identifier, file) + file.name();
  if (file.has_segment()) prefix += "-";
  return prefix;
}

std::string wal_object_key(const std::string& system_identifier, const WalFileName& file,
                           const std::string& sha256, Compression compression) {
  if (file.has_segment()) {
    if (!is_sha256_hex(sha256))
      throw Error(ErrorKind::invalid_argument,
                  "the key of " + file.name() +
                      " needs its SHA-256 as 64 lower-case hexadecimal digits, got \"" +
                      quote_untrusted(sha256) + "\"");
  } else if (!sha256.empty()) {
    throw Error(ErrorKind::invalid_argument,
                "the key of history file " + file.name() + " has no checksum (got one)");
  }
  return wal_object_prefix(system_identifier, file) + sha256 +
         std::string(compression_suffix(compression));
}

WalObjectKey parse_wal_object_key(std::string_view key) {
  auto bad = [&](const std::string& why) -> Error {
    return Error(ErrorKind::corrupt, "repository key \"" + quote_untrusted(key) +
                                         "\" is not an archived WAL object: " + why);
  };
  WalObjectKey out;
  const auto wal = key.find(kWalDir);
  if (wal == std::string_view::npos) throw bad("it is not under <system-identifier>/wal/");
  const std::string_view sysid = key.substr(0, wal);
  if (std::string problem = system_identifier_problem(sysid); !problem.empty())
    throw bad("the system identifier \"" + quote_untrusted(sysid) + "\" is invalid: " + problem);
  out.system_identifier = std::string(sysid);
  std::string_view rest = key.substr(wal + kWalDir.size());

  auto parse_name = [&](std::string_view name) {
    try {
      return parse_wal_file_name(name);
    } catch (const Error& e) {
      throw bad(e.what());
    }
  };

  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    // <TTTTTTTT>.history[<codec>]
    constexpr std::string_view kHistory = ".history";
    const auto end = rest.find(kHistory);
    if (end == std::string_view::npos)
      throw bad("a history object is named TTTTTTTT.history[.gz|.lz4|.zst]");
    out.file = parse_name(rest.substr(0, end + kHistory.size()));
    const std::string_view suffix = rest.substr(end + kHistory.size());
    const auto codec = compression_for_suffix(suffix);
    if (!codec) throw bad("unknown compression suffix \"" + quote_untrusted(suffix) + "\"");
    out.compression = *codec;
    return out;
  }

  // <TTTTTTTT>/<TTTTTTTTXXXXXXXX>/<name>-<sha256>[<codec>]
  const std::string_view timeline_dir = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  const auto slash2 = rest.find('/');
  if (slash2 == std::string_view::npos)
    throw bad("expected <TTTTTTTT>/<TTTTTTTTXXXXXXXX>/<file>-<sha256> under wal/");
  const std::string_view log_dir = rest.substr(0, slash2);
  if (timeline_dir.size() != 8 || log_dir.size() != 16)
    throw bad("expected <TTTTTTTT>/<TTTTTTTTXXXXXXXX>/<file>-<sha256> under wal/");
  const std::string_view object = rest.substr(slash2 + 1);
  const auto dash = object.find('-');
  if (dash == std::string_view::npos) throw bad("the object name has no -<sha256>");
  out.file = parse_name(object.substr(0, dash));
  if (!out.file.has_segment()) throw bad("a history file must be stored directly under wal/");
  std::string_view after = object.substr(dash + 1);
  if (after.size() < kSha256HexSize || !is_sha256_hex(after.substr(0, kSha256HexSize)))
    throw bad("the checksum after '-' must be 64 lower-case hexadecimal digits");
  out.sha256 = std::string(after.substr(0, kSha256HexSize));
  const auto codec = compression_for_suffix(after.substr(kSha256HexSize));
  if (!codec)
    throw bad("unknown compression suffix \"" + quote_untrusted(after.substr(kSha256HexSize)) +
              "\"");
  out.compression = *codec;
  const std::string segment = out.file.segment_name();
  if (timeline_dir != segment.substr(0, 8) || log_dir != segment.substr(0, 16))
    throw bad(out.file.name() + " belongs in " + segment.substr(0, 8) + "/" +
              segment.substr(0, 16) + "/, not in " + quote_untrusted(timeline_dir) + "/" +
              quote_untrusted(log_dir) + "/");
  return out;
}

}  // namespace pgvault
