// pgvault info NAME|latest: everything the repository knows of one backup
// (its backup.json, chain, last verification and WAL), as text or --json.
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct InfoOptions {
  RepositoryOptions repo;
  std::string backup;  // a name or "latest"
  std::string system_id;
  bool json = false;
};

Command add_info_command(CLI::App& app);
int run_info(const InfoOptions& options);

}  // namespace pgvault::cli
