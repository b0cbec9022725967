// Logical backups: the server's own pg_dump, custom format, its stdout
// streamed through client-side compression and SHA-256 into one repository
// object ("dump.pgdump" + the compression's suffix); backup.json last.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/compression.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class EncryptionKey;
class Repository;

struct LogicalBackupRequest {
  BackupOrigin origin;   // origin.database is the database to dump
  std::string pg_dump;   // absolute path of the server's own pg_dump
  std::string conninfo;  // libpq connection string (its dbname is replaced by database)
  Compression compression = Compression::zstd;
  int compression_level = 0;  // 0 = the algorithm's default
  LogicalOptions options;
  const EncryptionKey* encryption_key = nullptr;  // set: the dump is encrypted after compression
  // pg_dump --lock-wait-timeout: fail instead of waiting forever for a table
  // another session holds locked (0 = wait as long as it takes).
  int lock_wait_timeout_ms = 0;
};

struct LogicalProgress {
  std::uint64_t dumped = 0;  // bytes pg_dump wrote
  std::uint64_t stored = 0;  // bytes written to the repository
};

// The object name of a dump compressed with c: "dump.pgdump", "dump.pgdump.zst", ...
std::string logical_dump_object(Compression c);

// A libpq connection-string value in single quotes, ' and \ escaped with
// a backslash (libpq's rule, not SQL's doubled quote).
std::string conninfo_quote(std::string_view value);

// pg_dump's arguments for req (argv[0] is req.pg_dump).
std::vector<std::string> pg_dump_arguments(const LogicalBackupRequest& req);

// Throws Error(invalid_argument) for options that cannot go together
// (schema_only with data_only) or empty patterns.
void validate_logical_options(const LogicalOptions& options);

// Runs pg_dump and streams its output into the repository; writes
// backup.json last. On failure (pg_dump's exit status and stderr in the
// message, an interrupt, a storage error) nothing is left in the repository.
// check_interrupts() is called at least every 200 ms and may throw.
BackupMeta run_logical_backup(Repository& repo, const LogicalBackupRequest& req,
                              const std::function<void(const LogicalProgress&)>& progress,
                              const std::function<void()>& check_interrupts);

}  // namespace pgvault
