// A TimeZone for unit tests backed by the C library's tz database: while a
// CTimeZone is alive, TZ names its zone (the previous TZ is restored by the
// destructor). Tests are single-threaded; only one CTimeZone may live at once.
#pragma once
#include "pgvault/cron/schedule.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace pgvault::test {

class CTimeZone final : public TimeZone {
 public:
  // Whether the tz database has this zone (tests GTEST_SKIP otherwise).
  static bool available(const std::string& name) {
    const char* dir = std::getenv("TZDIR");
    const std::filesystem::path base = dir != nullptr ? dir : "/usr/share/zoneinfo";
    std::error_code ec;
    return std::filesystem::is_regular_file(base / name, ec);
  }

  explicit CTimeZone(const std::string& name) {
    if (live_) throw std::logic_error("only one CTimeZone may exist at a time");
    if (const char* old = std::getenv("TZ")) saved_ = old;
    ::setenv("TZ", name.c_str(), 1);
    ::tzset();
    live_ = true;
  }
  ~CTimeZone() override {
    if (saved_) {
      ::setenv("TZ", saved_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
    live_ = false;
  }
  CTimeZone(const CTimeZone&) = delete;
  CTimeZone& operator=(const CTimeZone&) = delete;

  int offset_at(std::int64_t unix_seconds) const override {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (::localtime_r(&t, &tm) == nullptr) throw std::runtime_error("localtime_r failed");
    ++calls_;
    return static_cast<int>(tm.tm_gmtoff);
  }
  long calls() const { return calls_; }

 private:
  static inline bool live_ = false;
  std::optional<std::string> saved_;
  mutable long calls_ = 0;
};

// UTC, counting how often the schedule asks for an offset.
class CountingUtcZone final : public TimeZone {
 public:
  int offset_at(std::int64_t) const override {
    ++calls_;
    return 0;
  }
  long calls() const { return calls_; }

 private:
  mutable long calls_ = 0;
};

// "2026-03-08T07:00:00Z" -> unix seconds (UTC); throws on a malformed string.
inline std::int64_t utc(const std::string& iso) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char z = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 ||
      z != 'Z') {
    throw std::invalid_argument("bad ISO time: " + iso);
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(::timegm(&tm));
}

// Unix seconds -> "2026-03-08T07:00:00Z".
inline std::string iso_utc(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace pgvault::test
