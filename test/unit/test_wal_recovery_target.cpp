// Recovery targets and postgresql.auto.conf (include/pgvault/wal/recovery_target.hpp).
#include "pgvault/error.hpp"
#include "pgvault/wal/recovery_target.hpp"

#include <gtest/gtest.h>

using namespace pgvault;

namespace {

std::string invalid_message(const RecoveryTargetOptions& o) {
  try {
    parse_recovery_target(o);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

std::string time_error(std::string_view text) {
  try {
    parse_recovery_target_time(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

RecoveryTarget parse(RecoveryTargetOptions o) {
  auto t = parse_recovery_target(o);
  EXPECT_TRUE(t.has_value());
  return t.value_or(RecoveryTarget{});
}

constexpr std::int64_t kSecond = 1000000;
// 2026-12-05 04:00:00 UTC
constexpr std::int64_t kDec5 = 1796443200LL * kSecond;

}  // namespace

TEST(RecoveryTargetTime, ParsesIso8601WithAZone) {
  EXPECT_EQ(parse_recovery_target_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05T04:00:00Z"), kDec5);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05 04:00:00+00"), kDec5);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05 05:00:00+01"), kDec5);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05T05:30:00+01:30"), kDec5);
  EXPECT_EQ(parse_recovery_target_time("2026-12-04T23:00:00-0500"), kDec5);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05T04:00:00.5Z"), kDec5 + kSecond / 2);
  EXPECT_EQ(parse_recovery_target_time("2026-12-05T04:00:00.000001Z"), kDec5 + 1);
  EXPECT_EQ(parse_recovery_target_time("2024-02-29T12:00:00Z"), 1709208000LL * kSecond);
  EXPECT_EQ(parse_recovery_target_time("1969-12-31T23:59:59Z"), -kSecond);
  EXPECT_EQ(parse_recovery_target_time("2000-01-01 00:00:00+00"), 946684800LL * kSecond);
}

TEST(RecoveryTargetTime, FormatsInUtcForPostgres) {
  EXPECT_EQ(format_recovery_target_time(kDec5), "2026-12-05 04:00:00+00");
  EXPECT_EQ(format_recovery_target_time(kDec5 + 250000), "2026-12-05 04:00:00.25+00");
  EXPECT_EQ(format_recovery_target_time(kDec5 + 1), "2026-12-05 04:00:00.000001+00");
  EXPECT_EQ(format_recovery_target_time(-1), "1969-12-31 23:59:59.999999+00");
  EXPECT_EQ(format_recovery_target_time(0), "1970-01-01 00:00:00+00");
  for (const char* s : {"2024-02-29 23:59:59.123456+00", "9999-12-31 23:59:59+00",
                        "0001-01-01 00:00:00+00", "2100-03-01 00:00:00+00"})
    EXPECT_EQ(format_recovery_target_time(parse_recovery_target_time(s)), s);
}

TEST(RecoveryTargetTime, RefusesAnythingAmbiguousOrImpossible) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"2026-12-05 04:00:00", "it has no time zone"},
           {"2026-12-05T04:00:00", "it has no time zone"},
           {"2026-12-05", "too short"},
           {"yesterday", "too short"},
           {"05/12/2026 04:00:00Z", "the date must be YYYY-MM-DD"},
           {"2026-12-05_04:00:00Z", "separated by 'T' or a space"},
           {"2026-12-05T4:00:00Z+", "HH:MM:SS"},
           {"2026-13-05T04:00:00Z", "month 13 does not exist"},
           {"2026-02-29T04:00:00Z", "day 29 does not exist"},
           {"2026-04-31T04:00:00Z", "day 31 does not exist"},
           {"0000-01-01T00:00:00Z", "year 0000"},
           {"2026-12-05T24:00:00Z", "00:00:00 to 23:59:59"},
           {"2026-12-05T23:59:60Z", "00:00:00 to 23:59:59"},
           {"2026-12-05T04:00:00.Z", "1 to 6 digits"},
           {"2026-12-05T04:00:00.1234567Z", "1 to 6 digits"},
           {"2026-12-05T04:00:00 UTC", "Z, +HH, +HH:MM or +HHMM"},
           {"2026-12-05T04:00:00z", "Z, +HH, +HH:MM or +HHMM"},
           {"2026-12-05T04:00:00+1", "Z, +HH, +HH:MM or +HHMM"},
           {"2026-12-05T04:00:00+01:0", "Z, +HH, +HH:MM or +HHMM"},
           {"2026-12-05T04:00:00+16:00", "at most 15:59"},
           {"2026-12-05T04:00:00+01:60", "at most 15:59"},
           {"2026-12-05T04:00:00Z ", "Z, +HH, +HH:MM or +HHMM"},
       }) {
    std::string msg = time_error(c.text);
    EXPECT_NE(msg.find(c.why), std::string::npos) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("expected ISO 8601 with a time zone"), std::string::npos) << msg;
  }
}

