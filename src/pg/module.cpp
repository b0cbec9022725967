// Module initialisation: settings, shared memory, the static workers (scheduler,
// alerts, WAL summarizer).
#include "error_boundary.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "wal_summarizer.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace pgvault::pg {
void register_scheduler();
void register_alerts_worker();
}  // namespace pgvault::pg

void _PG_init(void) {
  if (!process_shared_preload_libraries_in_progress) {
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("pgvault must be loaded via shared_preload_libraries"),
             errhint("Add 'pgvault' to shared_preload_libraries in postgresql.conf and restart "
                     "the server.")));
  }
  pgvault::pg::define_settings();
  pgvault::pg::request_shared_memory();
  pgvault::pg::register_scheduler();
  pgvault::pg::register_alerts_worker();
  pgvault::pg::register_wal_summarizer();
}
