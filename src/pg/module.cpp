// Module initialisation: settings, shared memory, the static workers (scheduler,
// alerts, WAL summarizer), and the file through which the server's processes
// share the backup.json objects they have parsed.
#include "pgvault/catalog/backup_meta_cache.hpp"

#include <string>

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
  // In the postmaster, so every process the server starts inherits it.
  // pg_stat_tmp: no backup copies its contents (basebackup.c's
  // excludeDirContents; pg_stat_statements keeps its query texts there).
  pgvault::pg::guarded_entry([] {
    pgvault::BackupMetaCache::of_process().share_through(
        std::string(DataDir) + "/" + PG_STAT_TMP_DIR + "/pgvault_backup_meta.cache");
  });
}
