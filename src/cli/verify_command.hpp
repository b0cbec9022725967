// pgvault verify: read a backup back from the repository and check every
// object (and, for physical backups, every file against backup_manifest);
// with --restore-test, also start the restored copy (scratch_server.hpp).
#pragma once

#include "command.hpp"
#include "command_progress.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct VerifyCliOptions {
  RepositoryOptions repo;
  std::string backup;  // a name or "latest"
  std::string system_id;
  std::string kind;      // of "latest"; empty = physical unless database is given
  std::string database;  // "latest" = the newest dump of this database
  bool restore_test = false;
  bool wal = false;          // also the backup's archived WAL (wal/wal_verify.hpp)
  bool stored_only = false;  // VerifyDepth::stored (restore/verify.hpp)
  bool json = false;
  ProgressOptions progress;  // --quiet, --progress, --no-progress, --max-rate
};

Command add_verify_command(CLI::App& app);
int run_verify(const VerifyCliOptions& options);

}  // namespace pgvault::cli
