#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

class Repository;

// pgvault.retention_count / pgvault.retention_days. 0 = not set.
//  - neither set: keep everything;
//  - count only: keep the newest `count` complete backups, expire the rest;
//  - days only: expire complete backups completed more than `days` days ago;
//  - both: keep the newest `count`; of the others expire those older than `days` days.
// Whatever the policy, the newest complete backup is never expired.
struct RetentionPolicy {
  int keep_count = 0;
  int keep_days = 0;
  bool enabled() const { return keep_count > 0 || keep_days > 0; }
};

struct RetentionCandidate {
  std::string name;
  std::int64_t completed_at = 0;  // unix seconds
};

// Names to expire, oldest first. Candidates are complete backups in any order.
std::vector<std::string> plan_retention(const std::vector<RetentionCandidate>& complete,
                                        const RetentionPolicy& policy, std::int64_t now);

struct RetentionResult {
  std::vector<std::string> expired;    // complete backups removed by the policy
  std::vector<std::string> leftovers;  // incomplete backups (no backup.json) removed
};

// Applies the policy to one system's backups in the repository: removes the
// expired backups (backup.json first) and the leftovers of incomplete
// backups whose newest object is older than leftover_min_age seconds.
// `abandoned` names backups known to have failed whose cleanup did not
// finish (the store was unreachable): their directories are removed now,
// whatever their age and even when no object is listed (an object store may
// hold an unfinished multipart upload there). An abandoned name that still
// has a backup.json is left alone. `running` (the backup being written now,
// may be empty) is never touched. The repository, not the database, decides
// what exists.
RetentionResult apply_retention(Repository& repo, const std::string& system_identifier,
                                const RetentionPolicy& policy, std::int64_t now,
                                const std::string& running, std::int64_t leftover_min_age = 86400,
                                const std::vector<std::string>& abandoned = {});

}  // namespace pgvault
