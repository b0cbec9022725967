// Who this cluster is in a repository: its system identifier (the top level
// of the repository layout) and where a backup of it is stored.
#pragma once

#include <string>

namespace pgvault::pg {

// pg_control's system identifier, in decimal.
std::string system_identifier_string();

// "<repository URL>/<system identifier>/backups/<name>/": what vault.history
// shows as a backup's location. Only shown: the row keeps the repository
// and the system identifier in their own columns for pgvault to use.
std::string backup_location(const std::string& repository_url, const std::string& system_identifier,
                            const std::string& name);

}  // namespace pgvault::pg
