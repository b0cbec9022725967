// The database vault.restore_logical() restores into: what pg_database says
// about it, whether the caller may replace or create it, and the CREATE,
// DROP and ALTER DATABASE that cannot run inside the caller's transaction
// (over a LibpqConnection of their own).
#pragma once

#include <string>

#include "libpq_connection.hpp"

namespace pgvault::pg {

// One database of this cluster, as pg_database has it.
struct DatabaseInfo {
  bool exists = false;
  bool allow_connections = true;
  bool is_template = false;
  bool session_user_owns = false;  // the session's user has the owner's privileges
  std::string owner, encoding, collate, ctype, locale_provider, icu_locale;
};

// SPI, inside an SQL-callable function.
DatabaseInfo database_info(const std::string& name);

// Who called vault.restore_logical: the session's user. current_user is the
// extension's owner inside the SECURITY DEFINER wrapper, so it says nothing
// about the caller.
struct Caller {
  std::string name;
  bool superuser = false;
  bool createdb = false;
};

Caller session_caller();

// The rights DROP DATABASE and CREATE DATABASE would ask of the caller:
// replacing a database takes its owner (or a superuser), a new database
// CREATEDB. Throws PgError(insufficient_privilege).
void check_caller_may_restore_into(const Caller& caller, const std::string& target,
                                   const DatabaseInfo& existing);

// Throws unless an existing target may be replaced: replace was asked for,
// it is no template and it accepts connections (for its pre_restore backup).
void check_replaceable(const std::string& target, const DatabaseInfo& existing, bool replace);

// Holds, until this transaction ends, the one restore into target at a
// time; throws Error(conflict) when another restore into it runs.
void lock_restore_target(const std::string& target);

// CREATE, DROP and ALTER DATABASE over a connection of their own, as the
// user pgvault_conninfo() names, to database `via` (the caller's).
class DatabaseAdmin {
 public:
  explicit DatabaseAdmin(const std::string& via);

  // CREATE DATABASE name from template0 with the owner, encoding and locale
  // of model (when it exists).
  void create_like(const std::string& name, const DatabaseInfo& model, const std::string& what);
  // DROP DATABASE ... WITH (FORCE).
  void drop(const std::string& name, const std::string& what);
  // Drops a database if it exists; "" when done, else why not.
  std::string try_drop(const std::string& name);
  void rename(const std::string& from, const std::string& to);

 private:
  LibpqConnection connection_;
};

}  // namespace pgvault::pg
