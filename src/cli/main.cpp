// The pgvault command: works on a repository with no running database.
// main() builds the CLI11 app from each command's registration function and
// runs the one given; the commands live in <name>_command.cpp (README.md).
#include "get_command.hpp"
#include "info_command.hpp"
#include "list_command.hpp"
#include "metrics_command.hpp"
#include "report_command.hpp"
#include "restore_command.hpp"
#include "usage.hpp"
#include "verify_command.hpp"
#include "wal_fetch_command.hpp"

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#ifndef PGVAULT_VERSION
#define PGVAULT_VERSION "0.1.0"
#endif

int main(int argc, char** argv) {
  using namespace pgvault::cli;
  CLI::App app{
      "pgvault: restore, verify and inspect the backups of a pgvault repository (the "
      "pgvault PostgreSQL extension writes them); works on the repository alone, no "
      "database needed",
      "pgvault"};
  app.set_version_flag("--version", "pgvault " PGVAULT_VERSION);
  app.require_subcommand(1);
  app.footer(kTopLevelFooter);

  // In the order --help lists them.
  const std::vector<Command> commands = {
      add_list_command(app),    add_info_command(app),   add_restore_command(app),
      add_verify_command(app),  add_get_command(app),    add_wal_fetch_command(app),
      add_metrics_command(app), add_report_command(app),
  };
  std::vector<std::string> names;
  for (const Command& command : commands) names.push_back(command.subcommand->get_name());

  // restore_command: a usage error must stop recovery, not read as "not archived";
  // recovery_end_command (--cleanup): it must not stop the server.
  const bool wal_fetch = argc > 1 && std::string_view(argv[1]) == "wal-fetch";
  bool cleanup = false;
  for (int i = 2; i < argc; ++i) cleanup = cleanup || std::string_view(argv[i]) == "--cleanup";
  const int usage_status = wal_fetch ? (cleanup ? kWalFetchCleanupFailed : kWalFetchHardError) : 2;

  // CLI11 would say "A subcommand is required" for a mistyped command.
  if (argc > 1 && argv[1][0] != '-' && !is_command(names, argv[1])) {
    print_usage_error(unknown_command_message(names, argv[1]), "");
    return usage_status;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    print_usage_error(usage_error_message(e),
                      argc > 1 && is_command(names, argv[1]) ? argv[1] : "");
    return usage_status;
  }

  try {
    for (const Command& command : commands) {
      if (*command.subcommand) return command.run();
    }
  } catch (const std::exception& e) {  // pgvault::Error and the rest alike
    std::cout.flush();
    std::cerr << "pgvault: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
