// vault._restore_logical (behind vault.restore_logical): restores a logical
// backup of this cluster with the server's own pg_restore into a database.
//
// The dump is streamed from the repository through the decode chain
// (decryption, decompression) into pg_restore's stdin; nothing touches a
// temporary file. It is restored into a fresh scratch database, which takes
// the target's name only once pg_restore has succeeded: a failed restore
// leaves the target as it was. Replacing an existing database first takes a
// logical backup of it (trigger pre_restore) through the normal job path.
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage_settings.hpp"

#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "job_control.hpp"
#include "cluster_identity.hpp"
#include "logging.hpp"
#include "replication_client.hpp"
#include "server_programs.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "worker_connection.hpp"

extern "C" {
#include "libpq-fe.h"
}

namespace pgvault::pg {
namespace {

void check_interrupts() {
  pg_guard([] { CHECK_FOR_INTERRUPTS(); });
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The connection string pgvault's own client programs use: the one of the
// job worker's pg_dump (pgvault.replication_conninfo, or the server's socket
// as the bootstrap superuser), without a dbname.
std::string local_conninfo() {
  return (guc_replication_conninfo && *guc_replication_conninfo)
             ? std::string(guc_replication_conninfo)
             : default_replication_conninfo();
}

// A plain (not replication) libpq connection to this server, for what
// cannot run inside the caller's transaction: CREATE, DROP and ALTER
// DATABASE. It waits on the latch, so a cancel is seen, and passes the
// cancel on to the statement it is running.
class AdminConnection {
 public:
  AdminConnection(const std::string& conninfo, const std::string& dbname) {
    // expand_dbname: the first "dbname" is the connection string, the
    // second the database.
    const std::string options = options_with_safe_search_path(conninfo);
    const char* keywords[] = {"dbname", "dbname", "fallback_application_name", "options", nullptr};
    const char* values[] = {conninfo.c_str(), dbname.c_str(), "pgvault restore", options.c_str(),
                            nullptr};
    conn_.reset(PQconnectStartParams(keywords, values, 1));
    if (!conn_) throw Error(ErrorKind::internal, "out of memory connecting to the server");
    for (;;) {
      const PostgresPollingStatusType st = PQconnectPoll(conn());
      if (st == PGRES_POLLING_OK) break;
      if (st == PGRES_POLLING_FAILED) {
        throw Error(ErrorKind::storage,
                    "could not connect to this server to create the database: " +
                        trimmed(PQerrorMessage(conn())) +
                        " (pgvault connects as pgvault.replication_conninfo says, by default "
                        "over the server's socket as the bootstrap superuser; allow it in "
                        "pg_hba.conf)");
      }
      wait_socket(st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
    }
  }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  // Runs one statement; a failure becomes a PgError with the server's
  // SQLSTATE and message, prefixed by what.
  void exec(const std::string& sql, const std::string& what) {
    if (!PQsendQuery(conn(), sql.c_str()))
      throw Error(ErrorKind::storage, what + ": " + trimmed(PQerrorMessage(conn())));
    int sqlstate = 0;
    std::string message, detail, hint;
    for (;;) {
      wait_result();
      PGresult* res = PQgetResult(conn());
      if (res == nullptr) break;
      const ExecStatusType st = PQresultStatus(res);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && message.empty()) {
        const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char* d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char* h = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        sqlstate = (code && strlen(code) == 5)
                       ? MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])
                       : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
        message = primary ? primary : trimmed(PQresultErrorMessage(res));
        if (message.empty()) message = PQresStatus(st);
        detail = d ? d : "";
        hint = h ? h : "";
      }
      PQclear(res);
    }
    if (!message.empty()) throw PgError(sqlstate, what + ": " + message, detail, hint);
  }

  std::string identifier(const std::string& s) { return escaped(s, PQescapeIdentifier); }
  std::string literal(const std::string& s) { return escaped(s, PQescapeLiteral); }

