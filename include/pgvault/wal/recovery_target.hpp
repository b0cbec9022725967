// A point-in-time recovery target as a DBA gives it to `pgvault restore`, and
// the recovery settings pgvault writes into postgresql.auto.conf.
//
// Contract:
//  - parse_recovery_target turns the restore options into a validated target
//    or nullopt when no target was asked for. Exactly one of --target-time,
//    --target-lsn, --target-xid, --target-name, --target immediate|latest.
//      time   strict ISO 8601 with an explicit zone: YYYY-MM-DD, 'T' or ' ',
//             HH:MM:SS, optional .f to .ffffff, then Z, +HH, +HH:MM or +HHMM
//             (PostgreSQL would read a zoneless time in the restored server's
//             TimeZone, which pgvault cannot know); written in UTC.
//      lsn    pg_lsn text (X/Y).
//      xid    a decimal transaction ID, up to 64 bits as pg_current_xact_id()
//             prints it; PostgreSQL 15 uses the low 32 bits, which must not be
//             0..2 (reserved IDs).
//      name   a restore point name: 1..63 bytes (MAXFNAMELEN - 1), no control
//             characters.
//    --target-action promote|pause|shutdown (default promote, so a restore ends
//    with a usable server; PostgreSQL's own default is pause; not with latest),
//    --target-timeline current|latest|N (default latest, as in PostgreSQL 15),
//    --target-exclusive (time, lsn and xid only). Every mistake is
//    Error(invalid_argument) saying what is wrong and what is allowed.
//  - render_recovery_auto_conf is text in, text out: it keeps every line of
//    the existing postgresql.auto.conf except those that set restore_command,
//    recovery_end_command or any recovery_target* parameter (PostgreSQL would
//    combine stale targets with the new one and refuse to start with two), and
//    pgvault's own earlier header, then appends pgvault's block (with
//    recovery_end_command when one is given). Values are single-quoted with
//    ' and \ doubled, as ALTER SYSTEM writes them.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

enum class RecoveryTargetType { immediate, latest, time, lsn, xid, name };
enum class RecoveryTargetAction { promote, pause, shutdown };

struct RecoveryTimeline {
  enum class Kind { current, latest, id };
  Kind kind = Kind::latest;
  TimelineId id = 0;  // Kind::id only
  bool operator==(const RecoveryTimeline&) const = default;
};

struct RecoveryTarget {
  RecoveryTargetType type = RecoveryTargetType::latest;
  std::int64_t time_us = 0;  // time: microseconds since 1970-01-01 00:00:00 UTC
  Lsn lsn;                   // lsn
  std::uint64_t xid = 0;     // xid
  std::string name;          // name
  RecoveryTargetAction action = RecoveryTargetAction::promote;
  RecoveryTimeline timeline;
  bool exclusive = false;

  // The value PostgreSQL gets for the target ("" for immediate and latest).
  std::string value() const;
  // For messages: "time 2026-12-05 04:00:00+00", "LSN 0/3000000 (exclusive)",
  // "the end of the archived WAL", ...
  std::string describe() const;
};

// The options as given (unset = not on the command line).
struct RecoveryTargetOptions {
  std::optional<std::string> target{};  // immediate | latest
  std::optional<std::string> time{}, lsn{}, xid{}, name{};
  std::optional<std::string> action{}, timeline{};
  bool exclusive = false;
};

std::optional<RecoveryTarget> parse_recovery_target(const RecoveryTargetOptions& options);

// The time forms described above, to microseconds since the epoch (UTC).
std::int64_t parse_recovery_target_time(std::string_view text);
// "2026-12-05 04:00:00+00", with ".ffffff" (trailing zeros dropped) when needed.
std::string format_recovery_target_time(std::int64_t time_us);

std::string_view recovery_target_action_name(RecoveryTargetAction action);
// "current", "latest" or the decimal ID.
std::string recovery_timeline_text(const RecoveryTimeline& timeline);

// A postgresql.conf string value: 'text' with ' and \ doubled. Throws
// Error(invalid_argument) for a newline, carriage return or NUL, which a
// configuration file line cannot hold.
std::string quote_conf_value(std::string_view value);

// The parameter a configuration file line sets, lower-cased ("archive_mode",
// "pgvault.schedule"); "" for blank and comment lines.
std::string configuration_line_setting(std::string_view line);

// Whether a configuration file line sets restore_command, recovery_end_command
// or a recovery_target* parameter (names are case-insensitive).
bool is_recovery_setting_line(std::string_view line);

struct AutoConfEdit {
  std::string text;                   // the new postgresql.auto.conf
  std::vector<std::string> removed;   // the setting lines dropped, as they were
  std::vector<std::string> warnings;  // e.g. include directives whose files may set targets
};

inline constexpr std::string_view kRecoveryHeaderPrefix = "# pgvault restore:";

AutoConfEdit render_recovery_auto_conf(std::string_view existing, const RecoveryTarget& target,
                                       std::string_view restore_command,
                                       std::string_view recovery_end_command = {});

}  // namespace pgvault
