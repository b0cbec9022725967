// The pgvault command: works on a repository with no running database.
// main() builds the CLI11 app from each command's registration function and
// runs the one given; the commands live in <name>_command.cpp (README.md).
#include "get_command.hpp"
#include "list_command.hpp"
#include "metrics_command.hpp"
#include "report_command.hpp"
#include "restore_command.hpp"
#include "verify_command.hpp"
#include "wal_fetch_command.hpp"

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <string_view>
#include <vector>

#ifndef PGVAULT_VERSION
#define PGVAULT_VERSION "0.1.0"
#endif

int main(int argc, char** argv) {
  using namespace pgvault::cli;
  CLI::App app{"pgvault: list and restore PostgreSQL backups in a pgvault repository", "pgvault"};
  app.set_version_flag("--version", "pgvault " PGVAULT_VERSION);
  app.require_subcommand(1);

  // In the order --help lists them.
  const std::vector<Command> commands = {
      add_list_command(app),   add_restore_command(app),   add_verify_command(app),
      add_get_command(app),    add_wal_fetch_command(app), add_metrics_command(app),
      add_report_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // restore_command: a usage error must stop recovery, not read as "not archived";
    // recovery_end_command (--cleanup): it must not stop the server.
    const bool wal_fetch = argc > 1 && std::string_view(argv[1]) == "wal-fetch";
    bool cleanup = false;
    for (int i = 2; i < argc; ++i) cleanup = cleanup || std::string_view(argv[i]) == "--cleanup";
    if (rc == 0) return 0;
    if (wal_fetch) return cleanup ? kWalFetchCleanupFailed : kWalFetchHardError;
    return 2;
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