 private:
  std::string escaped(const std::string& s, char* (*escape)(PGconn*, const char*, size_t)) {
    char* out = escape(conn(), s.data(), s.size());
    if (out == nullptr)
      throw Error(ErrorKind::invalid_argument,
                  "cannot quote " + quoted(s) + ": " + trimmed(PQerrorMessage(conn())));
    std::string result(out);
    PQfreemem(out);
    return result;
  }

  void wait_socket(int events) {
    const int sock = PQsocket(conn());
    pg_guard([&] {
      (void)WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | WL_TIMEOUT | events,
                              sock, 1000, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    });
    check_interrupts();
  }

  // Waits until a result is ready; on a cancel (or termination) of this
  // backend the statement is cancelled on the server as well.
  void wait_result() {
    try {
      while (PQisBusy(conn())) {
        wait_socket(WL_SOCKET_READABLE);
        if (!PQconsumeInput(conn()))
          throw Error(ErrorKind::storage,
                      "lost the connection to this server: " + trimmed(PQerrorMessage(conn())));
      }
    } catch (...) {
      if (PGcancel* cancel = PQgetCancel(conn())) {
        char err[256];
        (void)PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
      }
      throw;
    }
  }

  struct Finish {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  PGconn* conn() const { return conn_.get(); }
  std::unique_ptr<PGconn, Finish> conn_;  // finished even when the constructor throws
};

// One database of this cluster, as pg_database has it.
struct DatabaseInfo {
  bool exists = false;
  bool allow_connections = true;
  bool is_template = false;
  bool session_user_owns = false;  // the session's user has the owner's privileges
  std::string owner, encoding, collate, ctype, locale_provider, icu_locale;
};

DatabaseInfo database_info(const std::string& name) {
  const auto rows = spi_query_in_function(
      "SELECT datallowconn, datistemplate, pg_catalog.pg_get_userbyid(datdba), "
      "pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype, "
      "datlocprovider::pg_catalog.text, "
      "daticulocale, pg_catalog.pg_has_role(session_user, datdba, 'USAGE') "
      "FROM pg_catalog.pg_database WHERE datname = $1",
      {name});
  DatabaseInfo info;
  if (rows.empty()) return info;
  const SqlRow& r = rows[0];
  info.exists = true;
  info.allow_connections = r[0].value_or("t") == "t";
  info.is_template = r[1].value_or("f") == "t";
  info.owner = r[2].value_or("");
  info.encoding = r[3].value_or("");
  info.collate = r[4].value_or("");
  info.ctype = r[5].value_or("");
  info.locale_provider = r[6].value_or("c") == "i" ? "icu" : "libc";
  info.icu_locale = r[7].value_or("");
  info.session_user_owns = r[8].value_or("f") == "t";
  return info;
}

// Who called vault.restore_logical: the session's user. current_user is the
// extension's owner inside the SECURITY DEFINER wrapper, so it says nothing
// about the caller.
struct Caller {
  std::string name;
  bool superuser = false;
  bool createdb = false;
};

Caller session_caller() {
  const auto rows = spi_query_in_function(
      "SELECT rolname, rolsuper, rolcreatedb FROM pg_catalog.pg_roles WHERE rolname = "
      "session_user");
  if (rows.empty()) throw Error(ErrorKind::internal, "the session's role is not in pg_roles");
  return {rows[0][0].value_or(""), rows[0][1].value_or("f") == "t",
          rows[0][2].value_or("f") == "t"};
}

// The rights DROP DATABASE and CREATE DATABASE would ask of the caller:
// replacing a database takes its owner (or a superuser), a new database
// CREATEDB.
void check_caller_may_restore_into(const Caller& caller, const std::string& target,
                                   const DatabaseInfo& existing) {
  if (caller.superuser) return;
  if (existing.exists && !existing.session_user_owns) {
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to replace database " + quoted(target) + ": role " +
                      quoted(caller.name) + " does not own it (its owner is " +
                      quoted(existing.owner) + ")",
                  "", "Only the database's owner or a superuser can replace it.");
  }
  if (!existing.exists && !caller.createdb) {
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to create database " + quoted(target) + ": role " +
                      quoted(caller.name) + " has neither CREATEDB nor SUPERUSER",
                  "", "Restoring into a new database needs CREATEDB, as CREATE DATABASE does.");
  }
}

