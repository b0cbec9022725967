// pgvault report --dbname: what the database's vault.history says of a
// period (failed, cancelled and skipped runs exist only there) and the
// schedules it runs, read over libpq with search_path pinned to pg_catalog,
// pg_temp and every name schema-qualified.
#pragma once

#include "pgvault/report/report.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace pgvault::cli {

struct ServerSchedules {
  std::string timezone;  // pgvault.timezone
  // By kind ("physical", "incremental", "logical"): the settings that are on.
  std::map<std::string, std::string> schedules;
};

// Connects to conninfo (a connection string or URI, as psql's -d), reads the
// runs started in [since, until) and the schedule settings. Throws
// Error(io) with libpq's message when it cannot connect or query.
DatabaseHistory read_database_history(const std::string& conninfo, std::int64_t since,
                                      std::int64_t until, ServerSchedules& schedules);

}  // namespace pgvault::cli
