#include "pgvault/wal/recovery_target.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <cctype>
#include <cstdio>

namespace pgvault {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;
constexpr std::size_t kMaxRestorePointName = 63;  // MAXFNAMELEN - 1

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

unsigned number(std::string_view digits) {
  unsigned v = 0;
  for (char c : digits) v = v * 10 + static_cast<unsigned>(c - '0');
  return v;
}

[[noreturn]] void bad_option(const std::string& message) {
  throw Error(ErrorKind::invalid_argument, message);
}

}  // namespace

std::int64_t parse_recovery_target_time(std::string_view text) {
  auto bad = [&](const std::string& why) -> Error {
    return Error(ErrorKind::invalid_argument,
                 "invalid --target-time \"" + quote_untrusted(text) + "\": " + why +
                     " (expected ISO 8601 with a time zone, e.g. 2026-12-05T04:00:00Z, "
                     "2026-12-05 04:00:00.25+01:00 or 2026-12-05 04:00:00+00)");
  };
  // YYYY-MM-DD?HH:MM:SS
  if (text.size() < 19) throw bad("it is too short");
  std::string_view s = text;
  auto digits_at = [&](std::size_t pos, std::size_t n) { return all_digits(s.substr(pos, n)); };
  if (!digits_at(0, 4) || s[4] != '-' || !digits_at(5, 2) || s[7] != '-' || !digits_at(8, 2))
    throw bad("the date must be YYYY-MM-DD");
  if (s[10] != 'T' && s[10] != ' ')
    throw bad("the date and the time must be separated by 'T' or a space");
  if (!digits_at(11, 2) || s[13] != ':' || !digits_at(14, 2) || s[16] != ':' || !digits_at(17, 2))
    throw bad("the time must be HH:MM:SS");
  const std::int64_t year = number(s.substr(0, 4));
  const unsigned month = number(s.substr(5, 2)), day = number(s.substr(8, 2));
  const unsigned hour = number(s.substr(11, 2)), minute = number(s.substr(14, 2)),
                 second = number(s.substr(17, 2));
  if (year < 1) throw bad("year 0000 does not exist");
  if (month < 1 || month > 12) throw bad("month " + std::to_string(month) + " does not exist");
  if (day < 1 || day > days_in_month(year, month))
    throw bad("day " + std::to_string(day) + " does not exist in that month");
  if (hour > 23 || minute > 59 || second > 59)
    throw bad("the time of day must be 00:00:00 to 23:59:59");

  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t n = 0;
    while (pos + 1 + n < s.size() && std::isdigit(static_cast<unsigned char>(s[pos + 1 + n]))) ++n;
    if (n == 0 || n > 6) throw bad("fractional seconds must have 1 to 6 digits");
    micros = number(s.substr(pos + 1, n));
    for (std::size_t i = n; i < 6; ++i) micros *= 10;
    pos += 1 + n;
  }
  std::string_view zone = s.substr(pos);
  std::int64_t offset_seconds = 0;
  if (zone == "Z") {
    offset_seconds = 0;
  } else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
    std::string_view z = zone.substr(1);
    unsigned zh = 0, zm = 0;
    if (z.size() == 2 && all_digits(z)) {
      zh = number(z);
    } else if (z.size() == 4 && all_digits(z)) {
      zh = number(z.substr(0, 2));
      zm = number(z.substr(2, 2));
    } else if (z.size() == 5 && z[2] == ':' && all_digits(z.substr(0, 2)) &&
               all_digits(z.substr(3, 2))) {
      zh = number(z.substr(0, 2));
      zm = number(z.substr(3, 2));
    } else {
      throw bad("the time zone must be Z, +HH, +HH:MM or +HHMM");
    }
    if (zh > 15 || zm > 59) throw bad("the time zone offset must be at most 15:59");
    offset_seconds = (zone[0] == '+' ? 1 : -1) * static_cast<std::int64_t>(zh * 3600 + zm * 60);
  } else if (zone.empty()) {
    throw bad("it has no time zone (add Z for UTC or an offset such as +01:00)");
  } else {
    throw bad("the time zone must be Z, +HH, +HH:MM or +HHMM");
  }
  const std::int64_t local_seconds = days_from_civil(year, month, day) * 86400 +
                                     static_cast<std::int64_t>(hour * 3600 + minute * 60 + second);
  return (local_seconds - offset_seconds) * kMicrosPerSecond + micros;
}

