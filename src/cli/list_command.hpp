// pgvault list: the backups of a repository, damaged ones included, as a
// table or as JSON.
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct ListOptions {
  RepositoryOptions repo;
  std::string system_id;  // empty = every system's
  bool json = false;
};

Command add_list_command(CLI::App& app);
int run_list(const ListOptions& options);

}  // namespace pgvault::cli
