// Cron schedules: parsing, next-fire computation, DST, and the refusals.
#include "pgvault/cron/schedule.hpp"

#include "test_support.hpp"
#include "tz_for_tests.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <ostream>
#include <set>
#include <string>
#include <vector>

using namespace pgvault;
using pgvault::test::CountingUtcZone;
using pgvault::test::CTimeZone;
using pgvault::test::expect_error;
using pgvault::test::iso_utc;
using pgvault::test::utc;

namespace {

// The message of the Error that parsing `text` throws ("" if none).
std::string parse_error(const std::string& text) {
  try {
    (void)Schedule::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> fires(const Schedule& s, const std::string& after, int count,
                               const TimeZone& tz) {
  std::vector<std::string> out;
  for (std::int64_t t : s.next_n(utc(after), count, tz)) out.push_back(iso_utc(t));
  return out;
}

// ---------------------------------------------------------------------------
// The table: schedule, zone, `after` and the expected next fire times, all as
// UTC ISO strings. Local times are noted in the comments.

struct FireCase {
  const char* name;
  const char* schedule;
  const char* zone;  // "UTC" or an IANA zone
  const char* after;
  std::vector<const char*> expected;
};

const std::vector<FireCase> kFireCases = {
    // --- every field form (UTC) -------------------------------------------------
    {"every_minute",
     "* * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
    {"every_minute_mid_minute",
     "* * * * *",
     "UTC",
     "2026-01-01T00:00:30Z",
     {"2026-01-01T00:01:00Z"}},
    {"strictly_after_exact_fire",
     "0 2 * * *",
     "UTC",
     "2026-01-01T02:00:00Z",
     {"2026-01-02T02:00:00Z"}},
    {"minute_list",
     "0,15,45 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:15:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"}},
    {"minute_range",
     "10-12 * * * *",
     "UTC",
     "2026-01-01T10:00:00Z",
     {"2026-01-01T10:10:00Z", "2026-01-01T10:11:00Z", "2026-01-01T10:12:00Z",
      "2026-01-01T11:10:00Z"}},
    {"minute_star_step",
     "*/20 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"}},
    {"minute_range_step",
     "10-30/10 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:30:00Z",
      "2026-01-01T01:10:00Z"}},
    {"minute_start_step",
     "50/5 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:50:00Z", "2026-01-01T00:55:00Z", "2026-01-01T01:50:00Z"}},
    {"mixed_list",
     "5,10-12,50/5 3 * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T03:05:00Z", "2026-01-01T03:10:00Z", "2026-01-01T03:11:00Z",
      "2026-01-01T03:12:00Z", "2026-01-01T03:50:00Z", "2026-01-01T03:55:00Z",
      "2026-01-02T03:05:00Z"}},
    {"hour_star_step",
     "0 */6 * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z",
      "2026-01-02T00:00:00Z"}},
    {"hour_range_step",
     "15 8-17/4 * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T08:15:00Z", "2026-01-01T12:15:00Z", "2026-01-01T16:15:00Z",
      "2026-01-02T08:15:00Z"}},
    {"hour_start_step",
     "0 20/2 * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T20:00:00Z", "2026-01-01T22:00:00Z", "2026-01-02T20:00:00Z"}},
    {"month_names_list",
     "0 0 1 JAN,JUL *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
    {"month_names_range_lowercase",
     "0 0 1 jan-mar *",
     "UTC",
     "2026-02-15T00:00:00Z",
     {"2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"}},
    {"month_step",
     "0 0 1 */4 *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-05-01T00:00:00Z", "2026-09-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
    // 2026-01-01 is a Thursday.
    {"dow_names_range",
     "0 9 * * MON-FRI",
     "UTC",
     "2026-01-02T10:00:00Z",
     {"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
    {"dow_names_mixed_case",
     "0 9 * * mOn-fRi",
     "UTC",
     "2026-01-02T10:00:00Z",
     {"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
    {"dow_7_is_sunday",
     "0 0 * * 7",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"dow_0_is_sunday",
     "0 0 * * 0",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"dow_range_to_7",
     "0 0 * * 5-7",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
      "2026-01-09T00:00:00Z"}},
    {"dow_range_to_sun",
     "0 0 * * FRI-SUN",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
      "2026-01-09T00:00:00Z"}},
    {"whitespace_runs_and_tabs",
     " \t0\t\t2   * *\t* ",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z"}},
    // --- month ends and 29 February ------------------------------------------
    {"31st_only_in_long_months",
     "0 0 31 * *",
     "UTC",
     "2026-01-31T00:00:00Z",
     {"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z",
      "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z"}},
    {"30th_skips_february",
     "0 0 30 * *",
     "UTC",
     "2026-01-30T00:00:00Z",
     {"2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"}},
    {"feb_29_leap_years",
     "0 0 29 2 *",
     "UTC",
     "2025-01-01T00:00:00Z",
     {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
    {"feb_29_skips_2100", "0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", {"2104-02-29T00:00:00Z"}},
    {"year_end_rollover",
     "59 23 31 12 *",
     "UTC",
     "2026-06-01T00:00:00Z",
     {"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"}},
    // --- day of month / day of week (Vixie) ----------------------------------
    // April 2026: Fridays 3, 10, 17, 24, May 1; the 13th is a Monday.
    {"dom_or_dow_both_restricted",
     "0 0 13 * FRI",
     "UTC",
     "2026-04-01T00:00:00Z",
     {"2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z",
      "2026-04-17T00:00:00Z", "2026-04-24T00:00:00Z", "2026-05-01T00:00:00Z"}},
    {"dow_only_when_dom_star",
     "0 0 * * FRI",
     "UTC",
     "2026-04-01T00:00:00Z",
     {"2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-17T00:00:00Z",
      "2026-04-24T00:00:00Z", "2026-05-01T00:00:00Z"}},
    {"dom_only_when_dow_star",
     "0 0 13 * *",
     "UTC",
     "2026-04-01T00:00:00Z",
     {"2026-04-13T00:00:00Z", "2026-05-13T00:00:00Z", "2026-06-13T00:00:00Z"}},
    // "*/2" starts with '*': unrestricted, so both must match (odd-day Mondays).
    {"dom_star_step_is_unrestricted",
     "0 0 */2 * MON",
     "UTC",
     "2026-04-01T00:00:00Z",
     {"2026-04-13T00:00:00Z", "2026-04-27T00:00:00Z", "2026-05-11T00:00:00Z",
      "2026-05-25T00:00:00Z"}},
    // "0 0 30 2 MON" is accepted: both restricted, so Mondays in February fire.
    {"impossible_dom_but_dow_or",
     "0 0 30 2 MON",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"}},
    // Feb 29 that is a Sunday ("*/7" = Sunday only, and unrestricted): 2032, 2060.
    {"feb_29_on_sunday",
     "0 0 29 2 */7",
     "UTC",
     "2005-01-01T00:00:00Z",
     {"2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z"}},
    // --- macros ---------------------------------------------------------------
    {"macro_yearly",
     "@yearly",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
    {"macro_annually", "@annually", "UTC", "2026-03-01T00:00:00Z", {"2027-01-01T00:00:00Z"}},
    {"macro_monthly",
     "@monthly",
     "UTC",
     "2026-01-15T00:00:00Z",
     {"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
    {"macro_weekly",
     "@weekly",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"macro_daily",
     "@daily",
     "UTC",
     "2026-01-01T12:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
    {"macro_midnight", "@midnight", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}},
    {"macro_hourly",
     "@hourly",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
    {"macro_daily_in_zone",
     "@daily",
     "America/New_York",
     "2026-01-01T12:00:00Z",
     {"2026-01-02T05:00:00Z"}},  // midnight EST
    // --- N seconds: multiples of N since the epoch, zone ignored ---------------
    {"seconds_3_after_100",
     "3 seconds",
     "UTC",
     "1970-01-01T00:01:40Z",
     {"1970-01-01T00:01:42Z", "1970-01-01T00:01:45Z", "1970-01-01T00:01:48Z"}},
    {"second_1",
     "1 second",
     "UTC",
     "1970-01-01T00:01:40Z",
     {"1970-01-01T00:01:41Z", "1970-01-01T00:01:42Z"}},
    {"sec_59",
     "59 sec",
     "UTC",
     "1970-01-01T00:00:00Z",
     {"1970-01-01T00:00:59Z", "1970-01-01T00:01:58Z"}},
    {"seconds_strictly_after_multiple",
     "10 seconds",
     "UTC",
     "2026-03-08T06:59:50Z",
     {"2026-03-08T07:00:00Z", "2026-03-08T07:00:10Z"}},
    {"seconds_ignore_zone_across_dst",
     "10 seconds",
     "America/New_York",
     "2026-03-08T06:59:50Z",
     {"2026-03-08T07:00:00Z", "2026-03-08T07:00:10Z"}},
    {"seconds_before_epoch",
     "7 seconds",
     "UTC",
     "1969-12-31T23:59:50Z",
     {"1969-12-31T23:59:53Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:07Z"}},
    // --- DST: America/New_York (2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z;
    //     2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z) -----------------------
    {"ny_normal_days",
     "30 2 * * *",
     "America/New_York",
     "2026-03-06T12:00:00Z",
     {"2026-03-07T07:30:00Z",    // 02:30 EST
      "2026-03-08T07:00:00Z",    // 02:30 skipped -> 03:00 EDT, the transition
      "2026-03-09T06:30:00Z"}},  // 02:30 EDT
    {"ny_spring_skipped_fires_at_transition",
     "30 2 * * *",
     "America/New_York",
     "2026-03-08T06:59:59Z",
     {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
    {"ny_spring_skipped_fires_once",
     "30 2 * * *",
     "America/New_York",
     "2026-03-08T07:00:00Z",
     {"2026-03-09T06:30:00Z"}},
    {"ny_spring_gap_start",
     "0 2 * * *",
     "America/New_York",
     "2026-03-07T12:00:00Z",
     {"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}},
    // 02:00 (skipped) and 03:00 EDT are the same instant: one fire.
    {"ny_spring_gap_and_after_collapse",
     "0 2,3 * * *",
     "America/New_York",
     "2026-03-08T05:00:00Z",
     {"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T07:00:00Z"}},
    {"ny_spring_every_15_minutes",
     "*/15 * * * *",
     "America/New_York",
     "2026-03-08T06:40:00Z",
     {"2026-03-08T06:45:00Z",    // 01:45 EST
      "2026-03-08T07:00:00Z",    // 02:00-02:45 skipped and 03:00 EDT: once
      "2026-03-08T07:15:00Z"}},  // 03:15 EDT
    {"ny_spring_hourly_at_30",
     "30 * * * *",
     "America/New_York",
     "2026-03-08T06:00:00Z",
     {"2026-03-08T06:30:00Z",    // 01:30 EST
      "2026-03-08T07:00:00Z",    // 02:30 skipped -> 03:00 EDT
      "2026-03-08T07:30:00Z",    // 03:30 EDT
      "2026-03-08T08:30:00Z"}},  // 04:30 EDT
    {"ny_fall_repeated_fires_first",
     "30 1 * * *",
     "America/New_York",
     "2026-10-31T12:00:00Z",
     {"2026-11-01T05:30:00Z",    // 01:30 EDT (first occurrence)
      "2026-11-02T06:30:00Z"}},  // 01:30 EST next day; 06:30Z on Nov 1 is not a fire
    {"ny_fall_repeated_not_again",
     "30 1 * * *",
     "America/New_York",
     "2026-11-01T05:30:00Z",
     {"2026-11-02T06:30:00Z"}},
    {"ny_fall_after_in_second_pass",
     "30 1 * * *",
     "America/New_York",
     "2026-11-01T06:10:00Z",
     {"2026-11-02T06:30:00Z"}},
    {"ny_fall_every_15_minutes",
     "*/15 * * * *",
     "America/New_York",
     "2026-11-01T04:50:00Z",
     {"2026-11-01T05:00:00Z",    // 01:00 EDT
      "2026-11-01T05:15:00Z",    // 01:15 EDT
      "2026-11-01T05:30:00Z",    // 01:30 EDT
      "2026-11-01T05:45:00Z",    // 01:45 EDT
      "2026-11-01T07:00:00Z",    // 02:00 EST (01:00-01:45 EST do not repeat)
      "2026-11-01T07:15:00Z"}},  // 02:15 EST
    {"ny_fall_every_15_from_second_pass",
     "*/15 * * * *",
     "America/New_York",
     "2026-11-01T06:10:00Z",
     {"2026-11-01T07:00:00Z"}},
    {"ny_fall_hourly_at_30",
     "30 * * * *",
     "America/New_York",
     "2026-11-01T04:00:00Z",
     {"2026-11-01T04:30:00Z",    // 00:30 EDT
      "2026-11-01T05:30:00Z",    // 01:30 EDT
      "2026-11-01T07:30:00Z",    // 02:30 EST (01:30 EST is the repeat)
      "2026-11-01T08:30:00Z"}},  // 03:30 EST
    // --- DST: Europe/Berlin (2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z;
    //     2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z) -----------------------
    {"berlin_spring_skipped",
     "30 2 * * *",
     "Europe/Berlin",
     "2026-03-28T12:00:00Z",
     {"2026-03-29T01:00:00Z",    // 02:30 skipped -> 03:00 CEST
      "2026-03-30T00:30:00Z"}},  // 02:30 CEST
    {"berlin_fall_repeated",
     "30 2 * * *",
     "Europe/Berlin",
     "2026-10-24T12:00:00Z",
     {"2026-10-25T00:30:00Z",    // 02:30 CEST (first occurrence)
      "2026-10-26T01:30:00Z"}},  // 02:30 CET
    {"berlin_fall_hourly",
     "0 * * * *",
     "Europe/Berlin",
     "2026-10-24T23:30:00Z",
     {"2026-10-25T00:00:00Z",    // 02:00 CEST
      "2026-10-25T02:00:00Z",    // 03:00 CET (02:00 CET at 01:00Z is the repeat)
      "2026-10-25T03:00:00Z"}},  // 04:00 CET
    {"berlin_spring_minutes_in_gap",
     "*/20 2 * * *",
     "Europe/Berlin",
     "2026-03-28T12:00:00Z",
     {"2026-03-29T01:00:00Z",    // 02:00, 02:20, 02:40 all skipped: one fire
      "2026-03-30T00:00:00Z"}},  // 02:00 CEST
    // --- DST: Australia/Lord_Howe, a 30-minute shift (2026-10-04 02:00 +1030
    //     -> 02:30 +11 at 15:30Z on Oct 3; 2026-04-05 02:00 +11 -> 01:30
    //     +1030 at 15:00Z on Apr 4) -------------------------------------------
    {"lord_howe_spring_skipped",
     "15 2 * * *",
     "Australia/Lord_Howe",
     "2026-10-03T00:00:00Z",
     {"2026-10-03T15:30:00Z",    // 02:15 skipped -> 02:30 +11
      "2026-10-04T15:15:00Z"}},  // 02:15 +11
    {"lord_howe_fall_repeated",
     "45 1 * * *",
     "Australia/Lord_Howe",
     "2026-04-04T00:00:00Z",
     {"2026-04-04T14:45:00Z",    // 01:45 +11 (first occurrence)
      "2026-04-05T15:15:00Z"}},  // 01:45 +1030
    {"lord_howe_fall_every_20",
     "*/20 * * * *",
     "Australia/Lord_Howe",
     "2026-04-04T14:00:00Z",
     {"2026-04-04T14:20:00Z",    // 01:20 +11
      "2026-04-04T14:40:00Z",    // 01:40 +11
      "2026-04-04T15:30:00Z",    // 02:00 +1030 (01:40 +1030 at 15:10Z is the repeat)
      "2026-04-04T15:50:00Z"}},  // 02:20 +1030
};

// Readable parameter names in test listings.
void PrintTo(const FireCase& c, std::ostream* os) {
  *os << "'" << c.schedule << "' in " << c.zone << " after " << c.after;
}

class ScheduleNextFire : public ::testing::TestWithParam<FireCase> {};

TEST_P(ScheduleNextFire, MatchesTable) {
  const FireCase& c = GetParam();
  const Schedule s = Schedule::parse(c.schedule);
  std::vector<std::string> expected(c.expected.begin(), c.expected.end());
  const int count = static_cast<int>(expected.size());
  if (std::string(c.zone) == "UTC") {
    EXPECT_EQ(fires(s, c.after, count, UtcZone()), expected) << c.schedule;
  } else {
    if (!CTimeZone::available(c.zone)) GTEST_SKIP() << "zone " << c.zone << " not installed";
    const CTimeZone tz(c.zone);
    EXPECT_EQ(fires(s, c.after, count, tz), expected) << c.schedule << " in " << c.zone;
  }
}

INSTANTIATE_TEST_SUITE_P(Schedule, ScheduleNextFire, ::testing::ValuesIn(kFireCases),
                         [](const ::testing::TestParamInfo<FireCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------
// The refusals, with their exact messages.

struct InvalidCase {
  const char* name;
  const char* schedule;
  const char* message;
};

#define PGV_EXPECTED                                                                        \
  "expected 5 (minute hour day-of-month month day-of-week), a macro such as @daily, or 'N " \
  "seconds'"

const std::vector<InvalidCase> kInvalidCases = {
    {"minute_too_big", "61 2 * * *", "invalid minute '61' in '61 2 * * *' (allowed: 0-59)"},
    {"minute_name", "MON * * * *", "invalid minute 'MON' in 'MON * * * *' (allowed: 0-59)"},
    {"minute_decimal", "1.5 * * * *", "invalid minute '1.5' in '1.5 * * * *' (allowed: 0-59)"},
    {"minute_negative", "-5 * * * *", "invalid minute '-5' in '-5 * * * *' (allowed: 0-59)"},
    {"minute_open_range", "5- * * * *", "invalid minute '5-' in '5- * * * *' (allowed: 0-59)"},
    {"minute_range_end_too_big", "0-60 * * * *",
     "invalid minute '60' in '0-60 * * * *' (allowed: 0-59)"},
    {"minute_huge", "99999999999 * * * *",
     "invalid minute '99999999999' in '99999999999 * * * *' (allowed: 0-59)"},
    {"hour_too_big", "0 24 * * *", "invalid hour '24' in '0 24 * * *' (allowed: 0-23)"},
    {"dom_zero", "0 0 0 * *", "invalid day of month '0' in '0 0 0 * *' (allowed: 1-31)"},
    {"dom_too_big", "0 0 32 * *", "invalid day of month '32' in '0 0 32 * *' (allowed: 1-31)"},
    {"month_too_big", "0 0 * 13 *",
     "invalid month '13' in '0 0 * 13 *' (allowed: 1-12 or JAN-DEC)"},
    {"month_zero", "0 0 * 0 *", "invalid month '0' in '0 0 * 0 *' (allowed: 1-12 or JAN-DEC)"},
    {"month_bad_name", "0 0 * FOO *",
     "invalid month 'FOO' in '0 0 * FOO *' (allowed: 1-12 or JAN-DEC)"},
    {"month_long_name", "0 0 * JANUARY *",
     "invalid month 'JANUARY' in '0 0 * JANUARY *' (allowed: 1-12 or JAN-DEC)"},
    {"dow_bad_name", "0 2 * * FUN",
     "invalid day of week 'FUN' in '0 2 * * FUN' (allowed: 0-7 or SUN-SAT)"},
    {"dow_bad_name_in_range", "0 2 * * MON-FUN",
     "invalid day of week 'FUN' in '0 2 * * MON-FUN' (allowed: 0-7 or SUN-SAT)"},
    {"dow_8", "0 2 * * 8", "invalid day of week '8' in '0 2 * * 8' (allowed: 0-7 or SUN-SAT)"},
    {"dow_month_name", "0 2 * * JAN",
     "invalid day of week 'JAN' in '0 2 * * JAN' (allowed: 0-7 or SUN-SAT)"},
    {"step_zero", "*/0 * * * *", "invalid minute step '0' in '*/0 * * * *' (allowed: 1-60)"},
    {"step_empty", "0 */ * * *", "invalid hour step '' in '0 */ * * *' (allowed: 1-24)"},
    {"step_too_big", "0 0 1 */13 *", "invalid month step '13' in '0 0 1 */13 *' (allowed: 1-12)"},
    {"step_not_number", "0 0 * * */x",
     "invalid day of week step 'x' in '0 0 * * */x' (allowed: 1-7)"},
    {"reversed_range", "0 5-1 * * *",
     "invalid hour range '5-1' in '0 5-1 * * *' (the start is after the end)"},
    {"reversed_named_range", "0 0 * * FRI-MON",
     "invalid day of week range 'FRI-MON' in '0 0 * * FRI-MON' (the start is after the end)"},
    {"reversed_range_with_step", "0 0 20-10/2 * *",
     "invalid day of month range '20-10' in '0 0 20-10/2 * *' (the start is after the end)"},
    {"empty_list_element", "1,,2 * * * *",
     "invalid minute '1,,2' in '1,,2 * * * *' (empty list element)"},
    {"trailing_comma", "0 1, * * *", "invalid hour '1,' in '0 1, * * *' (empty list element)"},
    {"leading_comma", "0 0 * ,3 *", "invalid month ',3' in '0 0 * ,3 *' (empty list element)"},
    {"four_fields", "0 2 * *", "schedule '0 2 * *' has 4 fields; " PGV_EXPECTED},
    {"six_fields", "0 0 2 * * *", "schedule '0 0 2 * * *' has 6 fields; " PGV_EXPECTED},
    {"one_field", "daily", "schedule 'daily' has 1 field; " PGV_EXPECTED},
    {"minutes_unit", "5 minutes", "schedule '5 minutes' has 2 fields; " PGV_EXPECTED},
    {"empty", "", "schedule is empty; " PGV_EXPECTED},
    {"blank", " \t ", "schedule is empty; " PGV_EXPECTED},
    {"macro_reboot", "@reboot",
     "invalid macro '@reboot' (allowed: @yearly, @annually, @monthly, @weekly, @daily, "
     "@midnight, @hourly)"},
    {"macro_with_arguments", "@daily 5",
     "invalid macro '@daily 5' (allowed: @yearly, @annually, @monthly, @weekly, @daily, "
     "@midnight, @hourly)"},
    {"macro_bare_at", "@",
     "invalid macro '@' (allowed: @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
     "@hourly)"},
    {"seconds_zero", "0 seconds", "invalid interval '0' in '0 seconds' (allowed: 1-59 seconds)"},
    {"seconds_60", "60 seconds", "invalid interval '60' in '60 seconds' (allowed: 1-59 seconds)"},
    {"seconds_negative", "-1 sec", "invalid interval '-1' in '-1 sec' (allowed: 1-59 seconds)"},
    {"seconds_not_number", "x second",
     "invalid interval 'x' in 'x second' (allowed: 1-59 seconds)"},
    {"never_fires_feb_30", "0 0 30 2 *",
     "schedule '0 0 30 2 *' never fires: day of month '30' does not occur in month '2'"},
    {"never_fires_31_short_months", "0 0 31 4,6,9,11 *",
     "schedule '0 0 31 4,6,9,11 *' never fires: day of month '31' does not occur in month "
     "'4,6,9,11'"},
    {"never_fires_named", "0 0 30,31 FEB *",
     "schedule '0 0 30,31 FEB *' never fires: day of month '30,31' does not occur in month "
     "'FEB'"},
    {"never_fires_star_dow_step", "0 0 31 APR */2",
     "schedule '0 0 31 APR */2' never fires: day of month '31' does not occur in month 'APR'"},
};

void PrintTo(const InvalidCase& c, std::ostream* os) {
  *os << "'" << c.schedule << "'";
}

class CronInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(CronInvalid, RefusedWithMessage) {
  const InvalidCase& c = GetParam();
  expect_error([&] { (void)Schedule::parse(c.schedule); }, ErrorKind::invalid_argument, c.message);
  EXPECT_EQ(parse_error(c.schedule), c.message);
}

INSTANTIATE_TEST_SUITE_P(Schedule, CronInvalid, ::testing::ValuesIn(kInvalidCases),
                         [](const ::testing::TestParamInfo<InvalidCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------
// Parsed field sets.

TEST(ScheduleParse, FieldSets) {
  const Schedule s = Schedule::parse("0,30 9-17 */10 JAN,jun-Aug 7");
  EXPECT_FALSE(s.is_interval());
  EXPECT_EQ(s.text(), "0,30 9-17 */10 JAN,jun-Aug 7");
  EXPECT_EQ(s.minutes(), (std::uint64_t{1} << 0) | (std::uint64_t{1} << 30));
  EXPECT_EQ(s.hours(), 0x3FE00u);  // 9..17
  EXPECT_EQ(s.days_of_month(), (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
  EXPECT_EQ(s.months(), (1u << 1) | (1u << 6) | (1u << 7) | (1u << 8));
  EXPECT_EQ(s.days_of_week(), 1u);   // 7 = Sunday = bit 0
  EXPECT_FALSE(s.dom_restricted());  // starts with '*'
  EXPECT_TRUE(s.dow_restricted());
}

TEST(ScheduleParse, Wildcards) {
  const Schedule s = Schedule::parse("* * * * *");
  EXPECT_EQ(s.minutes(), (std::uint64_t{1} << 60) - 1);
  EXPECT_EQ(s.hours(), (1u << 24) - 1);
  EXPECT_EQ(s.days_of_month(), 0xFFFFFFFEu);
  EXPECT_EQ(s.months(), 0x1FFEu);
  EXPECT_EQ(s.days_of_week(), 0x7Fu);
  EXPECT_FALSE(s.dom_restricted());
  EXPECT_FALSE(s.dow_restricted());
}

TEST(ScheduleParse, DayOfWeekForms) {
  auto dow = [](const char* field) {
    return Schedule::parse(std::string("0 0 * * ") + field).days_of_week();
  };
  EXPECT_EQ(dow("0"), 0x01u);
  EXPECT_EQ(dow("7"), 0x01u);
  EXPECT_EQ(dow("SUN"), 0x01u);
  EXPECT_EQ(dow("0,7"), 0x01u);
  EXPECT_EQ(dow("0-7"), 0x7Fu);
  EXPECT_EQ(dow("5-7"), 0x61u);      // Fri, Sat, Sun
  EXPECT_EQ(dow("FRI-SUN"), 0x61u);  // SUN ends a range as 7
  EXPECT_EQ(dow("mon-fri"), 0x3Eu);
  EXPECT_EQ(dow("*/2"), 0x55u);  // 0,2,4,6
  EXPECT_EQ(dow("1/2"), 0x2Au);  // 1,3,5
  EXPECT_EQ(dow("7/2"), 0x01u);
  EXPECT_EQ(dow("SAT,sun"), 0x41u);
}

TEST(ScheduleParse, Restriction) {
  EXPECT_TRUE(Schedule::parse("0 0 13 * FRI").dom_restricted());
  EXPECT_TRUE(Schedule::parse("0 0 13 * FRI").dow_restricted());
  EXPECT_FALSE(Schedule::parse("0 0 */2 * MON").dom_restricted());
  EXPECT_FALSE(Schedule::parse("0 0 1 * */2").dow_restricted());
  // A field written as a full range is restricted (it does not start with '*').
  EXPECT_TRUE(Schedule::parse("0 0 1-31 * MON").dom_restricted());
}

TEST(ScheduleParse, Macros) {
  const Schedule weekly = Schedule::parse("@weekly");
  EXPECT_EQ(weekly.text(), "@weekly");
  EXPECT_EQ(weekly.days_of_week(), 1u);
  EXPECT_TRUE(weekly.dow_restricted());
  EXPECT_FALSE(weekly.dom_restricted());
  EXPECT_EQ(Schedule::parse("@hourly").minutes(), 1u);
  EXPECT_EQ(Schedule::parse("@hourly").hours(), (1u << 24) - 1);
  EXPECT_EQ(Schedule::parse("@yearly").months(), 1u << 1);
  EXPECT_EQ(Schedule::parse("@annually").days_of_month(), 1u << 1);
  EXPECT_EQ(Schedule::parse(" @DAILY ").text(), "@DAILY");
  EXPECT_EQ(Schedule::parse("@midnight").hours(), 1u);
}

TEST(ScheduleParse, Intervals) {
  EXPECT_TRUE(Schedule::parse("5 seconds").is_interval());
  EXPECT_EQ(Schedule::parse("5 seconds").interval_seconds(), 5);
  EXPECT_EQ(Schedule::parse("1 second").interval_seconds(), 1);
  EXPECT_EQ(Schedule::parse("59 sec").interval_seconds(), 59);
  EXPECT_EQ(Schedule::parse("\t7   SECONDS ").interval_seconds(), 7);
  EXPECT_EQ(Schedule::parse("\t7   SECONDS ").text(), "7   SECONDS");
  EXPECT_FALSE(Schedule::parse("0 2 * * *").is_interval());
  EXPECT_EQ(Schedule::parse("0 2 * * *").interval_seconds(), 0);
}

TEST(ScheduleParse, TextIsTrimmed) {
  EXPECT_EQ(Schedule::parse("  0 2 * * *\t").text(), "0 2 * * *");
}

// ---------------------------------------------------------------------------
// next_n and guards.

TEST(ScheduleNextN, CountZeroAndNegative) {
  const Schedule s = Schedule::parse("@hourly");
  EXPECT_TRUE(s.next_n(0, 0, UtcZone()).empty());
  expect_error([&] { (void)s.next_n(0, -1, UtcZone()); }, ErrorKind::invalid_argument,
               "count must not be negative");
}

TEST(ScheduleNextN, EqualsRepeatedNextAfter) {
  const Schedule s = Schedule::parse("7,37 */5 * * MON,THU");
  const std::vector<std::int64_t> n = s.next_n(utc("2026-01-01T00:00:00Z"), 20, UtcZone());
  std::int64_t t = utc("2026-01-01T00:00:00Z");
  for (std::int64_t v : n) {
    t = s.next_after(t, UtcZone());
    EXPECT_EQ(v, t);
  }
}

TEST(ScheduleNextAfter, OutOfRangeInstantRefused) {
  const Schedule s = Schedule::parse("@daily");
  expect_error([&] { (void)s.next_after(std::int64_t{1} << 60, UtcZone()); },
               ErrorKind::invalid_argument, "out of range");
}

// Cross-check against a brute-force minute scan in UTC.
TEST(ScheduleNextAfter, MatchesBruteForceInUtc) {
  const std::vector<std::string> lines = {
      "*/7 * * * *", "0 0 13 * FRI", "0 0 */2 * MON",        "15 3 1-7 * SUN", "0 12 * 2 *",
      "5 4 * * 7",   "0 0 31 * *",   "0 9-17/2 * * MON-FRI", "30 0 1,15 * 3",
  };
  for (const std::string& line : lines) {
    const Schedule s = Schedule::parse(line);
    const bool either = s.dom_restricted() && s.dow_restricted();
    auto matches = [&](std::int64_t t) {
      const std::time_t tt = static_cast<std::time_t>(t);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      const bool dom = (s.days_of_month() >> tm.tm_mday) & 1;
      const bool dow = (s.days_of_week() >> tm.tm_wday) & 1;
      return ((s.minutes() >> tm.tm_min) & 1) && ((s.hours() >> tm.tm_hour) & 1) &&
             ((s.months() >> (tm.tm_mon + 1)) & 1) && (either ? (dom || dow) : (dom && dow));
    };
    std::int64_t after = utc("2026-01-01T00:00:00Z") + 17;
    for (int i = 0; i < 30; ++i) {
      std::int64_t expect = (after / 60 + 1) * 60;
      while (!matches(expect)) expect += 60;
      const std::int64_t got = s.next_after(after, UtcZone());
      ASSERT_EQ(iso_utc(got), iso_utc(expect)) << line << " after " << iso_utc(after);
      after = got + (i % 3 == 0 ? 0 : 29);  // exactly at a fire and in between
    }
  }
}

// Across a whole DST year, no civil time fires twice and every result is
// strictly increasing; every skipped time is represented by a fire at the
// transition.
TEST(ScheduleDst, NoRepeatsAcrossYearInTwoZones) {
  for (const char* zone : {"America/New_York", "Europe/Berlin"}) {
    if (!CTimeZone::available(zone)) GTEST_SKIP() << "zone " << zone << " not installed";
    const CTimeZone tz(zone);
    const Schedule s = Schedule::parse("*/30 0-4 * * *");
    const std::vector<std::int64_t> v = s.next_n(utc("2026-01-01T00:00:00Z"), 365 * 10, tz);
    std::set<std::int64_t> civil;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) {
        ASSERT_LT(v[i - 1], v[i]);
      }
      const std::int64_t local = v[i] + tz.offset_at(v[i]);
      EXPECT_TRUE(civil.insert(local).second)
          << zone << ": civil time repeated at " << iso_utc(v[i]);
    }
  }
}

// ---------------------------------------------------------------------------
// Performance: early return for frequent schedules, bounded search for rare.

TEST(ScheduleNextAfter, EveryMinuteAsksTheZoneOnlyAFewTimes) {
  const Schedule s = Schedule::parse("* * * * *");
  const CountingUtcZone tz;
  EXPECT_EQ(s.next_after(utc("2026-05-05T10:10:10Z"), tz), utc("2026-05-05T10:11:00Z"));
  EXPECT_LE(tz.calls(), 8);
}

// Counts the offsets a schedule asks any zone for: how much next_after
// searches, measured independently of the machine's speed and load.
class CountingZone final : public TimeZone {
 public:
  explicit CountingZone(const TimeZone& zone) : zone_(zone) {}
  int offset_at(std::int64_t unix_seconds) const override {
    ++calls_;
    return zone_.offset_at(unix_seconds);
  }
  long calls() const { return calls_; }

 private:
  const TimeZone& zone_;
  mutable long calls_ = 0;
};

// A schedule that fires once in years is found without asking the zone for
// every candidate (a time-zone database lookup each; 2.1 million minutes in
// four years): a handful of asks, however far away the next fire time is.
// Counted, not timed, so a loaded machine cannot fail it.
constexpr long kRareSearchZoneCalls = 8;

TEST(ScheduleNextAfter, RareSchedulesAreFast) {
  for (const char* line : {"0 0 29 2 *", "0 0 29 2 */7", "59 23 31 12 SUN", "0 0 31 * *"}) {
    const Schedule s = Schedule::parse(line);
    for (int i = 0; i < 50; ++i) {
      const CountingUtcZone tz;
      const std::int64_t from = utc("2025-03-01T00:00:00Z") + i;
      EXPECT_GT(s.next_after(from, tz), from) << line;
      EXPECT_LE(tz.calls(), kRareSearchZoneCalls) << line;
    }
  }
}

TEST(ScheduleNextAfter, RareScheduleInZoneIsFast) {
  if (!CTimeZone::available("America/New_York")) GTEST_SKIP() << "zone not installed";
  const CTimeZone new_york("America/New_York");
  const CountingZone tz(new_york);
  const Schedule s = Schedule::parse("0 0 29 2 *");
  EXPECT_EQ(iso_utc(s.next_after(utc("2025-01-01T00:00:00Z"), tz)), "2028-02-29T05:00:00Z");
  EXPECT_LE(tz.calls(), kRareSearchZoneCalls);
}

}  // namespace
