#include "usage.hpp"

#include "pgvault/text.hpp"

#include <algorithm>
#include <iostream>

namespace pgvault::cli {

const char* const kTopLevelFooter =
    "Run \"pgvault COMMAND --help\" for a command's options and an example; \"man pgvault\" "
    "has them all.\n"
    "Examples:\n"
    "  pgvault list --repo file:///var/lib/postgresql/15/pgvault\n"
    "  sudo -u postgres pgvault restore --config /etc/postgresql/15/main/postgresql.conf \\\n"
    "       --backup latest -D /var/lib/postgresql/15/restored --port 5433";

bool is_command(const std::vector<std::string>& commands, std::string_view word) {
  return std::find(commands.begin(), commands.end(), word) != commands.end();
}

std::string unknown_command_message(const std::vector<std::string>& commands,
                                    std::string_view word) {
  std::string closest;
  // A suggestion only for a near miss: at most two edits, and fewer than
  // the word has letters ("ls" is not "get").
  std::size_t best = std::min<std::size_t>(3, word.size());
  for (const std::string& c : commands) {
    const std::size_t d = edit_distance(word, c);
    if (d < best) {
      best = d;
      closest = c;
    }
  }
  std::string message = "unknown command '" + quote_untrusted(word) + "'";
  if (!closest.empty()) return message + "; did you mean '" + closest + "'?";
  std::string all;
  for (const std::string& c : commands) all += (all.empty() ? "" : ", ") + c;
  return message + "; the commands are " + all;
}

std::string usage_error_message(const CLI::ParseError& error) {
  std::string message = error.what();
  if (message == "A subcommand is required") return "no command given";
  // CLI11 starts its sentences with a capital; ours do not.
  if (!message.empty() && message[0] >= 'A' && message[0] <= 'Z' &&
      (message.size() < 2 || !(message[1] >= 'A' && message[1] <= 'Z')))
    message[0] = static_cast<char>(message[0] - 'A' + 'a');
  return message;
}

void print_usage_error(const std::string& message, std::string_view command) {
  std::cout.flush();
  std::cerr << "pgvault: error: " << message << "\n"
            << "Try \"pgvault " << (command.empty() ? "" : std::string(command) + " ")
            << "--help\" for more information.\n";
}

std::string help_example(const std::vector<std::string>& lines) {
  std::string text = lines.size() == 1 ? "Example:" : "Examples:";
  for (const std::string& line : lines) text += "\n  " + line;
  return text;
}

}  // namespace pgvault::cli