// pg_restore runs as superuser, so a dump is only fed to it once its bytes
// are the ones this cluster recorded: backup.json's objects must give the
// digest vault.backups holds for the backup (rows are written by pgvault
// alone), and the dump's stored bytes must match backup.json — read in full
// here, before pg_restore starts, since a mismatch found while streaming
// would come after pg_restore had run part of the dump. A backup without a
// row can only be checked against its own repository: then only a superuser
// (who could run pg_restore on it anyway) may restore it.
void check_dump_against_history(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                                const Caller& caller) {
  const auto rows = spi_query_in_function(
      "SELECT status, sha256 FROM vault.backups WHERE name = $1", {meta.name});
  if (rows.empty()) {
    if (!caller.superuser) {
      throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "backup " + quoted(meta.name) +
                        " is not in vault.history, so its dump cannot be checked against a "
                        "checksum this cluster recorded; only a superuser may restore it",
                    "", "");
    }
    log_message(WARNING, "backup " + quoted(meta.name) +
                             " is not in vault.history: its dump is checked against the "
                             "repository's backup.json only");
  } else if (!rows[0][1]) {
    throw Error(ErrorKind::corrupt,
                "vault.history recorded no checksum for backup " + quoted(meta.name) +
                    " (its status is " + rows[0][0].value_or("") +
                    "), so the repository's copy is not trusted; it is not restored");
  } else if (*rows[0][1] != meta.digest()) {
    throw Error(ErrorKind::corrupt,
                "backup " + quoted(meta.name) +
                    " was changed in the repository after it was taken: the SHA-256 digest of "
                    "its objects in backup.json is " +
                    meta.digest() + ", vault.history recorded " + *rows[0][1] +
                    "; it is not restored");
  }
  NullSink discard;
  (void)backup_reading::read_object(storage, meta, entry, discard,
                                    [](std::uint64_t) { check_interrupts(); });
}

// CREATE DATABASE for the scratch database, from template0 with the owner,
// encoding and locale of model (when there is one).
std::string create_database_sql(AdminConnection& admin, const std::string& name,
                                const DatabaseInfo& model) {
  std::string sql = "CREATE DATABASE " + admin.identifier(name) + " TEMPLATE template0";
  if (!model.exists) return sql;
  if (!model.owner.empty() && model.owner.find("unknown (OID=") != 0)
    sql += " OWNER " + admin.identifier(model.owner);
  sql += " ENCODING " + admin.literal(model.encoding) + " LC_COLLATE " +
         admin.literal(model.collate) + " LC_CTYPE " + admin.literal(model.ctype) +
         " LOCALE_PROVIDER " + admin.literal(model.locale_provider);
  if (model.locale_provider == "icu" && !model.icu_locale.empty())
    sql += " ICU_LOCALE " + admin.literal(model.icu_locale);
  return sql;
}

// The single object of a logical backup: dump.pgdump[.zst|.lz4|.gz].
const ObjectEntry& dump_object(const BackupMeta& meta) {
  for (const auto& o : meta.objects)
    if (o.name.rfind("dump.pgdump", 0) == 0) return o;
  throw Error(ErrorKind::corrupt, "backup " + quoted(meta.name) +
                                      " is a logical backup without a dump.pgdump object; it "
                                      "is not restorable");
}

