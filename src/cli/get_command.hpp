// pgvault get: a logical backup's pg_dump archive, decrypted and
// decompressed, as a file stock pg_restore reads.
#pragma once

#include "command.hpp"
#include "command_progress.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct GetOptions {
  RepositoryOptions repo;
  std::string backup;
  std::string system_id;
  std::string database;  // "latest" = the newest dump of this database
  bool include_pre_restore = false;
  std::string output;  // a file, or "-" for standard output
  bool force = false;
  ProgressOptions progress;  // --quiet, --progress, --no-progress, --max-rate
};

Command add_get_command(CLI::App& app);
int run_get(const GetOptions& options);

}  // namespace pgvault::cli
