#include "pgvault/config/setting_value.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <charconv>
#include <limits>

namespace pgvault {

namespace {

// Splits "123 unit" into the number and the unit; false if there is no number.
bool split_number(std::string_view v, std::uint64_t& number, std::string& unit) {
  v = trim(v);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), number);
  if (ec != std::errc() || p == v.data()) return false;
  unit = ascii_lower(trim(std::string_view(p, v.data() + v.size() - p)));
  return true;
}

}  // namespace

bool is_secret_setting(std::string_view name) {
  std::string n = ascii_lower(name);
  for (std::string_view w : {"key", "secret", "token", "password", "passphrase"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

std::string shown_setting_value(std::string_view name, std::string_view value) {
  if (is_secret_setting(name)) return "<hidden>";
  return quoted(value);
}

void bad_setting_value(std::string_view name, std::string_view value, std::string_view why) {
  throw Error(ErrorKind::invalid_argument, "invalid value " + shown_setting_value(name, value) +
                                               " for pgvault." + std::string(name) + ": " +
                                               std::string(why));
}

std::string setting_or_empty(const SettingValues& settings, std::string_view name) {
  auto it = settings.find(std::string(name));
  return it == settings.end() ? std::string() : it->second;
}

std::uint64_t parse_size_setting(std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  std::string unit;
  if (!split_number(value, n, unit))
    bad_setting_value(name, value, "expected a size such as 16MB (units B, kB, MB, GB, TB)");
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
    bad_setting_value(name, value, "unknown unit; use B, kB, MB, GB or TB");
  if (n > std::numeric_limits<std::uint64_t>::max() / mult)
    bad_setting_value(name, value, "too large");
  return n * mult;
}

int parse_int_setting(std::string_view name, std::string_view value) {
  std::string_view v = trim(value);
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    bad_setting_value(name, value, "expected a whole number");
  return n;
}

std::uint64_t parse_duration_ms_setting(std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  std::string unit;
  if (!split_number(value, n, unit))
    bad_setting_value(name, value, "expected a duration such as 10s, 500ms or 2min");
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
    bad_setting_value(name, value, "unknown unit; use ms, s, min or h (a bare number is seconds)");
  if (n > std::numeric_limits<long>::max() / mult) bad_setting_value(name, value, "too large");
  return n * mult;
}

bool parse_bool_setting(std::string_view name, std::string_view value) {
  std::string v = ascii_lower(trim(value));
  if (v == "on" || v == "true" || v == "yes" || v == "1") return true;
  if (v == "off" || v == "false" || v == "no" || v == "0") return false;
  bad_setting_value(name, value, "expected on, off, true or false");
}

}  // namespace pgvault
