// Logical backups: the server's own pg_dump, custom format, its stdout
// streamed through an EncodeChain (client-side compression, encryption,
// SHA-256) into one repository object ("dump.pgdump" + the compression's
// suffix); backup.json last.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/compression.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class Repository;

// The object name of a dump compressed with c: "dump.pgdump", "dump.pgdump.zst", ...
std::string logical_dump_object(Compression c);

// A libpq connection-string value in single quotes, ' and \ escaped with
// a backslash (libpq's rule, not SQL's doubled quote).
std::string conninfo_quote(std::string_view value);

// pg_dump's arguments for a logical req (argv[0] is req.pg_dump).
std::vector<std::string> pg_dump_arguments(const BackupRequest& req);

// Throws Error(invalid_argument) for options that cannot go together
// (schema_only with data_only) or empty patterns.
void validate_logical_options(const LogicalOptions& options);

// Runs pg_dump for a logical req and streams its output into the
// repository; writes backup.json last. Progress reports phase "dumping",
// done = bytes pg_dump wrote. On failure (pg_dump's exit status and stderr
// in the message, an interrupt, a storage error) nothing is left in the
// repository. check_interrupts() is called at least every 200 ms and may throw.
BackupMeta run_logical_backup(Repository& repo, const BackupRequest& req,
                              const std::function<void(const BackupProgress&)>& progress,
                              const std::function<void()>& check_interrupts);

}  // namespace pgvault