std::string format_recovery_target_time(std::int64_t time_us) {
  std::int64_t seconds = time_us / kMicrosPerSecond;
  std::int64_t micros = time_us % kMicrosPerSecond;
  if (micros < 0) {
    micros += kMicrosPerSecond;
    --seconds;
  }
  std::int64_t days = seconds / 86400, rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld", static_cast<long long>(y),
                m, d, static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  std::string out = buf;
  if (micros != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(micros));
    std::string frac = buf;
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  return out + "+00";
}

std::string_view recovery_target_action_name(RecoveryTargetAction action) {
  switch (action) {
    case RecoveryTargetAction::pause:
      return "pause";
    case RecoveryTargetAction::shutdown:
      return "shutdown";
    case RecoveryTargetAction::promote:
      break;
  }
  return "promote";
}

std::string recovery_timeline_text(const RecoveryTimeline& timeline) {
  switch (timeline.kind) {
    case RecoveryTimeline::Kind::current:
      return "current";
    case RecoveryTimeline::Kind::id:
      return std::to_string(timeline.id);
    case RecoveryTimeline::Kind::latest:
      break;
  }
  return "latest";
}

std::string RecoveryTarget::value() const {
  switch (type) {
    case RecoveryTargetType::time:
      return format_recovery_target_time(time_us);
    case RecoveryTargetType::lsn:
      return format_lsn(lsn);
    case RecoveryTargetType::xid:
      return std::to_string(xid);
    case RecoveryTargetType::name:
      return name;
    case RecoveryTargetType::immediate:
    case RecoveryTargetType::latest:
      break;
  }
  return "";
}

std::string RecoveryTarget::describe() const {
  std::string out;
  switch (type) {
    case RecoveryTargetType::immediate:
      out = "the end of the backup (immediate)";
      break;
    case RecoveryTargetType::latest:
      out = "the end of the archived WAL (latest)";
      break;
    case RecoveryTargetType::time:
      out = "time " + value();
      break;
    case RecoveryTargetType::lsn:
      out = "LSN " + value();
      break;
    case RecoveryTargetType::xid:
      out = "transaction " + value();
      break;
    case RecoveryTargetType::name:
      out = "restore point \"" + quote_untrusted(name) + "\"";
      break;
  }
  if (exclusive) out += " (exclusive)";
  return out;
}

