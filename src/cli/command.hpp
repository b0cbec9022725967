// A pgvault subcommand as main() dispatches it. Each command file has one
// registration function, add_<name>_command(app), that adds the subcommand
// and its options to the app and returns this: the subcommand (to see
// whether it was given) and what runs it with the options parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace pgvault::cli {

struct Command {
  CLI::App* subcommand;
  std::function<int()> run;  // the exit status; throws pgvault::Error on failure
};

}  // namespace pgvault::cli
