// Retention as the settings configure it, applied to the repository: after
// every successful backup (job worker) and by vault.cleanup().
#pragma once

#include <string>
#include <vector>

namespace pgvault {
class Repository;
struct RetentionResult;
struct RetentionPolicies;
}  // namespace pgvault

namespace pgvault::pg::history {
struct PendingCleanup;
}

namespace pgvault::pg {

// pgvault.retention_count/_days for physical backups and
// pgvault.logical_retention_count/_days (-1: the physical ones) for logical.
RetentionPolicies configured_retention();

// Applies configured_retention() per group (see RetentionPolicies) to this
// system's backups in the repository at repository_url (never touching
// `running`) and removes the partial objects of failed backups whose cleanup
// is pending, each in the store it was written to: with this repository's
// retention, or in its own repository if that can be reached now (else it
// stays pending). Logs what it removed; the caller marks the rows
// (result.leftovers: cleanup done). Throws on storage errors of this repository.
RetentionResult apply_configured_retention(Repository& repo, const std::string& repository_url,
                                           const std::string& system_identifier,
                                           const std::string& running,
                                           const std::vector<history::PendingCleanup>& pending);

}  // namespace pgvault::pg
