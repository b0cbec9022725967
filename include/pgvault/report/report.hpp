// The audit report (`pgvault report`): did every backup run, and does it
// restore? Built from the repository alone (the source of truth, so it works
// when the database is gone) for one period, rendered as one self-contained
// HTML page (report/report_html.hpp) or as the table of runs in CSV or JSON.
//
// Contract:
//  - The headline figures (newest backup and its age, verification outcome,
//    bytes stored, archived WAL) are read from repository_metrics()
//    (catalog/metrics.hpp), the definitions `pgvault metrics` and
//    vault.metrics share: one definition of each figure.
//  - Runs: every complete backup whose start falls in the period, every
//    backup directory without backup.json (a failed, cancelled or still
//    running backup: "incomplete") and every damaged backup.json; each with
//    its verification record. Restores: the restore records of the period
//    (catalog/restore_record.hpp).
//  - Days are UTC days. A day "should have had a backup" of a kind only when
//    a schedule of that kind is given (the repository does not record the
//    schedule a backup ran under); without one, a day with nothing is
//    "nothing", never "missed".
//  - Nothing read from the repository is trusted: the renderers escape every
//    text they print (HTML, CSV).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/metrics.hpp"
#include "pgvault/catalog/restore_record.hpp"
#include "pgvault/cron/schedule.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// [since, until) in Unix seconds, UTC.
struct ReportPeriod {
  std::int64_t since = 0;
  std::int64_t until = 0;
};

// "90d", "12h", "2w" -> seconds; throws Error(invalid_argument) saying what
// is allowed.
std::int64_t parse_report_duration(std::string_view text);
// "2026-12-01" (00:00 UTC) or "2026-12-01T06:00:00Z" -> Unix seconds; throws
// Error(invalid_argument).
std::int64_t parse_report_time(std::string_view text);

// The period of `pgvault report --since SINCE --until UNTIL`. SINCE is a
// duration back from the end ("90d") or a UTC time. An empty UNTIL means
// now, and includes the current second: a restore recorded a moment ago is
// in a report made in the same second. Throws Error(invalid_argument) saying
// which option is wrong and what is allowed.
ReportPeriod report_period(std::string_view since, std::string_view until, double now_unix);

// "2026-12-01T02:00:00Z".
std::string iso_utc(std::int64_t unix_seconds);
// "2026-12-01 02:00 UTC": how the report shows a time.
std::string human_utc(std::int64_t unix_seconds);
// 00:00 UTC of the day of unix_seconds.
std::int64_t utc_day_start(std::int64_t unix_seconds);

// One run of a backup, as the table shows it.
struct ReportRun {
  std::string system_identifier;
  std::string name;
  std::string kind;  // physical, incremental, logical; "" when unknown (damaged)
  std::string trigger;
  std::string initiated_by;
  // From the repository: "completed"; "incomplete" (objects but no
  // backup.json: failed, cancelled or running); "damaged" (a backup.json
  // that cannot be used). From vault.history (--dbname) for runs the
  // repository does not hold: its status ("failed", "cancelled", "skipped",
  // "running"; "expired" and "deleted": completed, since removed; or
  // "completed" when the backup is missing from the repository).
  std::string status;
  std::string started_at;  // ISO 8601 UTC; for an incomplete run, from its name
  std::int64_t started_unix = 0;
  std::string completed_at;  // "" unless completed
  std::optional<double> duration_seconds;
  std::uint64_t source_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::string compression;   // "zstd level 3 (server)", "none"
  std::string encryption;    // "aes-256-gcm", "none"
  std::string checksum;      // BackupMeta::digest(), completed only
  std::string verification;  // "passed", "failed", "" (never verified)
  std::string verified_at;
  std::string verified_by;
  bool restore_tested = false;  // the verification restored and started it
  std::string error;            // why it failed, or what is wrong with it
  std::string source = "repository";

  // Completed, whether or not the backup is still there.
  bool completed_run() const {
    return status == "completed" || status == "expired" || status == "deleted";
  }
  // Did not complete (a run still running is neither).
  bool failed() const { return !completed_run() && status != "running"; }
};

// What a day of one kind shows on the calendar.
enum class DayStatus {
  completed,      // at least one backup of the kind completed that day
  failures_only,  // runs, none completed
  missed,         // nothing, and a schedule fired that day
  nothing,        // nothing, and no schedule says there should have been a backup
};
std::string_view day_status_name(DayStatus status);  // "completed", "failures only", ...

struct CalendarDay {
  std::int64_t day_start = 0;  // 00:00 UTC
  std::string date;            // "2026-12-01"
  DayStatus status = DayStatus::nothing;
  int completed = 0;
  int failed = 0;
};

struct CalendarRow {
  std::string kind;
  std::string schedule;           // the schedule text, or "" when none was given
  std::vector<CalendarDay> days;  // every day of the period, oldest first
};

