// pgvault restore: a physical backup into a new data directory, optionally
// with a point-in-time recovery target (recovery.signal, restore_command =
// pgvault wal-fetch), and what the restored copy carries over (archiving,
// the schedule).
#pragma once

#include "command.hpp"
#include "command_progress.hpp"
#include "repository_options.hpp"

#include "pgvault/wal/recovery_target.hpp"

#include <string>
#include <vector>

namespace pgvault::cli {

struct RestoreCliOptions {
  RepositoryOptions repo;
  std::string backup;  // a name or "latest"
  std::string pgdata;
  std::string system_id;
  std::vector<std::string> tablespace_mapping;  // OLDDIR=NEWDIR or OID=NEWDIR
  RecoveryTargetOptions target;                 // --target* (unset = not given)
  std::string archive_mode = "off";             // --archive-mode off|preserve
  std::string schedule = "off";                 // --schedule off|preserve
  bool delta = false;                           // --delta: re-sync an existing data directory
  unsigned port = 0;                            // --port: the copy's port; 0 = not given
  ProgressOptions progress;                     // --quiet, --progress, --no-progress, --max-rate
};

Command add_restore_command(CLI::App& app);
int run_restore(const RestoreCliOptions& options);

}  // namespace pgvault::cli