TEST(RecoveryTarget, NoTargetMeansNoRecoverySettings) {
  EXPECT_EQ(parse_recovery_target({}), std::nullopt);
  for (auto o : {RecoveryTargetOptions{.action = "pause"}, RecoveryTargetOptions{.timeline = "2"},
                 RecoveryTargetOptions{.exclusive = true}}) {
    std::string msg = invalid_message(o);
    EXPECT_NE(msg.find("needs a recovery target"), std::string::npos) << msg;
  }
}

TEST(RecoveryTarget, EachKindWithItsValue) {
  RecoveryTarget t = parse({.time = "2026-12-05T05:00:00+01:00"});
  EXPECT_EQ(t.type, RecoveryTargetType::time);
  EXPECT_EQ(t.value(), "2026-12-05 04:00:00+00");
  EXPECT_EQ(t.describe(), "time 2026-12-05 04:00:00+00");
  EXPECT_EQ(t.action, RecoveryTargetAction::promote);
  EXPECT_EQ(t.timeline, RecoveryTimeline{});

  t = parse({.lsn = "0/3000a28", .exclusive = true});
  EXPECT_EQ(t.value(), "0/3000A28");
  EXPECT_EQ(t.describe(), "LSN 0/3000A28 (exclusive)");

  t = parse({.xid = "18446744073709551615"});
  EXPECT_EQ(t.xid, UINT64_MAX);
  EXPECT_EQ(t.describe(), "transaction 18446744073709551615");
  EXPECT_EQ(parse({.xid = "3"}).value(), "3");
  EXPECT_EQ(parse({.xid = "4294967299"}).xid, 4294967299u);  // epoch 1, xid 3

  t = parse({.name = std::string(63, 'n'), .action = "shutdown"});
  EXPECT_EQ(t.type, RecoveryTargetType::name);
  EXPECT_EQ(t.action, RecoveryTargetAction::shutdown);
  EXPECT_EQ(parse({.name = "before 'drop' #1"}).describe(), "restore point \"before 'drop' #1\"");

  t = parse({.target = "immediate", .action = "pause", .timeline = "current"});
  EXPECT_EQ(t.type, RecoveryTargetType::immediate);
  EXPECT_EQ(t.value(), "");
  EXPECT_EQ(recovery_timeline_text(t.timeline), "current");

  t = parse({.target = "latest", .action = "promote", .timeline = "4294967295"});
  EXPECT_EQ(t.type, RecoveryTargetType::latest);
  EXPECT_EQ(t.timeline, (RecoveryTimeline{RecoveryTimeline::Kind::id, 4294967295u}));
  EXPECT_EQ(t.describe(), "the end of the archived WAL (latest)");
}

