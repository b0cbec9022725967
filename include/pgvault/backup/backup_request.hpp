// One backup request, whatever the kind: what the job worker decides once
// (from the settings and the SQL call) and hands to the kind's runner —
// run_physical_backup (physical/physical_backup.hpp) or run_logical_backup
// (logical/logical_backup.hpp). Both write their objects through an
// EncodeChain and backup.json last.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/compression.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault {

class EncryptionKey;
class Repository;

// incremental: read by the job worker itself (physical/incremental_backup.hpp),
// relative to a parent backup.
enum class BackupKind { physical, logical, incremental };

// "physical", "logical", "incremental": the kind as backup.json and vault.backups spell it.
std::string_view backup_kind_name(BackupKind kind);
// The kinds the SQL API and the job slot take: "physical", "logical" and
// "incremental"; nullopt for anything else.
std::optional<BackupKind> parse_backup_kind(std::string_view name);

// pgvault.compression, _level and _workers. A physical backup is compressed
// by the server (BASE_BACKUP COMPRESSION), a logical one by pgvault.
struct BackupCompression {
  Compression algorithm = Compression::zstd;
  int level = 0;    // 0 = the algorithm's default
  int workers = 0;  // zstd: extra compression threads (the walsender's for a full, libzstd's in
                    // the job worker for an incremental)
};

// pgvault.incremental_changes: how an incremental finds the pages changed
// since its parent. wal_summary: the blocks the WAL summaries name (every page
// when they do not cover the WAL since the parent); page_scan: every page's
// LSN; check: both, failing the backup when a page the scan finds changed is
// missing from the summaries.
enum class IncrementalChanges { wal_summary, page_scan, check };

struct BackupRequest {
  BackupKind kind = BackupKind::physical;
  BackupOrigin origin;  // logical: origin.database is the database dumped
  BackupCompression compression;
  const EncryptionKey* encryption_key = nullptr;  // set: every object is encrypted
  // libpq connection string to this server: the replication connection
  // (physical) or pg_dump's --dbname, whose dbname is replaced by
  // origin.database (logical).
  std::string conninfo;

  // Physical: pgvault.max_rate, the rate the data directory is read at, in
  // kB/s (0 = unlimited).
  int max_rate_kb = 0;

  // Incremental: threads reading and selecting relation files ahead of the
  // one thread that writes the archive (1 = read on the writing thread), and
  // whether the cluster has data checksums (pages are then verified as read).
  int read_workers = 1;
  bool data_checksums = false;
  IncrementalChanges changes = IncrementalChanges::wal_summary;

  // Full physical: the data directory of the server streamed from, when it is
  // local (the job worker's own). After the stream the runner records its
  // relation files' identities (file_identity), so the first incremental on
  // top of the full can tell a re-created file; empty: none recorded.
  std::filesystem::path data_directory;

  // Logical: the server's own pg_dump (absolute path), what it dumps, and
  // pg_dump --lock-wait-timeout: fail instead of waiting forever for a table
  // another session holds locked (0 = wait as long as it takes).
  std::string pg_dump;
  LogicalOptions logical;
  int lock_wait_timeout_ms = 0;

  // pgvault.max_backup_size: the most bytes the backup may store in the
  // repository (0 = no limit). Every runner stops the backup with
  // check_stored_size() as its stored bytes pass it, and checks the total
  // before backup.json: a backup over the ceiling is never listed.
  std::uint64_t max_stored_bytes = 0;
};

// What a running backup reports, for vault.progress.
struct BackupProgress {
  const char* phase = "";  // "checkpoint", "streaming", "finishing" (physical); "dumping" (logical)
  std::uint64_t done =
      0;  // physical: uncompressed bytes the server sent; logical: bytes pg_dump wrote
  std::uint64_t total = 0;   // physical: the server's estimate of the total (0 = unknown)
  std::uint64_t stored = 0;  // bytes written to the repository
};

// Every runner's first step. Checks that this pgvault understands repo's
// format before a single object is written (a newer repository is refused
// with Error(unsupported)) and that no object is stored under the backup's
// name yet (Error(already_exists): names are unique per server, and another server
// of the same system must never have its backup overwritten), then returns a backup.json for req,
// starting now: the origin, the kind, the compression as it is applied (level 0 made the
// algorithm's default; compressed_by "server" for physical, "client" for
// logical and incremental) and the encryption.
BackupMeta begin_backup(Repository& repo, const BackupRequest& req);

// Throws Error(limit_exceeded) when stored_bytes is over req.max_stored_bytes:
// "backup \"x\" stopped: it stores more than pgvault.max_backup_size (500 MB):
// 501 MB written; nothing of it is kept ...". Runners call it with every
// progress report and with the final total before writing backup.json.
void check_stored_size(const BackupRequest& req, std::uint64_t stored_bytes);

}  // namespace pgvault
