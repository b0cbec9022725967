// vault.restore_logical: restores a logical backup of this cluster with the
// server's own pg_restore into a database.
//
// The dump is streamed from the repository through the decode chain
// (decryption, decompression) into pg_restore's stdin (the core's
// run_logical_restore); nothing touches a temporary file. It is restored
// into a fresh scratch database, which takes the target's name only once
// pg_restore has succeeded: a failed restore leaves the target as it was.
// Replacing an existing database first takes a logical backup of it
// (trigger pre_restore) through the normal job path.
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/restore_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/logical/logical_restore.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"

#include <cstdint>
#include <exception>
#include <string>

#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "job_control.hpp"
#include "logging.hpp"
#include "restore_source.hpp"
#include "server_programs.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "target_database.hpp"
#include "worker_connection.hpp"

namespace pgvault::pg {
namespace {

void check_interrupts() {
  pg_guard([] { CHECK_FOR_INTERRUPTS(); });
}

// The checks that need nothing but the arguments and the session.
void check_restore_call(const std::string& name, const std::string& target) {
  if (IsolationUsesXactSnapshot()) {
    // The pre_restore backup's outcome is committed by the job worker; this
    // transaction's snapshot would never see it.
    throw Error(ErrorKind::unsupported,
                "vault.restore_logical() cannot run in a REPEATABLE READ or SERIALIZABLE "
                "transaction; call it in READ COMMITTED (the default)");
  }
  if (IsTransactionBlock()) {
    throw Error(ErrorKind::unsupported,
                "vault.restore_logical() cannot run inside a transaction block: it creates and "
                "drops databases, which cannot be rolled back");
  }
  if (name == "latest") {
    throw Error(ErrorKind::invalid_argument,
                "give the backup's name: \"latest\" could be a backup of any database (SELECT "
                "name, database FROM vault.history WHERE kind = 'logical' AND status = "
                "'completed' ORDER BY completed_at DESC)");
  }
  const std::string current_db = pg_guard([] { return get_database_name(MyDatabaseId); });
  if (target.empty())
    throw Error(ErrorKind::invalid_argument, "the target database name must not be empty");
  if (target == current_db) {
    throw Error(ErrorKind::invalid_argument,
                "cannot restore into database " + pgvault::quoted(target) +
                    ": this session is connected to it (and pgvault lives in it); restore into "
                    "another database");
  }
  if (guc_database && target == guc_database) {
    throw Error(ErrorKind::invalid_argument,
                "cannot restore into database " + pgvault::quoted(target) +
                    ": it is pgvault's own database (pgvault.database); restore into another "
                    "database");
  }
}

// Takes the pre_restore logical backup of db through the job path and
// waits for it; returns its name once its row says completed.
std::string take_pre_restore_backup(const std::string& db, const std::string& restoring) {
  JobRequest request;
  request.kind = "logical";
  request.trigger = "pre_restore";
  request.label = "before vault.restore_logical of " + restoring;
  request.initiated_by = pg_guard([] { return GetUserNameFromId(GetSessionUserId(), false); });
  request.database = db;
  request.options = LogicalOptions{}.to_json();
  const LaunchedJob job = start_job_in_function(request);
  wait_for_job_to_complete(job,
                           "Database " + pgvault::quoted(db) +
                               " was not touched. Its pre_restore backup " +
                               pgvault::quoted(job.name) + " (id " + std::to_string(job.id) +
                               ") continues in the background; vault.cancel_backup() stops it.",
                           "the pre_restore backup " + pgvault::quoted(job.name) + " of database " +
                               pgvault::quoted(db) + " failed, so the database was not replaced");
  const std::string notice = "took logical backup " + pgvault::quoted(job.name) + " of database " +
                             pgvault::quoted(db) + " (trigger pre_restore) before replacing it";
  const char* text = notice.c_str();
  pg_guard([&] { ereport(NOTICE, (errmsg("%s", text))); });
  return job.name;
}

// Rethrows the exception being handled with a prefix, and what was done
// about it as the error's detail. Call only inside a catch block.
[[noreturn]] void rethrow_annotated(const std::string& prefix, const std::string& note) {
  try {
    throw;
  } catch (const PgError& e) {
    const std::string detail = e.detail().empty() ? note : e.detail() + "\n" + note;
    throw PgError(e.sqlerrcode(), prefix + e.what(), detail, e.hint());
  } catch (const Error& e) {
    throw PgError(sqlstate_for(e.kind()), prefix + e.what(), note, "");
  } catch (const std::exception& e) {
    throw PgError(ERRCODE_INTERNAL_ERROR, prefix + e.what(), note, "");
  }
}

// Restores the dump into a scratch database, which then takes the target's
// name (the existing target, if any, dropped first); returns the bytes of
// the dump restored. Any failure is an error whose detail says what became
// of the target and of the scratch database.
std::uint64_t restore_via_scratch_database(const RestoreSource& source, const std::string& target,
                                           const DatabaseInfo& existing, const DatabaseInfo& model,
                                           const std::string& pre_restore) {
  const std::string current_db = pg_guard([] { return get_database_name(MyDatabaseId); });
  const std::string scratch =
      "pgvault_restore_" + std::to_string(MyProcPid) + "_" + std::to_string(unix_now());
  DatabaseAdmin admin(current_db);
  admin.create_like(scratch, model,
                    "could not create database " + pgvault::quoted(scratch) + " to restore into");
  const std::string failed = "restoring backup " + pgvault::quoted(source.meta.name) +
                             " into database " + pgvault::quoted(target) + " failed: ";
  const std::string unchanged = existing.exists ? "Database " + pgvault::quoted(target) +
                                                      " is unchanged (its pre_restore backup is " +
                                                      pgvault::quoted(pre_restore) + "). "
                                                : std::string();
  auto scratch_dropped = [&] {
    const std::string why = admin.try_drop(scratch);
    return unchanged + (why.empty() ? "The partly restored database " + pgvault::quoted(scratch) +
                                          " was dropped."
                                    : "The partly restored database " + pgvault::quoted(scratch) +
                                          " is left behind (" + why + "); drop it by hand.");
  };

  LogicalRestoreResult restored;
  try {
    LogicalRestoreRequest request;
    request.pg_restore = server_program("pg_restore");
    // pg_restore empties search_path itself; options pins it before that.
    const std::string conninfo = pgvault_conninfo();
    request.conninfo =
        conninfo + " options=" + conninfo_quote(options_with_safe_search_path(conninfo));
    request.database = scratch;
    request.decryptor = source.decryptor;
    restored = run_logical_restore(*source.storage, source.meta, request, check_interrupts);
  } catch (...) {
    rethrow_annotated(failed, scratch_dropped());
  }
  if (restored.input_left_unread) {
    log_message(LOG, "pg_restore finished before reading all of backup " +
                         pgvault::quoted(source.meta.name));
  }

  if (existing.exists) {
    try {
      admin.drop(target, "could not drop database " + pgvault::quoted(target) + " to replace it");
    } catch (...) {
      rethrow_annotated(failed, scratch_dropped());
    }
  }
  try {
    admin.rename(scratch, target);
  } catch (...) {
    if (existing.exists) {
      rethrow_annotated(failed, "Database " + pgvault::quoted(target) +
                                    " was dropped (its pre_restore " + "backup is " +
                                    pgvault::quoted(pre_restore) +
                                    "); the restored data is in database " +
                                    pgvault::quoted(scratch) + ": rename it by hand.");
    }
    const std::string why = admin.try_drop(scratch);
    rethrow_annotated(
        failed, why.empty() ? "The restored copy " + pgvault::quoted(scratch) + " was dropped."
                            : "The restored copy is left in database " + pgvault::quoted(scratch) +
                                  " (" + why + ").");
  }
  return restored.restored_bytes;
}

void report_restored(const BackupMeta& meta, const std::string& target,
                     const std::string& pre_restore, std::uint64_t restored_bytes) {
  log_message(LOG, "restored logical backup " + pgvault::quoted(meta.name) + " of database " +
                       pgvault::quoted(meta.database) + " into database " +
                       pgvault::quoted(target) + " (" + human_size(restored_bytes) + " of dump" +
                       (pre_restore.empty()
                            ? std::string()
                            : "; replaced it, pre_restore backup " + pgvault::quoted(pre_restore)) +
                       ")");
  spi_query_in_function(
      "SELECT pg_catalog.pg_notify('pgvault', pg_catalog.json_build_object('event', 'restored', "
      "'name', $1, 'kind', 'logical', 'source_database', $2, 'database', $3, "
      "'pre_restore_backup', $4, 'restored_bytes', $5::pg_catalog.int8)::pg_catalog.text)",
      {meta.name, meta.database, target, pre_restore.empty() ? SqlValue() : SqlValue(pre_restore),
       std::to_string(restored_bytes)});
}

// The restore, in the repository beside the backups (as the CLI's restores
// are), so that `pgvault report` shows it with no database at hand. A store
// that refuses costs a WARNING, not the restore.
void record_logical_restore(const RestoreSource& source, const Caller& caller,
                            const std::string& target, const std::string& started_at,
                            const std::string& pre_restore, const std::string& error,
                            std::uint64_t restored_bytes) {
  RestoreRecord record;
  record.system_identifier = source.meta.system_identifier;
  record.backup = source.meta.name;
  record.kind = source.meta.kind;
  record.restore = "vault.restore_logical";
  record.started_at = started_at;
  record.finished_at = utc_timestamp_now();
  record.succeeded = error.empty();
  record.error = error;
  record.restored_by = "role " + caller.name;
  record.target =
      "database " + target +
      (pre_restore.empty() ? "" : " (replaced; its pre_restore backup is " + pre_restore + ")");
  record.bytes_written = restored_bytes;
  Repository repo(*source.storage);
  if (const auto warning = record_restore(repo, record)) log_message(WARNING, *warning);
}

Datum name_datum(const char* s) {
  NameData* n = static_cast<NameData*>(palloc0(NAMEDATALEN));
  namestrcpy(n, s);
  return NameGetDatum(n);
}

// The function's row: (backup, source_database, database,
// pre_restore_backup, restored_bytes, duration).
Datum result_row(FunctionCallInfo fcinfo, const BackupMeta& meta, const std::string& target,
                 const std::string& pre_restore, std::uint64_t restored_bytes,
                 TimestampTz started) {
  const char* backup_c = meta.name.c_str();
  const char* source_c = meta.database.c_str();
  const char* target_c = target.c_str();
  const char* pre_c = pre_restore.c_str();
  const bool pre_null = pre_restore.empty();
  const int64 bytes = static_cast<int64>(restored_bytes);
  const int64 usecs = GetCurrentTimestamp() - started;
  return pg_guard([&] {
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "vault.restore_logical must return a composite type");
    tupdesc = BlessTupleDesc(tupdesc);
    Interval* duration = static_cast<Interval*>(palloc0(sizeof(Interval)));
    duration->time = usecs;
    Datum values[6] = {CStringGetTextDatum(backup_c), name_datum(source_c),
                       name_datum(target_c),          CStringGetTextDatum(pre_c),
                       Int64GetDatum(bytes),          IntervalPGetDatum(duration)};
    bool nulls[6] = {false, false, false, pre_null, false, false};
    return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
  });
}

}  // namespace
}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

