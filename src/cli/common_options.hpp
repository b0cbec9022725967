// The options several commands share, each defined here once: its name,
// its check and the part of its help that does not depend on the command.
// (--repo, --config and --encryption-key-file: RepositoryOptions.)
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace pgvault::cli {

// --backup NAME|latest (required). latest_is: which backup "latest" is for
// this command, e.g. "the newest complete physical backup".
CLI::Option* add_backup_option(CLI::App* cmd, std::string& backup, std::string_view latest_is);

// --system-id ID, of commands that work on one backup: the database system
// whose backups are meant.
CLI::Option* add_system_id_option(CLI::App* cmd, std::string& system_id);
// --system-id ID, of commands that show backups: only that system's.
CLI::Option* add_system_id_filter(CLI::App* cmd, std::string& system_id);

// --database DB: logical backups (dumps) of one database. help: what it
// does for this command.
CLI::Option* add_database_option(CLI::App* cmd, std::string& database, std::string_view help);

// --json: the output is JSON on standard output instead of text. what: what
// is printed, e.g. "the outcome as a JSON object".
CLI::Option* add_json_flag(CLI::App* cmd, bool& json, std::string_view what);

}  // namespace pgvault::cli
