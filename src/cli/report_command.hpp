// pgvault report: the audit report of a period, from the repository alone,
// as one self-contained HTML page or the table of runs in CSV or JSON
// (report/report.hpp builds and renders it).
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct ReportOptions {
  RepositoryOptions repo;
  std::string system_id;      // empty = every system's
  std::string since = "90d";  // a duration back from --until, or a UTC time
  std::string until;          // a UTC time; empty = now
  std::string output;         // empty or "-" = standard output
  std::string format = "html";
  std::string schedule, incremental_schedule, logical_schedule;  // empty = not given
  std::string dbname;  // a connection string: vault.history and the schedules; empty = none
};

Command add_report_command(CLI::App& app);
int run_report(const ReportOptions& options);

}  // namespace pgvault::cli
