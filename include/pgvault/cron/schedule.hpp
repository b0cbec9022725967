#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// A time zone as the scheduler needs it: the UTC offset in effect at an
// instant. The server implements it with PostgreSQL's own tz database
// (pgvault.timezone); tests with the C library's.
class TimeZone {
 public:
  virtual ~TimeZone() = default;
  // Seconds east of UTC in effect at unix_seconds (New York in winter: -18000).
  virtual int offset_at(std::int64_t unix_seconds) const = 0;
};

class UtcZone final : public TimeZone {
 public:
  int offset_at(std::int64_t) const override { return 0; }
};

// A backup schedule: a cron line or a short interval.
//
//   "m h dom mon dow"  five fields; each '*', a number, a range "a-b", a step
//                      "*/n" or "a-b/n" or "a/n", or a comma list of those;
//                      months JAN..DEC and days SUN..SAT by name too
//                      (case-insensitive); day of week 0-7 (0 and 7 = Sunday).
//                      Day of month and day of week combine as in Vixie cron:
//                      if both are restricted, a day matching either fires.
//   "@yearly" "@annually" "@monthly" "@weekly" "@daily" "@midnight" "@hourly"
//   "N seconds"        every N seconds (1..59; "N second(s)"/"N sec"), aligned
//                      to multiples of N since the epoch; ignores the zone.
//
// Cron lines are evaluated in local time of the zone. Daylight saving:
// a time skipped by a spring-forward transition fires once, at the
// transition; a time repeated by a fall-back transition fires once, at its
// first occurrence.
class Schedule {
 public:
  // Throws Error(invalid_argument) naming the field, the value and what is
  // allowed, e.g. "invalid minute '61' in '61 2 * * *' (allowed: 0-59)".
  // An empty text is invalid here (the setting layer treats it as "off").
  // A line that can never fire ("0 0 30 2 *") is refused as well.
  static Schedule parse(std::string_view text);

  const std::string& text() const { return text_; }
  bool is_interval() const { return interval_seconds_ > 0; }
  int interval_seconds() const { return interval_seconds_; }

  // The first fire time strictly after `after` (unix seconds).
  std::int64_t next_after(std::int64_t after, const TimeZone& tz) const;
  // The next `count` fire times after `after`, ascending.
  std::vector<std::int64_t> next_n(std::int64_t after, int count, const TimeZone& tz) const;

  // Field sets, exposed for tests and diagnostics (bit i set = value i allowed).
  std::uint64_t minutes() const { return minutes_; }
  std::uint32_t hours() const { return hours_; }
  std::uint32_t days_of_month() const { return dom_; }  // bits 1..31
  std::uint16_t months() const { return months_; }      // bits 1..12
  std::uint8_t days_of_week() const { return dow_; }    // bits 0..6, Sunday = 0
  bool dom_restricted() const { return dom_restricted_; }
  bool dow_restricted() const { return dow_restricted_; }

 private:
  std::string text_;
  int interval_seconds_ = 0;
  std::uint64_t minutes_ = 0;
  std::uint32_t hours_ = 0;
  std::uint32_t dom_ = 0;
  std::uint16_t months_ = 0;
  std::uint8_t dow_ = 0;
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

}  // namespace pgvault
