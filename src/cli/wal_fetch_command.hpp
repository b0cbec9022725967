// pgvault wal-fetch %f %p: PostgreSQL's restore_command. Fetches one archived
// WAL file (core: include/pgvault/wal/wal_fetch.hpp) and answers with the exit
// status recovery understands: 0 fetched, 1 not in the repository, and
// kWalFetchHardError for everything else, which stops recovery instead of
// letting PostgreSQL take it for the end of the archive and promote.
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

// PostgreSQL 15 (xlogarchive.c RestoreArchivedFile) treats a restore_command
// exit status above 125, like a signal, as fatal: the startup process stops
// with FATAL. Any other non-zero status means "not archived". 128 is not one
// of the shell's own (126 not executable, 127 not found) and is not a signal's.
inline constexpr int kWalFetchNotFound = 1;
inline constexpr int kWalFetchHardError = 128;
// wal-fetch --cleanup's failure: as recovery_end_command, PostgreSQL only
// warns about a status up to 125 (above, it stops the server).
inline constexpr int kWalFetchCleanupFailed = 1;
// Segments kept fetched ahead: pgBackRest's archive-get-queue-max (128 MB).
inline constexpr unsigned kDefaultWalPrefetch = 8;
// Threads (each with its own connection) of the background fetcher, at most.
inline constexpr unsigned kMaxWalPrefetchThreads = 8;

struct WalFetchOptions {
  RepositoryOptions repo;
  std::string system_id;  // default: global/pg_control of the working directory
  std::string file_name;  // %f
  std::string path;       // %p
  std::string spool_dir;  // default: "<data directory>.pgvault-spool"
  unsigned prefetch = kDefaultWalPrefetch;
  unsigned prefetch_threads = 0;  // 0: the number of cores, at least 2 (at most 8, --prefetch)
  bool cleanup = false;           // --cleanup: remove the spool (recovery_end_command)
  bool prefetch_worker = false;   // internal: the detached background fetcher
};

// wal-fetch's spool of a data directory when no --spool-dir is given:
// "<data directory>.pgvault-spool", beside it (absolute).
std::string default_wal_spool_dir(const std::string& data_directory);

Command add_wal_fetch_command(CLI::App& app);
int run_wal_fetch(const WalFetchOptions& options);

}  // namespace pgvault::cli