std::optional<RecoveryTarget> parse_recovery_target(const RecoveryTargetOptions& o) {
  std::vector<std::string> given;
  if (o.target) given.push_back("--target");
  if (o.time) given.push_back("--target-time");
  if (o.lsn) given.push_back("--target-lsn");
  if (o.xid) given.push_back("--target-xid");
  if (o.name) given.push_back("--target-name");
  if (given.empty()) {
    std::string orphan = o.action      ? "--target-action"
                         : o.timeline  ? "--target-timeline"
                         : o.exclusive ? "--target-exclusive"
                                       : "";
    if (!orphan.empty())
      bad_option(orphan +
                 " needs a recovery target: give one of --target-time, --target-lsn, "
                 "--target-xid, --target-name or --target immediate|latest");
    return std::nullopt;
  }
  if (given.size() > 1)
    bad_option("give only one recovery target, not both " + given[0] + " and " + given[1]);

  RecoveryTarget t;
  if (o.target) {
    if (*o.target == "immediate")
      t.type = RecoveryTargetType::immediate;
    else if (*o.target == "latest")
      t.type = RecoveryTargetType::latest;
    else
      bad_option("invalid --target \"" + quote_untrusted(*o.target) +
                 "\" (allowed: immediate, latest; for a time, LSN, transaction or restore point "
                 "use --target-time, --target-lsn, --target-xid or --target-name)");
  } else if (o.time) {
    t.type = RecoveryTargetType::time;
    t.time_us = parse_recovery_target_time(*o.time);
  } else if (o.lsn) {
    t.type = RecoveryTargetType::lsn;
    try {
      t.lsn = parse_lsn(*o.lsn);
    } catch (const Error& e) {
      bad_option(std::string("--target-lsn: ") + e.what());
    }
    if (t.lsn.value == 0)
      bad_option("--target-lsn 0/0 is not a WAL position (it means \"invalid\")");
  } else if (o.xid) {
    t.type = RecoveryTargetType::xid;
    const std::string& x = *o.xid;
    auto bad_xid = [&]() {
      bad_option("invalid --target-xid \"" + quote_untrusted(x) +
                 "\" (allowed: a decimal transaction ID from 3 to 18446744073709551615 whose low "
                 "32 bits are not 0..2, as "
                 "pg_current_xact_id() or txid_current() prints it)");
    };
    if (!all_digits(x) || x.size() > 20) bad_xid();
    std::uint64_t v = 0;
    for (char c : x) {
      const auto digit = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - digit) / 10) bad_xid();
      v = v * 10 + digit;
    }
    // PostgreSQL 15 keeps the low 32 bits (the epoch is dropped): those must be a normal xid.
    if ((v & 0xFFFFFFFFu) < 3) bad_xid();
    t.xid = v;
  } else {
    t.type = RecoveryTargetType::name;
    const std::string& n = *o.name;
    if (n.empty() || n.size() > kMaxRestorePointName)
      bad_option("invalid --target-name \"" + quote_untrusted(n) +
                 "\": a restore point name is 1 to " + std::to_string(kMaxRestorePointName) +
                 " bytes, this one is " + std::to_string(n.size()));
    for (char c : n)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        bad_option("invalid --target-name \"" + quote_untrusted(n) +
                   "\": control characters cannot be part of a restore point name here");
    t.name = n;
  }

  if (o.action) {
    if (*o.action == "promote")
      t.action = RecoveryTargetAction::promote;
    else if (*o.action == "pause")
      t.action = RecoveryTargetAction::pause;
    else if (*o.action == "shutdown")
      t.action = RecoveryTargetAction::shutdown;
    else
      bad_option("invalid --target-action \"" + quote_untrusted(*o.action) +
                 "\" (allowed: promote, pause, shutdown)");
    if (t.type == RecoveryTargetType::latest && t.action != RecoveryTargetAction::promote)
      bad_option("--target-action " + *o.action +
                 " cannot be used with --target latest: recovery runs to the end of the archived "
                 "WAL and PostgreSQL then promotes; give a target to pause or shut down at");
  }
  if (o.timeline) {
    const std::string& tl = *o.timeline;
    if (tl == "current") {
      t.timeline.kind = RecoveryTimeline::Kind::current;
    } else if (tl == "latest") {
      t.timeline.kind = RecoveryTimeline::Kind::latest;
    } else {
      std::uint64_t id = 0;
      bool ok = all_digits(tl) && tl.size() <= 10;
      if (ok) {
        for (char c : tl) id = id * 10 + static_cast<std::uint64_t>(c - '0');
        ok = id >= 1 && id <= UINT32_MAX;
      }
      if (!ok)
        bad_option("invalid --target-timeline \"" + quote_untrusted(tl) +
                   "\" (allowed: current, latest or a timeline ID from 1 to 4294967295)");
      t.timeline = {RecoveryTimeline::Kind::id, static_cast<TimelineId>(id)};
    }
  }
  if (o.exclusive) {
    if (t.type != RecoveryTargetType::time && t.type != RecoveryTargetType::lsn &&
        t.type != RecoveryTargetType::xid)
      bad_option(
          "--target-exclusive applies to --target-time, --target-lsn and --target-xid only "
          "(a restore point, immediate or latest has nothing to exclude)");
    t.exclusive = true;
  }
  return t;
}

