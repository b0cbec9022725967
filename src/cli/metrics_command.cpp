#include "metrics_command.hpp"

#include "common_options.hpp"
#include "output_file.hpp"
#include "usage.hpp"

#include "pgvault/catalog/metrics.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"

#include <chrono>
#include <iostream>
#include <memory>

namespace pgvault::cli {

Command add_metrics_command(CLI::App& app) {
  auto o = std::make_shared<MetricsOptions>();
  auto* metrics =
      app.add_subcommand("metrics", "Print the repository's metrics in the Prometheus text format");
  metrics->footer(
      "Age, duration and size of the newest backup of each kind, backups and bytes stored, "
      "verification outcomes, archived WAL.\n" +
      help_example({"pgvault metrics --config /etc/postgresql/15/main/postgresql.conf -o "
                    "/var/lib/prometheus/node-exporter/pgvault.prom"}));
  o->repo.add_to(metrics);
  add_system_id_filter(metrics, o->system_id);
  metrics->add_option("--output,-o", o->output,
                      "Write to this file instead of standard output, atomically (NAME.partial, "
                      "then renamed; mode 0644), e.g. into node_exporter's textfile collector "
                      "directory as pgvault.prom");
  return {metrics, [o] { return run_metrics(*o); }};
}

int run_metrics(const MetricsOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const RepositoryState state =
      read_repository_state(repo, o.system_id, restore_key_provider(o.repo.encryption()));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string text = render_prometheus_text(repository_metrics(state, now));
  write_text_output(o.output, text);
  return 0;
}

}  // namespace pgvault::cli