TEST(RecoveryTarget, RefusesMistakesSayingWhatIsAllowed) {
  struct Case {
    RecoveryTargetOptions o;
    const char* why;
  };
  for (const Case& c : std::initializer_list<Case>{
           {{.time = "2026-12-05T04:00:00Z", .lsn = "0/1"},
            "only one recovery target, not both --target-time and --target-lsn"},
           {{.target = "latest", .name = "x"}, "not both --target and --target-name"},
           {{.target = "earliest"}, "invalid --target \"earliest\" (allowed: immediate, latest"},
           {{.target = "Immediate"}, "allowed: immediate, latest"},
           {{.lsn = "3000A28"}, "--target-lsn: invalid LSN \"3000A28\""},
           {{.lsn = "0/0"}, "0/0 is not a WAL position"},
           {{.xid = "2"}, "from 3 to 18446744073709551615"},
           {{.xid = "0"}, "from 3"},
           {{.xid = "4294967298"}, "from 3"},  // epoch 1, xid 2
           {{.xid = "18446744073709551616"}, "from 3"},
           {{.xid = "-5"}, "from 3"},
           {{.xid = "0x10"}, "from 3"},
           {{.xid = ""}, "from 3"},
           {{.name = ""}, "1 to 63 bytes, this one is 0"},
           {{.name = std::string(64, 'n')}, "1 to 63 bytes, this one is 64"},
           {{.name = "a\nb"}, "control characters"},
           {{.time = "2026-12-05T04:00:00Z", .action = "stop"},
            "invalid --target-action \"stop\" (allowed: promote, pause, shutdown)"},
           {{.target = "latest", .action = "pause"}, "cannot be used with --target latest"},
           {{.lsn = "0/1", .timeline = "0"}, "timeline ID from 1 to 4294967295"},
           {{.lsn = "0/1", .timeline = "4294967296"}, "timeline ID from 1"},
           {{.lsn = "0/1", .timeline = "0x2"}, "allowed: current, latest or a timeline ID"},
           {{.lsn = "0/1", .timeline = "Latest"}, "allowed: current, latest"},
           {{.name = "x", .exclusive = true}, "--target-exclusive applies to --target-time"},
           {{.target = "immediate", .exclusive = true}, "--target-exclusive applies"},
           {{.target = "latest", .exclusive = true}, "--target-exclusive applies"},
       }) {
    std::string msg = invalid_message(c.o);
    EXPECT_NE(msg.find(c.why), std::string::npos) << msg;
  }
}

TEST(RecoveryTargetAutoConf, QuotesValuesAsAlterSystemDoes) {
  EXPECT_EQ(quote_conf_value("plain"), "'plain'");
  EXPECT_EQ(quote_conf_value("it's"), "'it''s'");
  EXPECT_EQ(quote_conf_value(R"(C:\wal #1)"), R"('C:\\wal #1')");
  EXPECT_EQ(quote_conf_value(""), "''");
  for (std::string bad : {std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3)})
    EXPECT_THROW(quote_conf_value(bad), Error);
}

TEST(RecoveryTargetAutoConf, RecognisesRecoverySettingLines) {
  for (const char* yes :
       {"recovery_target_time = '2026-01-01 00:00:00+00'", "  Recovery_Target_LSN='0/1'",
        "recovery_target 'immediate'", "restore_command = 'cp %p %f'", "RESTORE_COMMAND='x'",
        "recovery_end_command = ''", "\trecovery_target_inclusive = off # comment"})
    EXPECT_TRUE(is_recovery_setting_line(yes)) << yes;
  for (const char* no : {"# recovery_target_time = 'x'", "#restore_command = 'x'", "",
                         "archive_command = 'restore_command'", "restore_commands = 'x'",
                         "shared_preload_libraries = 'pgvault'", "primary_conninfo = 'x'"})
    EXPECT_FALSE(is_recovery_setting_line(no)) << no;
}

