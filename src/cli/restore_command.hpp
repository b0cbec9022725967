// pgvault restore: a physical backup into a new data directory.
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>
#include <vector>

namespace pgvault::cli {

struct RestoreCliOptions {
  RepositoryOptions repo;
  std::string backup;  // a name or "latest"
  std::string pgdata;
  std::string system_id;
  std::vector<std::string> tablespace_mapping;  // OLDDIR=NEWDIR or OID=NEWDIR
};

Command add_restore_command(CLI::App& app);
int run_restore(const RestoreCliOptions& options);

}  // namespace pgvault::cli
