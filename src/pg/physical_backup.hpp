// A physical backup of this server: the core's run_physical_backup over a
// libpq replication connection (ReplicationClient) that waits on the latch.
#pragma once

#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/backup_meta.hpp"

#include <functional>

namespace pgvault {
class Repository;
}  // namespace pgvault

namespace pgvault::pg {

// Connects with req.conninfo and runs the backup; check_interrupts() is
// called while waiting on the server and may throw.
BackupMeta run_physical_backup_over_libpq(
    Repository& repo, const BackupRequest& req,
    const std::function<void(const BackupProgress&)>& progress,
    const std::function<void()>& check_interrupts);

}  // namespace pgvault::pg
