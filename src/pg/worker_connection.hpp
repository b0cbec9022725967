// How pgvault's processes connect: background workers to their database,
// libpq clients to this server. Both pin search_path to pg_catalog, pg_temp,
// so that nothing a database owner creates in a schema they can write
// ("public") is ever what pgvault's SQL calls: the workers run as the
// bootstrap superuser (CVE-2018-1058, "secure search_path").
#pragma once

#include <string>

namespace pgvault::pg {

inline constexpr const char* kSafeSearchPath = "pg_catalog, pg_temp";

// BackgroundWorkerInitializeConnection[ByOid], then search_path pinned for
// the life of the process (PGC_S_OVERRIDE: ALTER DATABASE/ROLE ... SET
// search_path cannot change it).
void connect_worker(const char* database);
void connect_worker(unsigned int database_oid);  // an Oid

// The connection string pgvault's libpq clients (BASE_BACKUP, pg_dump,
// pg_restore, vault.restore_logical's CREATE DATABASE) use for this server:
// pgvault.replication_conninfo, or by default the server's own Unix socket
// and port, as the bootstrap superuser. Without a dbname.
std::string pgvault_conninfo();

// The libpq "options" value for a connection string: its own options (if
// any) followed by -c search_path=pg_catalog,pg_temp.
std::string options_with_safe_search_path(const std::string& conninfo);

}  // namespace pgvault::pg
