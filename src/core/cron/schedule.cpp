// Cron schedules: parsing and next-fire computation (PG-free).
//
// Semantics worth knowing (see also include/pgvault/cron/schedule.hpp):
//
// * Day of month / day of week follow Vixie cron exactly: a field is
//   "unrestricted" when its text starts with '*' ("*", "*/2", ...). When both
//   fields are restricted a day fires if EITHER matches ("0 0 13 * FRI" runs
//   on every 13th and on every Friday); otherwise a day must match BOTH sets,
//   which for a plain '*' means only the other field applies ("0 0 13 * *" is
//   the 13th only). Note that "*/2" therefore counts as unrestricted:
//   "0 0 */2 * MON" fires on odd-numbered days that are Mondays, as in Vixie.
// * Day of week: 0-7, 0 and 7 are Sunday. '*' and "a/n" run up to 6 (so
//   "*/2" is 0,2,4,6 and "1/2" is 1,3,5). As the end of a range, the name SUN
//   means 7, so "FRI-SUN" is Friday, Saturday, Sunday.
// * Cron lines are evaluated in the local civil time of the zone. A civil
//   time skipped by a spring-forward transition fires at the transition
//   instant (the first instant of the new offset, i.e. the end of the gap);
//   several schedule times inside one gap collapse into that single fire. A
//   civil time repeated by a fall-back transition fires once, at its first
//   occurrence; the second pass of the repeated hour fires nothing.
// * "N seconds" fires at multiples of N since the unix epoch; the zone is not
//   consulted.
#include "pgvault/cron/schedule.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace pgvault {
namespace {

constexpr std::int64_t kDay = 86400;
// Instants accepted by next_after: 0001-01-01 .. 9999-12-31 UTC.
constexpr std::int64_t kMinInstant = -62135596800;
constexpr std::int64_t kMaxInstant = 253402300799;
// Every feasible cron line fires within one 400-year Gregorian cycle.
constexpr std::int64_t kSearchYears = 401;

constexpr const char* kExpected =
    "expected 5 (minute hour day-of-month month day-of-week), a macro such as @daily, "
    "or 'N seconds'";

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorKind::invalid_argument, message);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const auto mu = static_cast<unsigned>(m);
  const unsigned doy = (153 * (mu > 2 ? mu - 3 : mu + 9) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  int month;
  int day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {y + (m <= 2 ? 1 : 0), m, d};
}

