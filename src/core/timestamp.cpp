#include "pgvault/timestamp.hpp"

#include "pgvault/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace pgvault {

std::int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string utc_timestamp_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // ample for any int fields (keeps -Wformat-truncation quiet)
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

namespace {

// The fields of "YYYY-MM-DDTHH:MM:SS[.fff...]Z", checked for shape and range.
struct UtcFields {
  int year, month, day, hour, minute, second;
};

UtcFields split_utc_timestamp(std::string_view iso) {
  auto bad = [&]() -> Error {
    return Error(ErrorKind::invalid_argument, "invalid UTC timestamp \"" + std::string(iso) +
                                                  "\": expected YYYY-MM-DDTHH:MM:SS[.fff]Z");
  };
  static constexpr std::string_view pattern = "dddd-dd-ddTdd:dd:dd";
  if (iso.size() < pattern.size() + 1 || iso.back() != 'Z') throw bad();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    bool ok = pattern[i] == 'd' ? (iso[i] >= '0' && iso[i] <= '9') : iso[i] == pattern[i];
    if (!ok) throw bad();
  }
  std::string_view rest = iso.substr(pattern.size(), iso.size() - pattern.size() - 1);
  if (!rest.empty()) {
    if (rest.front() != '.' || rest.size() < 2 ||
        !std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw bad();
  }
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (iso[i] - '0');
    return v;
  };
  UtcFields f{num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)};
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (f.month < 1 || f.month > 12) throw bad();
  bool leap = (f.year % 4 == 0 && f.year % 100 != 0) || f.year % 400 == 0;
  int mdays = kDays[f.month - 1] + (f.month == 2 && leap ? 1 : 0);
  if (f.day < 1 || f.day > mdays || f.hour > 23 || f.minute > 59 || f.second > 59) throw bad();
  return f;
}

}  // namespace

std::int64_t parse_utc_timestamp(std::string_view iso) {
  UtcFields f = split_utc_timestamp(iso);
  std::tm tm{};
  tm.tm_year = f.year - 1900;
  tm.tm_mon = f.month - 1;
  tm.tm_mday = f.day;
  tm.tm_hour = f.hour;
  tm.tm_min = f.minute;
  tm.tm_sec = f.second;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string compact_timestamp(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];  // ample for any int fields (keeps -Wformat-truncation quiet)
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string compact_timestamp(std::string_view iso) {
  return compact_timestamp(static_cast<std::time_t>(parse_utc_timestamp(iso)));
}

std::string http_date(std::time_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                        tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                        tm.tm_sec);
  return std::string(buf, static_cast<std::size_t>(n));
}

std::int64_t parse_http_date(std::string_view s) {
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto comma = s.find(',');
  if (comma != std::string_view::npos) s.remove_prefix(comma + 1);
  std::string str(s);
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  char mon[4] = {};
  if (std::sscanf(str.c_str(), " %d %3s %d %d:%d:%d", &day, mon, &year, &hh, &mm, &ss) != 6)
    return 0;
  int m = -1;
  for (int i = 0; i < 12; ++i)
    if (std::strcmp(mon, months[i]) == 0) m = i;
  if (m < 0) return 0;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = m;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return static_cast<std::int64_t>(::timegm(&tm));
}

}  // namespace pgvault