// The days of [period.since, period.until) for the runs of one kind (a run
// counts on the UTC day it started). schedule: when given, a day without runs
// on which it fires before period.until is missed; full_schedule (for
// incremental backups: the full backups' schedule) takes the times both fire
// at, so those do not count for this kind.
CalendarRow classify_days(const std::vector<ReportRun>& runs, const std::string& kind,
                          const ReportPeriod& period, const Schedule* schedule,
                          const Schedule* full_schedule = nullptr);

enum class Colour { green, amber, red };
std::string_view colour_name(Colour c);  // "green", "amber", "red"

struct HeadlineItem {
  std::string label;  // "Newest restorable backup"
  std::string value;  // "20261201T020000Z-physical, completed 2026-12-01 02:03 UTC (5 h ago)"
  Colour colour = Colour::green;
  std::string reason;  // why amber or red; "" when green
};

struct Headline {
  Colour colour = Colour::green;  // the worst of the items'
  std::vector<HeadlineItem> items;
};

// The schedules the report was told of, by kind ("physical", "incremental",
// "logical"); their text is the settings' syntax (cron/schedule.hpp), read in UTC.
using ReportSchedules = std::map<std::string, Schedule>;

struct ReportSystem {
  std::string system_identifier;
  Headline headline;
  std::vector<CalendarRow> calendar;                    // one row per kind with runs or a schedule
  std::vector<ReportRun> runs;                          // of the period, oldest first
  std::vector<RestoreRecord> restores;                  // of the period, oldest first
  std::vector<std::string> unreadable_restore_records;  // "<key>: <error>"
};

struct Report {
  std::string repository;  // the store's URL (no secrets)
  std::string history;     // DatabaseHistory::description; "" without --dbname
  ReportPeriod period;
  std::int64_t generated_unix = 0;
  std::string pgvault_version;
  ReportSchedules schedules;
  // Where each schedule came from, by kind: "--schedule", "pgvault.schedule of the database".
  std::map<std::string, std::string> schedule_sources;
  std::vector<ReportSystem> systems;  // by system identifier
};

// What one database's vault.history says of the period (--dbname): its
// runs (source "vault.history"), of the system it runs.
struct DatabaseHistory {
  std::string system_identifier;
  std::string description;  // where it came from, for the report: "vault.history of ..."
  std::vector<ReportRun> runs;
};

// The report of state over period at now_unix. restores: every restore record
// of the systems (read_restore_records). history: when given, its runs are
// merged by name: a run the repository holds keeps the repository's figures
// (source "repository, vault.history"; an incomplete one takes the
// database's status and error); the others are added.
Report build_report(const RepositoryState& state, const RestoreListing& restores,
                    const ReportPeriod& period, const ReportSchedules& schedules, double now_unix,
                    const DatabaseHistory* history = nullptr);

// The headline of one system: the rules (each reason is the item's).
//  - Newest restorable backup (metrics: last completion of physical or
//    incremental): red when none; with a schedule of physical or incremental
//    backups, amber when one fire time of them passed (plus an hour's grace)
//    since it completed, red when two did; without one, amber after 26 h, red
//    after 50 h (a daily backup missed once, twice).
//  - Verification: red when the newest verification of any kind failed or a
//    backup's last verification failed; amber when no backup was ever
//    verified or the newest verification is older than 8 days.
//  - Recoverable window (archived WAL): amber when segments are missing;
//    absent when nothing is archived.
//  - Runs of the period: amber when any run is incomplete or damaged, or a
//    scheduled day was missed.
//  - Retention and bytes stored: informational (green).
Headline build_headline(const std::string& system_identifier, const RepositoryState& state,
                        const std::vector<MetricFamily>& metrics,
                        const std::vector<ReportRun>& period_runs,
                        const std::vector<CalendarRow>& calendar, const ReportSchedules& schedules,
                        double now_unix);

// The runs of every system in the period, oldest first (the CSV's rows).
std::vector<const ReportRun*> report_runs(const Report& report);

// RFC 4180: a header line, then one line per run, CRLF line ends, a field
// quoted when it holds a comma, a quote, CR or LF (quotes doubled). Values
// are written as they are (an audit copy must match the repository byte for
// byte): open the file in a spreadsheet as text, not with formulas enabled.
std::string render_report_csv(const Report& report);
std::string csv_field(std::string_view value);
// {"repository":...,"period":{...},"runs":[...],"restores":[...]}
std::string render_report_json(const Report& report);

// The text as HTML/XML character data or attribute value: & < > " ' as
// entities, bytes that are not UTF-8 and control characters (but tab and
// newline) as U+FFFD.
std::string html_escape(std::string_view text);

// The report as one self-contained page (inline CSS and SVG, no script, no
// external reference, well-formed XML): per system the headline, the
// calendar, the size and duration charts, every run and every restore; then
// how it was made, with the SHA-256 of render_report_csv(report).
std::string render_report_html(const Report& report);

}  // namespace pgvault