// vault.restore_logical(name text, target_database name, replace boolean,
//     OUT backup text, OUT source_database name, OUT database name,
//     OUT pre_restore_backup text, OUT restored_bytes bigint, OUT duration interval)
PGVAULT_FUNCTION(pgvault_restore_logical) {
  require_pgvault_database();
  if (PG_ARGISNULL(0)) throw Error(ErrorKind::invalid_argument, "the backup name must not be NULL");
  if (PG_ARGISNULL(1))
    throw Error(ErrorKind::invalid_argument, "the target database must not be NULL");
  if (PG_ARGISNULL(2)) throw Error(ErrorKind::invalid_argument, "replace must be true or false");
  const std::string name = text_arg(fcinfo, 0);
  const std::string target = NameStr(*PG_GETARG_NAME(1));
  const bool replace = PG_GETARG_BOOL(2);
  const TimestampTz started = GetCurrentTimestamp();
  check_restore_call(name, target);

  // Nothing is changed until every check has passed.
  const RestoreSource source = open_logical_backup(name);
  lock_restore_target(target);
  const DatabaseInfo existing = database_info(target);
  check_replaceable(target, existing, replace);
  // The new database gets the owner, encoding and locale of the one it
  // replaces, else of the database the backup was taken of if it is still here.
  const DatabaseInfo model = existing.exists ? existing : database_info(source.meta.database);
  const Caller caller = session_caller();
  check_caller_may_restore_into(caller, target, existing);
  check_dump_against_history(source, caller);

  const std::string started_at = utc_timestamp_now();
  std::string pre_restore;
  std::uint64_t restored_bytes = 0;
  try {
    if (existing.exists) pre_restore = take_pre_restore_backup(target, source.meta.name);
    restored_bytes = restore_via_scratch_database(source, target, existing, model, pre_restore);
  } catch (const std::exception& e) {
    record_logical_restore(source, caller, target, started_at, pre_restore, e.what(), 0);
    throw;
  }
  record_logical_restore(source, caller, target, started_at, pre_restore, "", restored_bytes);
  report_restored(source.meta, target, pre_restore, restored_bytes);
  return result_row(fcinfo, source.meta, target, pre_restore, restored_bytes, started);
}
