#include "report_command.hpp"

#include "usage.hpp"

#include "common_options.hpp"
#include "database_history.hpp"
#include "output_file.hpp"
#include "text_output.hpp"

#include "pgvault/catalog/metrics.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/restore_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/report/report.hpp"
#include "pgvault/text.hpp"

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#ifndef PGVAULT_VERSION
#define PGVAULT_VERSION "0.1.0"
#endif

namespace pgvault::cli {

namespace {

void add_schedule(Report& report, const char* kind, const std::string& from,
                  const std::string& text) {
  if (text.empty() || report.schedules.count(kind) > 0) return;
  try {
    report.schedules.emplace(kind, Schedule::parse(text));
    report.schedule_sources[kind] = from;
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid_argument, from + ": " + e.what());
  }
}

bool is_utc_zone(const std::string& zone) {
  for (const char* utc : {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Zulu", "UCT", "Universal"})
    if (ascii_iequals(zone, utc)) return true;
  return false;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* report = app.add_subcommand(
      "report", "Write an audit report of a period: every backup, failure and restore");
  report->footer(
      "One self-contained HTML page: a headline (newest restorable backup, verification, "
      "recoverable window; green, amber or red with the reasons), a calendar of the days with "
      "a backup, only failures or nothing, size and duration charts, every run and restore; or "
      "the runs as CSV or JSON.\n" +
      help_example({"pgvault report --config /etc/postgresql/15/main/postgresql.conf "
                    "--schedule '0 1 * * *' -o backups-q4.html",
                    "pgvault report --repo s3://backups/prod --since 2026-10-01 --format csv "
                    "-o runs.csv --dbname 'host=db1 dbname=postgres'"}));
  o->repo.add_to(report);
  add_system_id_filter(report, o->system_id);
  report
      ->add_option("--since", o->since,
                   "Start of the period: a duration back from --until (90d, 12h, 2w) or a UTC "
                   "time (2026-09-01 or 2026-09-01T00:00:00Z)")
      ->default_str("90d");
  report->add_option("--until", o->until,
                     "End of the period (excluded): a UTC time (2026-12-01 or "
                     "2026-12-01T00:00:00Z); default now, including the current second");
  report->add_option("--format", o->format, "html (default), csv or json: the table of runs")
      ->check(CLI::IsMember({"html", "csv", "json"}));
  report->add_option("--output,-o", o->output,
                     "Write to this file instead of standard output, atomically (NAME.partial, "
                     "then renamed; mode 0644)");
  report->add_option("--schedule", o->schedule,
                     "When full physical backups should have run, as pgvault.schedule (read in "
                     "UTC): days on which it fired and nothing ran are marked missed");
  report->add_option("--incremental-schedule", o->incremental_schedule,
                     "The same for incremental backups, as pgvault.incremental_schedule");
  report->add_option("--logical-schedule", o->logical_schedule,
                     "The same for logical backups, as pgvault.logical_schedule");
  report->add_option("--dbname,-d", o->dbname,
                     "Also read vault.history from this database (a connection string or URI, "
                     "as psql -d): runs that failed, were cancelled or skipped before writing to "
                     "the repository, and the pgvault.*schedule settings when --schedule & co. "
                     "are not given (if pgvault.timezone is UTC)");
  return {report, [o] { return run_report(*o); }};
}

int run_report(const ReportOptions& o) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const ReportPeriod period = report_period(o.since, o.until, now);
  // The command line's schedules first (checked before anything is read), then the database's.
  Report given;
  add_schedule(given, "physical", "--schedule", o.schedule);
  add_schedule(given, "incremental", "--incremental-schedule", o.incremental_schedule);
  add_schedule(given, "logical", "--logical-schedule", o.logical_schedule);
  std::optional<DatabaseHistory> history;
  if (!o.dbname.empty()) {
    ServerSchedules server;
    history = read_database_history(o.dbname, period.since, period.until, server);
    if (!o.system_id.empty() && history->system_identifier != o.system_id)
      throw Error(ErrorKind::invalid_argument, "--dbname: the database runs system " +
                                                   history->system_identifier +
                                                   ", not --system-id " + o.system_id);
    for (const auto& [kind, text] : server.schedules) {
      const std::string setting =
          kind == "physical" ? "pgvault.schedule" : "pgvault." + kind + "_schedule";
      if (given.schedules.count(kind) > 0) continue;
      if (!is_utc_zone(server.timezone)) {
        warn(setting + " = '" + text + "' is read in pgvault.timezone " +
             pgvault::quoted(quote_untrusted(server.timezone)) +
             "; the report reads schedules in UTC: give it as an option in UTC to mark missed "
             "days");
        continue;
      }
      add_schedule(given, kind.c_str(), setting + " of the database", text);
    }
  }

  auto storage = o.repo.open();
  Repository repo(*storage);
  const RepositoryState state =
      read_repository_state(repo, o.system_id, restore_key_provider(o.repo.encryption()));
  const RestoreListing restores = read_restore_records(repo, o.system_id);
  Report report =
      build_report(state, restores, period, given.schedules, now, history ? &*history : nullptr);
  report.schedule_sources = given.schedule_sources;
  report.repository = storage->url();
  report.pgvault_version = PGVAULT_VERSION;

  const std::string text = o.format == "csv"    ? render_report_csv(report)
                           : o.format == "json" ? render_report_json(report)
                                                : render_report_html(report);
  write_text_output(o.output, text);
  return 0;
}

}  // namespace pgvault::cli
