// SQL entry points that start and wait for backups.
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"

#include <string>

#include "error_boundary.hpp"
#include "settings.hpp"
#include "fmgr_args.hpp"
#include "history.hpp"
#include "job_control.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

namespace pgvault::pg {
namespace {

void validate_kind(const std::string& kind) {
  if (!parse_backup_kind(kind)) {
    throw Error(ErrorKind::invalid_argument,
                "unknown backup kind \"" + kind + "\"; valid kinds: " + kValidKinds);
  }
}

void validate_label(const std::string& label) {
  if (label.size() > 200) {
    throw Error(ErrorKind::invalid_argument, "backup label is too long (" +
                                                 std::to_string(label.size()) +
                                                 " bytes); at most 200 bytes are allowed");
  }
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ErrorKind::invalid_argument,
                  "backup label contains a control character; use printable text");
    }
  }
}

// The database a logical backup dumps: given, or the caller's. It must exist
// and accept connections (pg_dump connects to it), and the session's user
// (not the owner the SECURITY DEFINER wrapper runs as) must be allowed to
// connect to it: pg_dump runs as superuser and would read anything.
std::string logical_database(FunctionCallInfo fcinfo) {
  std::string db = PG_ARGISNULL(3)
                       ? std::string(pg_guard([] { return get_database_name(MyDatabaseId); }))
                       : std::string(NameStr(*PG_GETARG_NAME(3)));
  const auto rows = spi_query_in_function(
      "SELECT datallowconn, pg_catalog.has_database_privilege(session_user, oid, 'CONNECT'), "
      "session_user FROM pg_catalog.pg_database WHERE datname = $1",
      {db});
  if (rows.empty()) throw Error(ErrorKind::not_found, "database \"" + db + "\" does not exist");
  if (rows[0][0].value_or("f") != "t")
    throw Error(ErrorKind::invalid_argument,
                "database \"" + db + "\" does not accept connections (datallowconn is false)");
  if (rows[0][1].value_or("f") != "t")
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to back up database \"" + db + "\": role \"" +
                      rows[0][2].value_or("") + "\" has no CONNECT privilege on it",
                  "", "A logical backup of a database needs the right to connect to it.");
  return db;
}

}  // namespace

}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

namespace {

// Starts the backup that create_backup's arguments 0-3 (kind, label, wait,
// database) and the pg_dump options (LogicalOptions JSON, or none) ask for;
// with wait, returns once it completed (a failure is an error). Its id.
long long start_backup(FunctionCallInfo fcinfo, const SqlValue& options_json) {
  if (PG_ARGISNULL(0)) {
    throw Error(ErrorKind::invalid_argument,
                std::string("backup kind must not be NULL; valid kinds: ") + kValidKinds);
  }
  if (IsolationUsesXactSnapshot()) {
    // The outcome is committed by the job worker; this transaction's
    // snapshot would never see it.
    throw Error(ErrorKind::unsupported,
                "vault.create_backup() cannot run in a REPEATABLE READ or SERIALIZABLE "
                "transaction; call it in READ COMMITTED (the default)");
  }
  const std::string kind = text_arg(fcinfo, 0);
  validate_kind(kind);
  const std::string label = PG_ARGISNULL(1) ? "" : text_arg(fcinfo, 1);
  validate_label(label);
  const bool wait = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
  const std::string initiated_by =
      pg_guard([] { return GetUserNameFromId(GetSessionUserId(), false); });

  JobRequest request;
  request.kind = kind;
  request.label = label;
  request.initiated_by = initiated_by;
  const LogicalOptions options =
      options_json ? LogicalOptions::from_json(*options_json) : LogicalOptions{};
  if (kind == "logical") {
    validate_logical_options(options);
    request.database = logical_database(fcinfo);
    request.options = options.to_json();
  } else if (!PG_ARGISNULL(3) || !(options == LogicalOptions{})) {
    throw Error(ErrorKind::invalid_argument,
                "database, schema_only, data_only, include_tables and exclude_tables apply to "
                "logical backups only; pass kind => 'logical'");
  }
  const LaunchedJob job = start_job_in_function(request);
  if (wait) {
    const std::string backup = "\"" + job.name + "\" (id " + std::to_string(job.id) + ")";
    wait_for_job_to_complete(
        job, "Backup " + backup + " continues in the background; vault.cancel_backup() stops it.",
        "backup \"" + job.name + "\" failed");
  }
  return job.id;
}

// Argument n as its type's text (NULL: nullopt); for booleans and arrays.
SqlValue arg_as_text(FunctionCallInfo fcinfo, int n, Oid output_function) {
  if (PG_ARGISNULL(n)) return std::nullopt;
  return std::string(
      pg_guard([&] { return OidOutputFunctionCall(output_function, PG_GETARG_DATUM(n)); }));
}

}  // namespace

// vault._start_backup(kind text, label text, wait boolean, database name,
//                     options text) RETURNS bigint; options: LogicalOptions JSON.
// The function 0.1 to 0.6 called create_backup through; kept for their
// install scripts, which name this symbol.
PGVAULT_FUNCTION(pgvault_start_backup) {
  PG_RETURN_INT64(
      start_backup(fcinfo, PG_ARGISNULL(4) ? SqlValue() : SqlValue(text_arg(fcinfo, 4))));
}

// vault.create_backup(kind, label, wait, database, schema_only, data_only,
// include_tables text[], exclude_tables text[]) RETURNS (id, name, kind,
// status, duration, source_size, stored_size, location): the backup, and
// what a person wants to see of it then (vault.history has the whole row).
PGVAULT_FUNCTION(pgvault_create_backup) {
  // The pg_dump options as JSON, built as 0.6's PL/pgSQL wrapper built them.
  const SqlValue options =
      spi_query_in_function(
          "SELECT pg_catalog.json_build_object('schema_only', $1::pg_catalog.bool, "
          "'data_only', $2::pg_catalog.bool, 'include_tables', $3::pg_catalog.text[], "
          "'exclude_tables', $4::pg_catalog.text[])::pg_catalog.text",
          {arg_as_text(fcinfo, 4, F_BOOLOUT), arg_as_text(fcinfo, 5, F_BOOLOUT),
           arg_as_text(fcinfo, 6, F_ARRAY_OUT), arg_as_text(fcinfo, 7, F_ARRAY_OUT)})
          .at(0)
          .at(0);
  const long long id = start_backup(fcinfo, options);
  const auto rows = spi_query_in_function(
      "SELECT id, name, kind, status, duration, pg_catalog.pg_size_pretty(source_bytes), "
      "pg_catalog.pg_size_pretty(stored_bytes), location FROM vault.history "
      "WHERE id = $1::pg_catalog.int8",
      {std::to_string(id)});
  if (rows.empty())
    throw Error(ErrorKind::internal,
                "backup id " + std::to_string(id) + " has no row in vault.history");
  return row_as_result(fcinfo, rows[0]);
}

// vault.cancel_backup() RETURNS boolean: asks the running backup to stop.
// Its row becomes 'cancelled' once the job worker has removed its objects.
PGVAULT_FUNCTION(pgvault_cancel_backup) {
  require_pgvault_database();
  lock_shared();
  JobSlot& job = shared()->job;
  const bool running = job.state == JobState::running || job.state == JobState::starting;
  if (running) job.cancel_requested = true;
  unlock_shared();
  PG_RETURN_BOOL(running);
}
