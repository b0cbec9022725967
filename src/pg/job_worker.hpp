#pragma once

#include <string>
#include <vector>

namespace pgvault {
class Repository;
struct RetentionResult;
}  // namespace pgvault

namespace pgvault::pg {

// The repository URL and this cluster's system identifier, as used for the
// location of every backup.
std::string system_identifier_string();
std::string backup_location(const std::string& repository_url, const std::string& name);

// Applies pgvault.retention_count/_days to this system's backups in the
// repository (never touching `running`), removes the partial objects of
// failed backups listed in `abandoned` (rows with cleanup_pending), and logs
// what it removed; the caller marks those rows. Throws on storage errors.
RetentionResult apply_configured_retention(Repository& repo, const std::string& system_identifier,
                                           const std::string& running,
                                           const std::vector<std::string>& abandoned);

}  // namespace pgvault::pg