// 0 = Sunday.
int weekday_from_days(std::int64_t z) {
  return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(std::int64_t y, int m) {
  static constexpr std::array<int, 13> kDays = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[static_cast<std::size_t>(m)];
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    if (i >= s.size()) break;
    std::size_t j = i;
    while (j < s.size() && !is_blank(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// A non-negative decimal number of at most 9 digits, or -1.
int parse_number(std::string_view s) {
  if (s.empty() || s.size() > 9) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

constexpr std::array<const char*, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 7> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldSpec {
  const char* name;     // "minute"
  int min;              // smallest value
  int max;              // largest value accepted as a number
  int star_max;         // upper end of '*' and "a/n"
  const char* allowed;  // "0-59"
  const char* const* names = nullptr;
  int name_count = 0;
  int name_base = 0;  // value of names[0]
};

const FieldSpec kMinute{"minute", 0, 59, 59, "0-59"};
const FieldSpec kHour{"hour", 0, 23, 23, "0-23"};
const FieldSpec kDom{"day of month", 1, 31, 31, "1-31"};
const FieldSpec kMonth{
    "month", 1, 12, 12, "1-12 or JAN-DEC", kMonthNames.data(), kMonthNames.size(), 1};
const FieldSpec kDow{"day of week",    0, 7, 6, "0-7 or SUN-SAT", kDayNames.data(),
                     kDayNames.size(), 0};

class FieldParser {
 public:
  FieldParser(std::string_view line, std::string_view field, const FieldSpec& spec)
      : line_(line), field_(field), spec_(spec) {}

  // Bit v set = value v allowed (day of week may still carry bit 7).
  std::uint64_t parse() {
    std::uint64_t bits = 0;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = field_.find(',', start);
      const std::string_view elem = field_.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (elem.empty()) {
        fail(std::string("invalid ") + spec_.name + " '" + std::string(field_) + "' in '" +
             std::string(line_) + "' (empty list element)");
      }
      bits |= parse_element(elem);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return bits;
  }

 private:
  [[noreturn]] void bad_value(std::string_view value) const {
    fail(std::string("invalid ") + spec_.name + " '" + std::string(value) + "' in '" +
         std::string(line_) + "' (allowed: " + spec_.allowed + ")");
  }

  int atom(std::string_view a, std::string_view elem) const {
    if (a.empty()) bad_value(elem);
    const int n = parse_number(a);
    if (n >= 0) {
      if (n < spec_.min || n > spec_.max) bad_value(a);
      return n;
    }
    if (spec_.names != nullptr && a.size() == 3) {
      const std::string l = ascii_lower(a);
      for (int i = 0; i < spec_.name_count; ++i) {
        if (l == spec_.names[i]) return spec_.name_base + i;
      }
    }
    bad_value(a);
  }

  std::uint64_t parse_element(std::string_view elem) const {
    std::string_view base = elem;
    int step = 0;
    const std::size_t slash = elem.find('/');
    if (slash != std::string_view::npos) {
      base = elem.substr(0, slash);
      const std::string_view step_text = elem.substr(slash + 1);
      const int step_max = spec_.star_max - spec_.min + 1;
      step = parse_number(step_text);
      if (step < 1 || step > step_max) {
        fail(std::string("invalid ") + spec_.name + " step '" + std::string(step_text) + "' in '" +
             std::string(line_) + "' (allowed: 1-" + std::to_string(step_max) + ")");
      }
    }
    int lo = 0;
    int hi = 0;
    if (base == "*") {
      lo = spec_.min;
      hi = spec_.star_max;
    } else if (const std::size_t dash = base.find('-'); dash != std::string_view::npos) {
      const std::string_view a = base.substr(0, dash);
      const std::string_view b = base.substr(dash + 1);
      lo = atom(a, elem);
      hi = atom(b, elem);
      // "FRI-SUN": Sunday as the end of a range is day 7.
      if (spec_.names == kDayNames.data() && hi == 0 && lo > 0 && parse_number(b) < 0) hi = 7;
      if (lo > hi) {
        fail(std::string("invalid ") + spec_.name + " range '" + std::string(base) + "' in '" +
             std::string(line_) + "' (the start is after the end)");
      }
    } else {
      lo = atom(base, elem);
      hi = step > 0 ? std::max(lo, spec_.star_max) : lo;
    }
    if (step == 0) step = 1;
    std::uint64_t bits = 0;
    for (int v = lo; v <= hi; v += step) bits |= std::uint64_t{1} << v;
    return bits;
  }

  std::string_view line_;
  std::string_view field_;
  const FieldSpec& spec_;
};

struct Macro {
  const char* name;
  const char* line;
};
constexpr std::array<Macro, 7> kMacros = {{{"@yearly", "0 0 1 1 *"},
                                           {"@annually", "0 0 1 1 *"},
                                           {"@monthly", "0 0 1 * *"},
                                           {"@weekly", "0 0 * * 0"},
                                           {"@daily", "0 0 * * *"},
                                           {"@midnight", "0 0 * * *"},
                                           {"@hourly", "0 * * * *"}}};

// The instant at which civil time `local` (local seconds, counted as if UTC)
// happens in tz: the first occurrence of a repeated time, the end of the gap
// (the transition instant) for a skipped time.
std::int64_t resolve_local(std::int64_t local, const TimeZone& tz) {
  std::array<int, 3> offsets = {tz.offset_at(local - 2 * kDay), tz.offset_at(local),
                                tz.offset_at(local + 2 * kDay)};
  std::sort(offsets.begin(), offsets.end());
  const auto last = std::unique(offsets.begin(), offsets.end());
  bool found = false;
  std::int64_t best = 0;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  bool first = true;
  for (auto it = offsets.begin(); it != last; ++it) {
    const std::int64_t instant = local - *it;
    if (first || instant < lo) lo = instant;
    if (first || instant > hi) hi = instant;
    first = false;
    if (tz.offset_at(instant) == *it && (!found || instant < best)) {
      best = instant;
      found = true;
    }
  }
  if (found) return best;
  // Skipped: find the first instant in (lo, hi] whose offset differs from lo's.
  const int before = tz.offset_at(lo);
  if (tz.offset_at(hi) == before) return hi;  // not a simple gap; never seen in tzdata
  std::int64_t a = lo;                        // offset == before
  std::int64_t b = hi;                        // offset != before
  while (b - a > 1) {
    const std::int64_t mid = a + (b - a) / 2;
    if (tz.offset_at(mid) == before) {
      a = mid;
    } else {
      b = mid;
    }
  }
  return b;
}

}  // namespace

Schedule Schedule::parse(std::string_view input) {
  const std::string_view text = trim(input);
  if (text.empty()) fail(std::string("schedule is empty; ") + kExpected);

  Schedule s;
  s.text_ = std::string(text);
  std::string_view line = text;  // what the five fields are parsed from

  if (text.front() == '@') {
    const std::string l = ascii_lower(text);
    const Macro* found = nullptr;
    for (const Macro& m : kMacros) {
      if (l == m.name) found = &m;
    }
    if (found == nullptr) {
      std::string allowed;
      for (const Macro& m : kMacros) allowed += (allowed.empty() ? "" : ", ") + std::string(m.name);
      fail("invalid macro '" + s.text_ + "' (allowed: " + allowed + ")");
    }
    line = found->line;
  }

  const std::vector<std::string_view> fields = split_fields(line);

  if (fields.size() == 2) {
    const std::string unit = ascii_lower(fields[1]);
    if (unit == "seconds" || unit == "second" || unit == "sec") {
      const int n = parse_number(fields[0]);
      if (n < 1 || n > 59) {
        fail("invalid interval '" + std::string(fields[0]) + "' in '" + s.text_ +
             "' (allowed: 1-59 seconds)");
      }
      s.interval_seconds_ = n;
      return s;
    }
  }

  if (fields.size() != 5) {
    fail("schedule '" + s.text_ + "' has " + std::to_string(fields.size()) +
         (fields.size() == 1 ? " field; " : " fields; ") + kExpected);
  }

  // Error messages quote the user's text (for a macro, its expansion cannot fail).
  const std::string_view quoted = s.text_;
  s.minutes_ = FieldParser(quoted, fields[0], kMinute).parse();
  s.hours_ = static_cast<std::uint32_t>(FieldParser(quoted, fields[1], kHour).parse());
  s.dom_ = static_cast<std::uint32_t>(FieldParser(quoted, fields[2], kDom).parse());
  s.months_ = static_cast<std::uint16_t>(FieldParser(quoted, fields[3], kMonth).parse());
  std::uint64_t dow = FieldParser(quoted, fields[4], kDow).parse();
  if ((dow >> 7) & 1) dow = (dow | 1) & 0x7f;  // 7 = Sunday
  s.dow_ = static_cast<std::uint8_t>(dow);
  // Vixie cron: a field is unrestricted when its text starts with '*'.
  s.dom_restricted_ = fields[2].front() != '*';
  s.dow_restricted_ = fields[4].front() != '*';

  // With both day fields restricted, any day of week occurs in every month.
  // Otherwise a day must be in the day-of-month set (every date falls on every
  // weekday within 400 years), so it must exist in some selected month.
  if (!(s.dom_restricted_ && s.dow_restricted_)) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!((s.months_ >> m) & 1)) continue;
      const int longest = days_in_month(2000, m);  // a leap year: February has 29
      for (int d = 1; d <= longest && !possible; ++d) possible = (s.dom_ >> d) & 1;
    }
    if (!possible) {
      fail("schedule '" + s.text_ + "' never fires: day of month '" + std::string(fields[2]) +
           "' does not occur in month '" + std::string(fields[3]) + "'");
    }
  }
  return s;
}

std::int64_t Schedule::next_after(std::int64_t after, const TimeZone& tz) const {
  if (after < kMinInstant || after > kMaxInstant) {
    fail("time " + std::to_string(after) + " is out of range for schedule '" + text_ + "'");
  }
  if (interval_seconds_ > 0) return (floor_div(after, interval_seconds_) + 1) * interval_seconds_;
  if (minutes_ == 0) throw Error(ErrorKind::internal, "schedule used before parse");

  // Civil times at or before the local time of `after` happen at or before
  // `after` (the mapping from civil time to instant is non-decreasing), so the
  // search starts at the first whole civil minute after it. Civil times later
  // than that can still map to instants <= after (the second pass of a
  // repeated hour maps to the first pass); those are skipped.
  const std::int64_t local_after = after + tz.offset_at(after);
  const std::int64_t start = (floor_div(local_after, 60) + 1) * 60;
  std::int64_t daynum = floor_div(start, kDay);
  int sod = static_cast<int>(start - daynum * kDay);  // seconds into the first day
  Civil c = civil_from_days(daynum);
  const std::int64_t last_year = c.year + kSearchYears;
  // Vixie: both restricted -> either matches; otherwise both must match.
  const bool either = dom_restricted_ && dow_restricted_;

  auto next_month = [&] {
    if (++c.month > 12) {
      c.month = 1;
      ++c.year;
    }
    c.day = 1;
    daynum = days_from_civil(c.year, c.month, c.day);
    sod = 0;
  };

  while (c.year <= last_year) {
    if (!((months_ >> c.month) & 1)) {
      next_month();
      continue;
    }
    const int dim = days_in_month(c.year, c.month);
    if (!either) {
      // Both sets must match: jump straight to the next allowed day of month.
      while (c.day <= dim && !((dom_ >> c.day) & 1)) {
        ++c.day;
        sod = 0;
      }
      if (c.day > dim) {
        next_month();
        continue;
      }
      daynum = days_from_civil(c.year, c.month, c.day);
    }
    const bool dom_ok = (dom_ >> c.day) & 1;
    const bool dow_ok = (dow_ >> weekday_from_days(daynum)) & 1;
    if (either ? (dom_ok || dow_ok) : (dom_ok && dow_ok)) {
      const int first_hour = sod / 3600;
      for (int h = first_hour; h < 24; ++h) {
        if (!((hours_ >> h) & 1)) continue;
        const int first_minute = h == first_hour ? (sod % 3600) / 60 : 0;
        for (int m = first_minute; m < 60; ++m) {
          if (!((minutes_ >> m) & 1)) continue;
          const std::int64_t instant = resolve_local(daynum * kDay + h * 3600 + m * 60, tz);
          if (instant > after) return instant;
        }
      }
    }
    sod = 0;
    if (++c.day > dim) {
      next_month();
    } else {
      ++daynum;
    }
  }
  throw Error(ErrorKind::internal, "schedule '" + text_ + "' found no fire time within " +
                                       std::to_string(kSearchYears) + " years");
}

std::vector<std::int64_t> Schedule::next_n(std::int64_t after, int count,
                                           const TimeZone& tz) const {
  if (count < 0) fail("count must not be negative (got " + std::to_string(count) + ")");
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    after = next_after(after, tz);
    out.push_back(after);
  }
  return out;
}

}  // namespace pgvault
