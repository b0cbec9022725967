#include "database_history.hpp"

#include "pgvault/error.hpp"

#include <libpq-fe.h>

#include <cmath>
#include <memory>
#include <vector>

namespace pgvault::cli {

namespace {

struct ConnectionCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Connection = std::unique_ptr<PGconn, ConnectionCloser>;
using Result = std::unique_ptr<PGresult, ResultClearer>;

Result query(PGconn* conn, const char* sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  Result r(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                        nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    throw Error(ErrorKind::io, std::string("--dbname: ") + PQerrorMessage(conn));
  return r;
}

std::string value(PGresult* r, int row, int column) {
  return PQgetisnull(r, row, column) ? std::string() : PQgetvalue(r, row, column);
}

// The run's UTC times as backup.json writes them.
constexpr const char* kHistorySql = R"(
SELECT h.name, h.kind, h.trigger, h.status,
       pg_catalog.floor(EXTRACT(epoch FROM h.started_at))::pg_catalog.int8,
       pg_catalog.to_char(h.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       pg_catalog.to_char(h.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       EXTRACT(epoch FROM h.completed_at - h.started_at)::pg_catalog.float8,
       h.source_bytes, h.stored_bytes, h.compression, h.encrypted, h.sha256, h.initiated_by,
       h.error_message, h.verify_status,
       pg_catalog.to_char(h.verified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       h.verify_error
  FROM vault.history h
 WHERE h.started_at >= pg_catalog.to_timestamp($1::pg_catalog.float8)
   AND h.started_at < pg_catalog.to_timestamp($2::pg_catalog.float8)
 ORDER BY h.started_at, h.name)";

constexpr const char* kSettingsSql = R"(
SELECT (SELECT s.system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system() s),
       pg_catalog.current_setting('pgvault.schedule', true),
       pg_catalog.current_setting('pgvault.incremental_schedule', true),
       pg_catalog.current_setting('pgvault.logical_schedule', true),
       pg_catalog.current_setting('pgvault.timezone', true),
       pg_catalog.current_database())";

}  // namespace

DatabaseHistory read_database_history(const std::string& conninfo, std::int64_t since,
                                      std::int64_t until, ServerSchedules& schedules) {
  // Later keywords override the connection string's: search_path is pinned whatever it says.
  const char* keywords[] = {"dbname", "options", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "-csearch_path=pg_catalog,pg_temp", "pgvault report",
                          nullptr};
  Connection conn(PQconnectdbParams(keywords, values, 1));
  if (!conn) throw Error(ErrorKind::io, "--dbname: out of memory connecting");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw Error(ErrorKind::io,
                std::string("--dbname: cannot connect: ") + PQerrorMessage(conn.get()));

  DatabaseHistory history;
  Result settings = query(conn.get(), kSettingsSql, {});
  history.system_identifier = value(settings.get(), 0, 0);
  const char* kinds[] = {"physical", "incremental", "logical"};
  for (int i = 0; i < 3; ++i)
    if (std::string s = value(settings.get(), 0, 1 + i); !s.empty())
      schedules.schedules[kinds[i]] = s;
  schedules.timezone = value(settings.get(), 0, 4);
  const char* host = PQhost(conn.get());
  history.description =
      "vault.history of database \"" + value(settings.get(), 0, 5) + "\"" +
      (host != nullptr && host[0] != '\0' && host[0] != '/' ? std::string(" on ") + host
                                                            : std::string()) +
      " (system " + history.system_identifier + ")";

  Result rows = query(conn.get(), kHistorySql, {std::to_string(since), std::to_string(until)});
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    PGresult* r = rows.get();
    ReportRun run;
    run.system_identifier = history.system_identifier;
    run.name = value(r, i, 0);
    run.kind = value(r, i, 1);
    run.trigger = value(r, i, 2);
    run.status = value(r, i, 3);
    run.started_unix = std::stoll(value(r, i, 4));
    run.started_at = value(r, i, 5);
    run.completed_at = value(r, i, 6);
    if (const std::string d = value(r, i, 7); !d.empty()) run.duration_seconds = std::stod(d);
    if (const std::string b = value(r, i, 8); !b.empty()) run.source_bytes = std::stoull(b);
    if (const std::string b = value(r, i, 9); !b.empty()) run.stored_bytes = std::stoull(b);
    run.compression = value(r, i, 10);
    run.encryption = value(r, i, 11) == "t" ? "encrypted" : "none";
    run.checksum = value(r, i, 12);
    run.initiated_by = value(r, i, 13);
    run.error = value(r, i, 14);
    run.verification = value(r, i, 15);
    run.verified_at = value(r, i, 16);
    if (!run.verification.empty()) run.verified_by = "vault.history";
    if (run.verification == "failed" && run.error.empty())
      run.error = "verification: " + value(r, i, 17);
    run.source = "vault.history";
    history.runs.push_back(std::move(run));
  }
  return history;
}

}  // namespace pgvault::cli
