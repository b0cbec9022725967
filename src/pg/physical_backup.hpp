#pragma once

#include "pgvault/catalog/backup_meta.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace pgvault {
class Repository;
}

namespace pgvault::pg {

struct PhysicalBackupRequest {
  std::string name, label, trigger, initiated_by, database;
  std::string system_identifier;
  std::string conninfo;
  std::string compression;    // none, gzip, lz4, zstd
  int compression_level = 0;  // 0 = the algorithm's default
  int max_rate_kb = 0;
  int pg_version = 0;
};

// Streams BASE_BACKUP from this server into the repository and writes
// backup.json last. On failure every object written is removed again.
// progress(bytes) is called as data arrives; check_interrupts() may throw.
BackupMeta run_physical_backup(Repository& repo, const PhysicalBackupRequest& req,
                               const std::function<void(std::uint64_t)>& progress,
                               const std::function<void()>& check_interrupts);

}  // namespace pgvault::pg
