#pragma once

#include <string>

namespace pgvault::pg {

// The repository URL and this cluster's system identifier, as used for the
// location of every backup.
std::string system_identifier_string();
std::string backup_location(const std::string& repository_url, const std::string& name);

}  // namespace pgvault::pg
