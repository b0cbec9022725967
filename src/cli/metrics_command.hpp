// pgvault metrics: what a monitoring stack scrapes, from the repository
// alone, in the Prometheus text format (catalog/metrics.hpp).
#pragma once

#include "command.hpp"
#include "repository_options.hpp"

#include <string>

namespace pgvault::cli {

struct MetricsOptions {
  RepositoryOptions repo;
  std::string system_id;  // empty = every system's
  std::string output;     // empty or "-" = standard output
};

Command add_metrics_command(CLI::App& app);
int run_metrics(const MetricsOptions& options);

}  // namespace pgvault::cli
