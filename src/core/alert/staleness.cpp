#include "pgvault/alert/staleness.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

namespace pgvault::alert {

namespace {

constexpr const char* kAllowed =
    "a duration such as 26h, 8d, 90min or 1d 12h (units s, min, h, d) for backups of any kind, "
    "and/or per kind: physical=26h, incremental=26h, logical=8d, wal=1h; 0 or off: none";

constexpr std::array<const char*, 4> kKinds = {"physical", "incremental", "logical", "wal"};

struct Unit {
  std::string_view name;
  std::int64_t seconds;
};
constexpr std::array<Unit, 4> kUnits = {{{"d", 86400}, {"h", 3600}, {"min", 60}, {"s", 1}}};

Error bad(const std::string& what) {
  return Error(ErrorKind::invalid_argument,
               "pgvault.stale_after: " + what + "; allowed: " + kAllowed);
}

std::string kind_words(const std::string& kind) {
  return kind == "backup" ? "backup" : kind + " backup";
}

}  // namespace

std::int64_t parse_duration_seconds(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty()) throw bad("empty duration");
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && is_ascii_space(t[i])) ++i;
    const std::size_t digits = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i == digits) throw bad("\"" + std::string(t) + "\" is not a duration");
    if (i - digits > 9) throw bad("\"" + std::string(t) + "\" is too long");
    const std::int64_t n = std::stoll(std::string(t.substr(digits, i - digits)));
    while (i < t.size() && is_ascii_space(t[i])) ++i;
    const std::size_t unit_start = i;
    while (i < t.size() && std::isalpha(static_cast<unsigned char>(t[i]))) ++i;
    const std::string unit = ascii_lower(t.substr(unit_start, i - unit_start));
    if (unit.empty()) {
      if (n == 0 && total == 0 && i == t.size()) return 0;
      throw bad("\"" + std::string(t) + "\" needs a unit (s, min, h or d)");
    }
    auto u =
        std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& x) { return x.name == unit; });
    if (u == kUnits.end())
      throw bad("unknown unit \"" + unit + "\" in \"" + std::string(t) + "\" (s, min, h or d)");
    total += n * u->seconds;
  }
  return total;
}

std::string human_duration(std::int64_t seconds) {
  if (seconds <= 0) return "0s";
  std::string out;
  int parts = 0;
  for (const Unit& u : kUnits) {
    const std::int64_t n = seconds / u.seconds;
    if (n > 0) {
      out += (out.empty() ? "" : " ") + std::to_string(n) + std::string(u.name);
      seconds -= n * u.seconds;
      ++parts;
    } else if (parts > 0) {
      break;  // "1d 0h 5min" is "1d"
    }
    if (parts == 2) break;
  }
  return out;
}

std::string StaleLimits::describe(const std::string& kind) const {
  auto it = seconds.find(kind);
  const std::string value = it == seconds.end() ? "?" : human_duration(it->second);
  return "pgvault.stale_after " + (kind == "backup" ? value : kind + "=" + value);
}

StaleLimits parse_stale_after(std::string_view text) {
  StaleLimits limits;
  std::size_t start = 0;
  bool any = false;
  while (start <= text.size()) {
    const auto end = text.find(',', start);
    const std::string_view item = trim(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    if (item.empty()) {
      if (end != std::string_view::npos || any) throw bad("an empty entry");
      continue;
    }
    any = true;
    std::string kind = "backup";
    std::string_view value = item;
    if (const auto eq = item.find('='); eq != std::string_view::npos) {
      kind = ascii_lower(trim(item.substr(0, eq)));
      value = trim(item.substr(eq + 1));
      if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end())
        throw bad("unknown kind \"" + kind + "\"");
    } else if (ascii_iequals(item, "off")) {
      if (text.find(',') != std::string_view::npos) throw bad("\"off\" in a list");
      return limits;
    }
    if (limits.seconds.count(kind))
      throw bad(kind == "backup" ? std::string("two durations without a kind")
                                 : "\"" + kind + "\" twice");
    const std::int64_t s = parse_duration_seconds(value);
    if (s < 0 || s > std::int64_t{3650} * 86400)
      throw bad("\"" + std::string(value) + "\" is over 10 years");
    if (s > 0) limits.seconds[kind] = s;
  }
  return limits;
}

std::vector<Freshness> backup_freshness(const StaleLimits& limits,
                                        const std::vector<BackupMeta>& complete,
                                        std::int64_t set_up_unix, std::int64_t now_unix) {
  std::vector<Freshness> out;
  for (const auto& [kind, limit] : limits.seconds) {
    if (kind == "wal") continue;
    const BackupMeta* newest = nullptr;
    std::int64_t newest_at = 0;
    for (const BackupMeta& m : complete) {
      if (kind != "backup" && m.kind != kind) continue;
      std::int64_t at;
      try {
        at = parse_utc_timestamp(m.completed_at);
      } catch (const Error&) {
        continue;  // from_json checked it; nothing to measure against otherwise
      }
      if (!newest || at > newest_at) {
        newest = &m;
        newest_at = at;
      }
    }
    Freshness f;
    f.kind = kind;
    f.limit_seconds = limit;
    const std::string limit_text = limits.describe(kind);
    if (newest) {
      f.newest_name = newest->name;
      f.newest_completed_at = newest->completed_at;
      f.age_seconds = std::max<std::int64_t>(0, now_unix - newest_at);
      f.stale = f.age_seconds > limit;
      f.reason = f.stale ? "no " + kind_words(kind) + " has completed for " +
                               human_duration(f.age_seconds) + " (the newest, \"" + newest->name +
                               "\", completed at " + newest->completed_at + "; " + limit_text + ")"
                         : kind_words(kind) + "s are current again: \"" + newest->name +
                               "\" completed at " + newest->completed_at;
    } else {
      f.age_seconds = std::max<std::int64_t>(0, now_unix - set_up_unix);
      f.stale = f.age_seconds > limit;
      f.reason =
          f.stale
              ? "no " + kind_words(kind) + " has completed in the " +
                    human_duration(f.age_seconds) +
                    " since pgvault was set up (none in the repository; " + limit_text + ")"
              : "no " + kind_words(kind) + " yet, set up " + human_duration(f.age_seconds) + " ago";
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<Freshness> wal_freshness(const StaleLimits& limits,
                                       std::optional<std::int64_t> oldest_waiting_unix,
                                       std::size_t waiting_files, std::int64_t now_unix) {
  auto it = limits.seconds.find("wal");
  if (it == limits.seconds.end()) return std::nullopt;
  Freshness f;
  f.kind = "wal";
  f.limit_seconds = it->second;
  if (oldest_waiting_unix)
    f.age_seconds = std::max<std::int64_t>(0, now_unix - *oldest_waiting_unix);
  f.stale = oldest_waiting_unix && f.age_seconds > f.limit_seconds;
  f.reason = f.stale ? "WAL archiving is behind: the oldest of " + std::to_string(waiting_files) +
                           " finished WAL file" + (waiting_files == 1 ? "" : "s") +
                           " waiting in pg_wal has waited " + human_duration(f.age_seconds) +
                           " to be archived (" + limits.describe("wal") + ")"
                     : "WAL archiving caught up: no finished WAL file has waited longer than " +
                           human_duration(f.limit_seconds);
  return f;
}

}  // namespace pgvault::alert
