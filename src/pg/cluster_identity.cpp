#include "pgvault/catalog/repository.hpp"

#include "cluster_identity.hpp"

#include "postgres_headers.hpp"

namespace pgvault::pg {

std::string system_identifier_string() {
  return std::to_string(GetSystemIdentifier());
}

std::string backup_location(const std::string& repository_url, const std::string& system_identifier,
                            const std::string& name) {
  return repository_url + "/" + Repository::backup_dir(system_identifier, name);
}

}  // namespace pgvault::pg
