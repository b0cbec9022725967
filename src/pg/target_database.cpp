#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <string>

#include "error_boundary.hpp"
#include "spi.hpp"
#include "target_database.hpp"
#include "worker_connection.hpp"

namespace pgvault::pg {
namespace {

LibpqTarget admin_target(const std::string& dbname) {
  LibpqTarget target;
  target.conninfo = pgvault_conninfo();
  target.dbname = dbname;
  target.application_name = "pgvault restore";
  target.failure = "could not connect to this server to create the database";
  target.hint =
      "pgvault connects as pgvault.replication_conninfo says, by default over the server's "
      "socket as the bootstrap superuser; allow it in pg_hba.conf";
  return target;
}

}  // namespace

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

Caller session_caller() {
  const auto rows = spi_query_in_function(
      "SELECT rolname, rolsuper, rolcreatedb FROM pg_catalog.pg_roles WHERE rolname = "
      "session_user");
  if (rows.empty()) throw Error(ErrorKind::internal, "the session's role is not in pg_roles");
  return {rows[0][0].value_or(""), rows[0][1].value_or("f") == "t",
          rows[0][2].value_or("f") == "t"};
}

void check_caller_may_restore_into(const Caller& caller, const std::string& target,
                                   const DatabaseInfo& existing) {
  if (caller.superuser) return;
  if (existing.exists && !existing.session_user_owns) {
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to replace database " + pgvault::quoted(target) + ": role " +
                      pgvault::quoted(caller.name) + " does not own it (its owner is " +
                      pgvault::quoted(existing.owner) + ")",
                  "", "Only the database's owner or a superuser can replace it.");
  }
  if (!existing.exists && !caller.createdb) {
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to create database " + pgvault::quoted(target) + ": role " +
                      pgvault::quoted(caller.name) + " has neither CREATEDB nor SUPERUSER",
                  "", "Restoring into a new database needs CREATEDB, as CREATE DATABASE does.");
  }
}

void check_replaceable(const std::string& target, const DatabaseInfo& existing, bool replace) {
  if (!existing.exists) return;
  if (!replace) {
    throw Error(ErrorKind::already_exists,
                "database " + pgvault::quoted(target) +
                    " already exists; pass replace => true to replace it (a logical backup of "
                    "it is taken first)");
  }
  if (existing.is_template)
    throw Error(ErrorKind::invalid_argument,
                "database " + pgvault::quoted(target) +
                    " is a template database; pgvault does not replace template databases");
  if (!existing.allow_connections)
    throw Error(ErrorKind::invalid_argument,
                "database " + pgvault::quoted(target) +
                    " does not accept connections (datallowconn is false), so no pre_restore "
                    "backup of it can be taken; it is not replaced");
}

void lock_restore_target(const std::string& target) {
  const auto locked = spi_query_in_function(
      "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('pgvault.restore_logical'),"
      " pg_catalog.hashtext($1))",
      {target});
  if (locked.empty() || locked[0][0].value_or("f") != "t") {
    throw Error(ErrorKind::conflict, "another vault.restore_logical() into database " +
                                         pgvault::quoted(target) + " is running");
  }
}

DatabaseAdmin::DatabaseAdmin(const std::string& via) : connection_(admin_target(via), nullptr) {}

void DatabaseAdmin::create_like(const std::string& name, const DatabaseInfo& model,
                                const std::string& what) {
  LibpqConnection& c = connection_;
  std::string sql = "CREATE DATABASE " + c.quote_identifier(name) + " TEMPLATE template0";
  if (model.exists) {
    if (!model.owner.empty() && model.owner.find("unknown (OID=") != 0)
      sql += " OWNER " + c.quote_identifier(model.owner);
    sql += " ENCODING " + c.quote_literal(model.encoding) + " LC_COLLATE " +
           c.quote_literal(model.collate) + " LC_CTYPE " + c.quote_literal(model.ctype) +
           " LOCALE_PROVIDER " + c.quote_literal(model.locale_provider);
    if (model.locale_provider == "icu" && !model.icu_locale.empty())
      sql += " ICU_LOCALE " + c.quote_literal(model.icu_locale);
  }
  c.exec(sql, what);
}

void DatabaseAdmin::drop(const std::string& name, const std::string& what) {
  connection_.exec("DROP DATABASE " + connection_.quote_identifier(name) + " WITH (FORCE)", what);
}

std::string DatabaseAdmin::try_drop(const std::string& name) {
  try {
    connection_.exec(
        "DROP DATABASE IF EXISTS " + connection_.quote_identifier(name) + " WITH (FORCE)",
        "could not drop database " + pgvault::quoted(name));
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

void DatabaseAdmin::rename(const std::string& from, const std::string& to) {
  connection_.exec(
      "ALTER DATABASE " + connection_.quote_identifier(from) + " RENAME TO " +
          connection_.quote_identifier(to),
      "could not rename database " + pgvault::quoted(from) + " to " + pgvault::quoted(to));
}

}  // namespace pgvault::pg
