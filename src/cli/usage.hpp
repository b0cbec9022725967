// How the pgvault command answers a command line it cannot run: every usage
// error as `pgvault: error: …` on standard error, then where to read more
// (as PostgreSQL's own programs do), and a mistyped command name answered
// with the closest one.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace pgvault::cli {

// The end of `pgvault --help`: what the commands are for, an example, and
// where the rest is documented.
extern const char* const kTopLevelFooter;

bool is_command(const std::vector<std::string>& commands, std::string_view word);

// "unknown command 'lst'; did you mean 'list'?" (the closest command by
// edit distance, when one is close), else the list of commands.
std::string unknown_command_message(const std::vector<std::string>& commands,
                                    std::string_view word);

// CLI11's message, in the words of the README ("no command given; …").
std::string usage_error_message(const CLI::ParseError& error);

// `pgvault: error: MESSAGE` and `Try "pgvault [COMMAND] --help" for more
// information.` on standard error.
void print_usage_error(const std::string& message, std::string_view command);

// "Example:" and the lines after it, for a command's --help footer.
std::string help_example(const std::vector<std::string>& lines);

}  // namespace pgvault::cli
