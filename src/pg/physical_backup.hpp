#pragma once

#include "pgvault/catalog/backup_meta.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace pgvault {
class EncryptionKey;
class Repository;
}  // namespace pgvault

namespace pgvault::pg {

struct PhysicalBackupRequest {
  BackupOrigin origin;
  std::string conninfo;
  std::string compression;      // none, gzip, lz4, zstd
  int compression_level = 0;    // 0 = the algorithm's default
  int compression_workers = 0;  // zstd only: extra compression threads in the walsender
  int max_rate_kb = 0;
  const EncryptionKey* encryption_key = nullptr;  // set: every object is encrypted
};

struct BackupProgress {
  const char* phase = "";    // "checkpoint", "streaming", "finishing"
  std::uint64_t done = 0;    // uncompressed bytes the server has sent
  std::uint64_t total = 0;   // the server's estimate of the total (0 = unknown)
  std::uint64_t stored = 0;  // bytes written to the repository
};

// Streams BASE_BACKUP from this server into the repository and writes
// backup.json last. On failure every object written is removed again.
// progress() is called as data arrives; check_interrupts() may throw.
BackupMeta run_physical_backup(Repository& repo, const PhysicalBackupRequest& req,
                               const std::function<void(const BackupProgress&)>& progress,
                               const std::function<void()>& check_interrupts);

}  // namespace pgvault::pg