std::string quote_conf_value(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\n' || c == '\r' || c == '\0')
      throw Error(ErrorKind::invalid_argument,
                  "a postgresql.conf value cannot contain a newline, carriage return or NUL: \"" +
                      quote_untrusted(value) + "\"");
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  return out + "'";
}

namespace {

bool is_name_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '.' || u >= 0x80;
}

// The parameter name a configuration line starts with, lower-cased ("" for
// blank and comment lines).
std::string setting_name(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::string name;
  while (i < line.size() && is_name_char(line[i]))
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(line[i++]))));
  return name;
}

std::string_view trim_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

std::string configuration_line_setting(std::string_view line) {
  return setting_name(line);
}

bool is_recovery_setting_line(std::string_view line) {
  const std::string name = setting_name(line);
  return name.starts_with("recovery_target") || name == "restore_command" ||
         name == "recovery_end_command";
}

AutoConfEdit render_recovery_auto_conf(std::string_view existing, const RecoveryTarget& target,
                                       std::string_view restore_command,
                                       std::string_view recovery_end_command) {
  if (restore_command.empty())
    throw Error(ErrorKind::invalid_argument, "the restore_command for recovery is empty");
  AutoConfEdit edit;
  while (!existing.empty()) {
    auto nl = existing.find('\n');
    std::string_view line = existing.substr(0, nl);
    existing = nl == std::string_view::npos ? std::string_view() : existing.substr(nl + 1);
    std::string_view content = trim_cr(line);
    if (content.starts_with(kRecoveryHeaderPrefix)) continue;
    if (is_recovery_setting_line(content)) {
      edit.removed.emplace_back(content);
      continue;
    }
    const std::string name = setting_name(content);
    if (name == "include" || name == "include_if_exists" || name == "include_dir")
      edit.warnings.push_back("postgresql.auto.conf has \"" + std::string(content) +
                              "\": recovery settings in included files are not removed");
    edit.text.append(line).push_back('\n');
  }

  std::string& out = edit.text;
  out.append(kRecoveryHeaderPrefix)
      .append(" recovery to ")
      .append(target.describe())
      .append("; these lines replace any earlier restore_command and recovery_target* settings\n");
  out += "restore_command = " + quote_conf_value(restore_command) + "\n";
  if (!recovery_end_command.empty())
    out += "recovery_end_command = " + quote_conf_value(recovery_end_command) + "\n";
  switch (target.type) {
    case RecoveryTargetType::immediate:
      out += "recovery_target = 'immediate'\n";
      break;
    case RecoveryTargetType::time:
      out += "recovery_target_time = " + quote_conf_value(target.value()) + "\n";
      break;
    case RecoveryTargetType::lsn:
      out += "recovery_target_lsn = " + quote_conf_value(target.value()) + "\n";
      break;
    case RecoveryTargetType::xid:
      out += "recovery_target_xid = " + quote_conf_value(target.value()) + "\n";
      break;
    case RecoveryTargetType::name:
      out += "recovery_target_name = " + quote_conf_value(target.value()) + "\n";
      break;
    case RecoveryTargetType::latest:
      break;
  }
  if (target.type == RecoveryTargetType::time || target.type == RecoveryTargetType::lsn ||
      target.type == RecoveryTargetType::xid)
    out += std::string("recovery_target_inclusive = ") + (target.exclusive ? "'false'" : "'true'") +
           "\n";
  if (target.type != RecoveryTargetType::latest)
    out +=
        "recovery_target_action = " + quote_conf_value(recovery_target_action_name(target.action)) +
        "\n";
  out += "recovery_target_timeline = " + quote_conf_value(recovery_timeline_text(target.timeline)) +
         "\n";
  return edit;
}

}  // namespace pgvault