TEST(RecoveryTargetAutoConf, RemovesStaleSettingsAndAppendsPgvaultsBlock) {
  const std::string existing =
      "# Do not edit this file manually!\n"
      "# It will be overwritten by the ALTER SYSTEM command.\n"
      "shared_preload_libraries = 'pgvault'\n"
      "recovery_target_name = 'it''s # not a comment'\n"
      "work_mem = '64MB' # recovery_target_time = 'x'\n"
      "# recovery_target_xid = '1234' (a comment stays)\n"
      "  Recovery_Target_Time='2026-01-01 00:00:00+00'\r\n"
      "restore_command = 'cp /old/%f %p'\n"
      "recovery_end_command='rm -f /tmp/x'\n"
      "# pgvault restore: recovery to time 2025-01-01 00:00:00+00; old block\n"
      "recovery_target_action = 'pause'\n"
      "include_if_exists 'extra.conf'\n"
      "application_name = 'a''b\\\\c'";  // no final newline
  RecoveryTarget t = parse({.time = "2026-12-05T04:00:00Z", .exclusive = true});
  AutoConfEdit e =
      render_recovery_auto_conf(existing, t, "pgvault wal-fetch --config '/etc/x' %f %p");
  EXPECT_EQ(e.text,
            "# Do not edit this file manually!\n"
            "# It will be overwritten by the ALTER SYSTEM command.\n"
            "shared_preload_libraries = 'pgvault'\n"
            "work_mem = '64MB' # recovery_target_time = 'x'\n"
            "# recovery_target_xid = '1234' (a comment stays)\n"
            "include_if_exists 'extra.conf'\n"
            "application_name = 'a''b\\\\c'\n"
            "# pgvault restore: recovery to time 2026-12-05 04:00:00+00 (exclusive); these lines "
            "replace any earlier restore_command and recovery_target* settings\n"
            "restore_command = 'pgvault wal-fetch --config ''/etc/x'' %f %p'\n"
            "recovery_target_time = '2026-12-05 04:00:00+00'\n"
            "recovery_target_inclusive = 'false'\n"
            "recovery_target_action = 'promote'\n"
            "recovery_target_timeline = 'latest'\n");
  EXPECT_EQ(e.removed, (std::vector<std::string>{
                           "recovery_target_name = 'it''s # not a comment'",
                           "  Recovery_Target_Time='2026-01-01 00:00:00+00'",
                           "restore_command = 'cp /old/%f %p'",
                           "recovery_end_command='rm -f /tmp/x'",
                           "recovery_target_action = 'pause'",
                       }));
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_NE(e.warnings[0].find("include_if_exists 'extra.conf'"), std::string::npos);

  // Rendering again over the result replaces pgvault's own block: one target only.
  AutoConfEdit again = render_recovery_auto_conf(e.text, parse({.target = "latest"}), "x");
  EXPECT_EQ(again.text,
            "# Do not edit this file manually!\n"
            "# It will be overwritten by the ALTER SYSTEM command.\n"
            "shared_preload_libraries = 'pgvault'\n"
            "work_mem = '64MB' # recovery_target_time = 'x'\n"
            "# recovery_target_xid = '1234' (a comment stays)\n"
            "include_if_exists 'extra.conf'\n"
            "application_name = 'a''b\\\\c'\n"
            "# pgvault restore: recovery to the end of the archived WAL (latest); these lines "
            "replace any earlier restore_command and recovery_target* settings\n"
            "restore_command = 'x'\n"
            "recovery_target_timeline = 'latest'\n");
  EXPECT_EQ(again.removed.size(), 5u);  // restore_command, time, inclusive, action, timeline
}

TEST(RecoveryTargetAutoConf, EveryTargetKindRendersItsSettings) {
  struct Case {
    RecoveryTargetOptions o;
    std::string lines;
  };
  for (const Case& c : std::initializer_list<Case>{
           {{.target = "immediate", .action = "shutdown"},
            "recovery_target = 'immediate'\nrecovery_target_action = 'shutdown'\n"
            "recovery_target_timeline = 'latest'\n"},
           {{.target = "latest", .timeline = "3"}, "recovery_target_timeline = '3'\n"},
           {{.lsn = "0/3000A28", .timeline = "current"},
            "recovery_target_lsn = '0/3000A28'\nrecovery_target_inclusive = 'true'\n"
            "recovery_target_action = 'promote'\nrecovery_target_timeline = 'current'\n"},
           {{.xid = "1234", .action = "pause"},
            "recovery_target_xid = '1234'\nrecovery_target_inclusive = 'true'\n"
            "recovery_target_action = 'pause'\nrecovery_target_timeline = 'latest'\n"},
           {{.name = "it's \\ #1"},
            "recovery_target_name = 'it''s \\\\ #1'\nrecovery_target_action = 'promote'\n"
            "recovery_target_timeline = 'latest'\n"},
       }) {
    AutoConfEdit e = render_recovery_auto_conf("", parse(c.o), "cmd %f %p");
    const std::string tail = "restore_command = 'cmd %f %p'\n" + c.lines;
    ASSERT_GE(e.text.size(), tail.size());
    EXPECT_EQ(e.text.substr(e.text.size() - tail.size()), tail) << e.text;
    EXPECT_TRUE(e.text.starts_with(kRecoveryHeaderPrefix)) << e.text;
    EXPECT_TRUE(e.removed.empty());
  }
  EXPECT_THROW(render_recovery_auto_conf("", parse({.target = "latest"}), ""), Error);
  EXPECT_THROW(render_recovery_auto_conf("", parse({.target = "latest"}), "a\nb"), Error);
}