// Checks the key on the object's header before anything is changed: a
// missing or wrong key or passphrase fails here, not after the
// pre_restore backup and a database were created.
void check_key(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
               const DecryptorFactory& decryptor) {
  if (!decryptor) return;
  std::vector<std::byte> head(kEncryptionHeaderSize);
  std::size_t got = 0;
  try {
    auto reader =
        storage.open_read(Repository::object_path(meta.system_identifier, meta.name, entry.name));
    while (got < head.size()) {
      const std::size_t n = reader->read(std::span<std::byte>(head).subspan(got));
      if (n == 0) break;
      got += n;
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    throw backup_reading::missing_object_error(meta, entry.name, e.what());
  }
  NullSink discard;
  std::unique_ptr<Sink> decrypt = decryptor(entry.name, discard);
  if (!decrypt) return;
  try {
    decrypt->write(std::span<const std::byte>(head.data(), got));
  } catch (const Error& e) {
    throw Error(e.kind(), backup_reading::object_name(meta, entry.name) + ": " + e.what());
  }
}

// The decoded dump, written into pg_restore's stdin. Remembers the first
// error (pg_restore stopped reading, or a cancel while the pipe was full).
class PgRestoreInput final : public Sink {
 public:
  explicit PgRestoreInput(ChildProcess& child) : child_(child) {}
  void write(std::span<const std::byte> data) override {
    // The pipe is non-blocking: a pg_restore busy for an hour (building an
    // index) cannot keep the backend from seeing a cancel.
    try {
      child_.write_stdin(data, check_interrupts);
      bytes_ += data.size();
    } catch (...) {
      if (!error_) error_ = std::current_exception();
      throw;
    }
  }
  void finish() override { child_.close_stdin(); }
  const std::exception_ptr& error() const { return error_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  ChildProcess& child_;
  std::exception_ptr error_;
  std::uint64_t bytes_ = 0;
};

// Streams the dump into the server's own pg_restore connected to dbname;
// returns the bytes of the dump restored. pg_restore's exit status and
// stderr are the error when it fails; a repository or decoding error wins
// over what pg_restore says about the input it then lacks.
std::uint64_t run_pg_restore(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                             const DecryptorFactory& decryptor, const std::string& conninfo,
                             const std::string& dbname) {
  ChildProcessOptions opts;
  // Owners and privileges are kept: the bootstrap superuser restores into
  // the cluster the dump came from, where its roles live. --exit-on-error:
  // the first failing statement fails the restore (the database is dropped).
  // pg_restore empties search_path itself; options pins it before that.
  opts.argv = {server_program("pg_restore"), "--exit-on-error", "--no-password",
               "--dbname=" + conninfo + " dbname=" + conninfo_quote(dbname) +
                   " options=" + conninfo_quote(options_with_safe_search_path(conninfo))};
  opts.env = {{"PGAPPNAME", "pgvault restore"}};
  opts.pipe_stdin = true;
  ChildProcess child(std::move(opts));
  PgRestoreInput input(child);
  backup_reading::DecodeChain chain(entry.name, input, decryptor);
  std::exception_ptr pipe_error;
  try {
    std::vector<std::byte> out(4096);
    backup_reading::read_object(storage, meta, entry, chain.input(), [&](std::uint64_t) {
      // Stop reading at once when pg_restore is gone or a cancel came.
      if (input.error()) std::rethrow_exception(input.error());
      bool eof = false;
      (void)child.read_stdout(out, std::chrono::milliseconds(0), eof);  // (it writes none)
      check_interrupts();
    });
  } catch (const PgError&) {
    throw;  // a cancel: the child is killed on the way out
  } catch (...) {
    if (!input.error()) throw;  // the repository or decoding failed: that is the error
    pipe_error = std::current_exception();
  }
  const int status = child.wait(check_interrupts);
  if (status != 0) {
    const std::string err = child.stderr_text();
    throw Error(ErrorKind::storage,
                "pg_restore " + child.describe_exit() + (err.empty() ? "" : ": " + err));
  }
  if (pipe_error) {
    // pg_restore finished successfully before taking all of the input.
    log_message(LOG, "pg_restore finished before reading all of backup " + quoted(meta.name));
  }
  return input.bytes();
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

// Drops a database; "" when done, else why not.
std::string drop_database(AdminConnection& admin, const std::string& name) {
  try {
    admin.exec("DROP DATABASE IF EXISTS " + admin.identifier(name) + " WITH (FORCE)",
               "could not drop database " + quoted(name));
    return "";
  } catch (const std::exception& e) {
    return e.what();
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
  pg_guard([] { SPI_connect(); });
  const LaunchedJob job = start_job(request);
  pg_guard([] { SPI_finish(); });
  const long long id = job.id;
  const JobOutcome outcome =
      wait_for_job(job, "Database " + quoted(db) + " was not touched. Its pre_restore backup " +
                            quoted(job.name) + " (id " + std::to_string(id) +
                            ") continues in the background; vault.cancel_backup() stops it.");
  if (outcome.status != "completed") {
    throw PgError(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
                  "the pre_restore backup " + quoted(job.name) + " of database " + quoted(db) +
                      " failed, so the database was not replaced: " + outcome.error,
                  "See vault.history, id " + std::to_string(id) + ".", "");
  }
  return job.name;
}

Datum name_datum(const char* s) {
  NameData* n = static_cast<NameData*>(palloc0(NAMEDATALEN));
  namestrcpy(n, s);
  return NameGetDatum(n);
}

}  // namespace
}  // namespace pgvault::pg

using namespace pgvault;
using namespace pgvault::pg;

// vault._restore_logical(name text, target_database name, replace boolean,
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
                "cannot restore into database " + quoted(target) +
                    ": this session is connected to it (and pgvault lives in it); restore into "
                    "another database");
  }
  if (guc_database && target == guc_database) {
    throw Error(ErrorKind::invalid_argument,
                "cannot restore into database " + quoted(target) +
                    ": it is pgvault's own database (pgvault.database); restore into another "
                    "database");
  }

  // The backup, from the repository (the source of truth).
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  const BackupMeta meta = repo.resolve(name, system_identifier_string());
  if (meta.kind != "logical") {
    throw Error(ErrorKind::invalid_argument,
                "backup " + quoted(meta.name) + " is a " + meta.kind +
                    " backup; vault.restore_logical() restores logical backups only (restore a "
                    "physical backup with the pgvault command: pgvault restore)");
  }
  const ObjectEntry& entry = dump_object(meta);
  const DecryptorFactory decryptor =
      decryptor_for(meta, {guc_encryption_key_file ? guc_encryption_key_file : "",
                           guc_encryption_passphrase ? guc_encryption_passphrase : ""});
  check_key(*storage, meta, entry, decryptor);

  // One restore into a database at a time (held until this transaction ends).
  const auto locked = spi_query_in_function(
      "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('pgvault.restore_logical'),"
      " pg_catalog.hashtext($1))",
      {target});
  if (locked.empty() || locked[0][0].value_or("f") != "t") {
    throw Error(ErrorKind::conflict,
                "another vault.restore_logical() into database " + quoted(target) + " is running");
  }

  const DatabaseInfo existing = database_info(target);
  if (existing.exists) {
    if (!replace) {
      throw Error(ErrorKind::already_exists,
                  "database " + quoted(target) +
                      " already exists; pass replace => true to replace it (a logical backup of "
                      "it is taken first)");
    }
    if (existing.is_template)
      throw Error(ErrorKind::invalid_argument,
                  "database " + quoted(target) +
                      " is a template database; pgvault does not replace template databases");
    if (!existing.allow_connections)
      throw Error(ErrorKind::invalid_argument,
                  "database " + quoted(target) +
                      " does not accept connections (datallowconn is false), so no pre_restore "
                      "backup of it can be taken; it is not replaced");
  }
  // The new database gets the owner, encoding and locale of the one it
  // replaces, else of the database the backup was taken of if it is still here.
  const DatabaseInfo model = existing.exists ? existing : database_info(meta.database);
  const Caller caller = session_caller();
  check_caller_may_restore_into(caller, target, existing);
  check_dump_against_history(*storage, meta, entry, caller);

  std::string pre_restore;
  if (existing.exists) {
    pre_restore = take_pre_restore_backup(target, meta.name);
    const std::string notice = "took logical backup \"" + pre_restore + "\" of database \"" +
                               target + "\" (trigger pre_restore) before replacing it";
    const char* text = notice.c_str();
    pg_guard([&] { ereport(NOTICE, (errmsg("%s", text))); });
  }

  // Restore into a scratch database; it takes the target's name only when
  // pg_restore succeeded.
  const std::string conninfo = local_conninfo();
  const std::string scratch = "pgvault_restore_" + std::to_string(MyProcPid) + "_" +
                              std::to_string(static_cast<long long>(time(nullptr)));
  AdminConnection admin(conninfo, current_db);
  admin.exec(create_database_sql(admin, scratch, model),
             "could not create database " + quoted(scratch) + " to restore into");
  const std::string failed =
      "restoring backup " + quoted(meta.name) + " into database " + quoted(target) + " failed: ";
  // The error's detail: what became of the target and of the scratch database.
  const std::string unchanged = existing.exists ? "Database " + quoted(target) +
                                                      " is unchanged (its pre_restore backup is " +
                                                      quoted(pre_restore) + "). "
                                                : std::string();
  auto scratch_dropped = [&] {
    const std::string why = drop_database(admin, scratch);
    return unchanged + (why.empty()
                            ? "The partly restored database " + quoted(scratch) + " was dropped."
                            : "The partly restored database " + quoted(scratch) +
                                  " is left behind (" + why + "); drop it by hand.");
  };
  std::uint64_t restored_bytes = 0;
  try {
    restored_bytes = run_pg_restore(*storage, meta, entry, decryptor, conninfo, scratch);
  } catch (...) {
    rethrow_annotated(failed, scratch_dropped());
  }

  if (existing.exists) {
    try {
      admin.exec("DROP DATABASE " + admin.identifier(target) + " WITH (FORCE)",
                 "could not drop database " + quoted(target) + " to replace it");
    } catch (...) {
      rethrow_annotated(failed, scratch_dropped());
    }
  }
  try {
    admin.exec(
        "ALTER DATABASE " + admin.identifier(scratch) + " RENAME TO " + admin.identifier(target),
        "could not rename database " + quoted(scratch) + " to " + quoted(target));
  } catch (...) {
    if (existing.exists) {
      rethrow_annotated(failed, "Database " + quoted(target) + " was dropped (its pre_restore " +
                                    "backup is " + quoted(pre_restore) +
                                    "); the restored data is in database " + quoted(scratch) +
                                    ": rename it by hand.");
    }
    const std::string why = drop_database(admin, scratch);
    rethrow_annotated(failed, why.empty() ? "The restored copy " + quoted(scratch) + " was dropped."
                                          : "The restored copy is left in database " +
                                                quoted(scratch) + " (" + why + ").");
  }

  const TimestampTz finished = GetCurrentTimestamp();
  log_message(
      LOG, "restored logical backup " + quoted(meta.name) + " of database " +
               quoted(meta.database) + " into database " + quoted(target) + " (" +
               human_size(restored_bytes) + " of dump" +
               (pre_restore.empty() ? std::string()
                                    : "; replaced it, pre_restore backup " + quoted(pre_restore)) +
               ")");
  spi_query_in_function(
      "SELECT pg_catalog.pg_notify('pgvault', pg_catalog.json_build_object('event', 'restored', "
      "'name', $1, 'kind', 'logical', 'source_database', $2, 'database', $3, "
      "'pre_restore_backup', $4, 'restored_bytes', $5::pg_catalog.int8)::pg_catalog.text)",
      {meta.name, meta.database, target, pre_restore.empty() ? SqlValue() : SqlValue(pre_restore),
       std::to_string(restored_bytes)});

  const std::string backup_name = meta.name;
  const std::string source_db = meta.database;
  const char* backup_c = backup_name.c_str();
  const char* source_c = source_db.c_str();
  const char* target_c = target.c_str();
  const char* pre_c = pre_restore.c_str();
  const bool pre_null = pre_restore.empty();
  const int64 bytes = static_cast<int64>(restored_bytes);
  const int64 usecs = finished - started;
  return pg_guard([&] {
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "vault._restore_logical must return a composite type");
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
