#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"

#include <string>

#include "error_boundary.hpp"
#include "settings.hpp"
#include "worker_connection.hpp"

#include "postgres_headers.hpp"

namespace pgvault::pg {

namespace {

// The default connection: the server's own Unix socket and port, as the
// bootstrap superuser.
std::string default_replication_conninfo() {
  std::string socket_dir = "/tmp";
  if (Unix_socket_directories && *Unix_socket_directories) {
    std::string dirs = Unix_socket_directories;
    socket_dir = dirs.substr(0, dirs.find(','));
    while (!socket_dir.empty() && socket_dir.front() == ' ') socket_dir.erase(0, 1);
    while (!socket_dir.empty() && socket_dir.back() == ' ') socket_dir.pop_back();
  }
  const char* user = pg_guard([] { return GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false); });
  // Quoted as libpq reads values: a ' or \ in a directory or role name stays in it.
  return "host=" + conninfo_quote(socket_dir) + " port=" + std::to_string(PostPortNumber) +
         " user=" + conninfo_quote(user);
}

void pin_search_path() {
  pg_guard([] { SetConfigOption("search_path", kSafeSearchPath, PGC_SUSET, PGC_S_OVERRIDE); });
}

}  // namespace

void connect_worker(const char* database) {
  pg_guard([&] { BackgroundWorkerInitializeConnection(database, nullptr, 0); });
  pin_search_path();
}

void connect_worker(unsigned int database_oid) {
  pg_guard([&] { BackgroundWorkerInitializeConnectionByOid(database_oid, InvalidOid, 0); });
  pin_search_path();
}

std::string pgvault_conninfo() {
  return (guc_replication_conninfo && *guc_replication_conninfo)
             ? std::string(guc_replication_conninfo)
             : default_replication_conninfo();
}

std::string options_with_safe_search_path(const std::string& conninfo) {
  std::string options;
  char* err = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o)
      if (std::string(o->keyword) == "options" && o->val != nullptr) options = o->val;
    PQconninfoFree(parsed);
  }
  if (err != nullptr) PQfreemem(err);  // libpq reports a bad string when it connects
  // No spaces in the value: options separates arguments at spaces.
  return (options.empty() ? "" : options + " ") + "-c search_path=pg_catalog,pg_temp";
}

}  // namespace pgvault::pg
