#include "common_options.hpp"

namespace pgvault::cli {

CLI::Option* add_backup_option(CLI::App* cmd, std::string& backup, std::string_view latest_is) {
  return cmd
      ->add_option("--backup", backup, "Backup name, or \"latest\": " + std::string(latest_is))
      ->required();
}

CLI::Option* add_system_id_option(CLI::App* cmd, std::string& system_id) {
  return cmd->add_option("--system-id", system_id,
                         "Database system identifier (needed when the repository holds several)");
}

CLI::Option* add_system_id_filter(CLI::App* cmd, std::string& system_id) {
  return cmd->add_option("--system-id", system_id,
                         "Only backups of this database system identifier");
}

CLI::Option* add_database_option(CLI::App* cmd, std::string& database, std::string_view help) {
  return cmd->add_option("--database", database, std::string(help));
}

CLI::Option* add_json_flag(CLI::App* cmd, bool& json, std::string_view what) {
  return cmd->add_flag("--json", json, "Print " + std::string(what));
}

}  // namespace pgvault::cli
