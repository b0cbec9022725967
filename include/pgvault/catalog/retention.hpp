#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/other_servers.hpp"  // ServerPosition
#include "pgvault/wal/wal_catalog.hpp"        // WalHistoryReader

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

class Repository;

// One retention rule (pgvault.retention_count / pgvault.retention_days, or
// their logical_ counterparts). 0 = not set.
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

// Retention is applied per group, never across groups: the physical backups
// of the cluster are one group; logical backups form one group per database
// and selection (what pg_dump was asked to dump), pre_restore backups
// included (they are full logical dumps of their database). So a logical
// dump never expires a physical backup, a dump of one database never
// expires another's, and the newest backup of each group is always kept.
struct RetentionPolicies {
  RetentionPolicy physical = {};
  RetentionPolicy logical = {};  // applied to each logical group on its own
  bool enabled() const { return physical.enabled() || logical.enabled(); }
};

struct RetentionCandidate {
  std::string name;
  std::int64_t completed_at = 0;  // unix seconds
  std::string kind = "physical";  // "physical" (full or incremental) or "logical"
  std::string group = {};         // logical: database and selection (retention_group)
  // Where a physical backup ends in the WAL (0 for dumps): orders two backups
  // that complete within one second (a full and a fast incremental on it).
  std::uint64_t stop_lsn = 0;
};

// The group key of a logical backup: its database and its selection.
std::string retention_group(const std::string& database, const std::string& selection_json);

// Names to expire, oldest first, applying one policy to all candidates as
// one group. Candidates are complete backups in any order.
std::vector<std::string> plan_retention(const std::vector<RetentionCandidate>& complete,
                                        const RetentionPolicy& policy, std::int64_t now);

// Names to expire, oldest first: each group with its kind's policy. A
// candidate of an unknown kind is never expired.
std::vector<std::string> plan_retention_by_group(const std::vector<RetentionCandidate>& complete,
                                                 const RetentionPolicies& policies,
                                                 std::int64_t now);

// The newest backup of each group (never removed, by retention or by hand).
std::vector<std::string> newest_of_each_group(const std::vector<RetentionCandidate>& complete);

struct RetentionResult {
  std::vector<std::string> expired;    // complete backups removed by the policy
  std::vector<std::string> leftovers;  // incomplete backups (no backup.json) removed
  // Backups whose backup.json cannot be read (damaged, or written by a newer
  // pgvault): never removed, never counted. Their errors, each naming its backup.
  std::vector<std::string> kept_unreadable;
  // Archived WAL removed because no remaining physical backup needs it
  // (wal/wal_retention.hpp): the object count and, per timeline, the range.
  std::size_t wal_removed_objects = 0;
  std::vector<std::string> wal_removed_ranges;
  // Why no archived WAL was removed, when there was a reason worth saying.
  std::string wal_kept_reason;
  // Physical backups on another server's history (catalog/other_servers.hpp):
  // never expired nor counted by this run. Each says which and why.
  std::vector<std::string> kept_other_servers;
  // Backups the policy would expire that a remaining incremental backup
  // depends on (keep_chain_parents). Each says which and why.
  std::vector<std::string> kept_for_chains;
};

struct BackupMeta;
// The complete backups of `listed` as retention candidates (group set);
// `running` and backups whose completion time cannot be read are left out.
std::vector<RetentionCandidate> retention_candidates(const std::vector<BackupMeta>& listed,
                                                     const std::string& system_identifier,
                                                     const std::string& running);

// Incremental backups make chains (catalog/backup_meta.hpp `parent`): a
// backup restores only with every backup below it. Removes from `planned`
// (names to expire) every backup that a backup of `complete` not in
// `planned` depends on, through any number of links, and returns why each
// stays ("backup P stays: incremental backup S, which stays, is restored
// on top of it"). Backups not in `complete` are ignored.
std::vector<std::string> keep_chain_parents(const std::vector<BackupMeta>& complete,
                                            std::vector<std::string>& planned);

// The incremental backups of `complete` whose parent is `name`, oldest name
// first: removing `name` would leave them unrestorable.
std::vector<std::string> dependent_backups(const std::vector<BackupMeta>& complete,
                                           const std::string& name);

// Applies the policies to one system's backups in the repository: removes the
// expired backups (backup.json first) and the leftovers of incomplete
// backups whose newest object is older than leftover_min_age seconds.
// `abandoned` names backups known to have failed whose cleanup did not
// finish (the store was unreachable): their directories are removed now,
// whatever their age and even when no object is listed (an object store may
// hold an unfinished multipart upload there). An abandoned name that still
// has a backup.json is left alone. `running` (the backup being written now,
// may be empty) is never touched. The repository, not the database, decides
// what exists.
// With a physical policy set, the archived WAL of the system that no
// remaining physical backup needs is removed too (apply_wal_retention;
// read_wal_history decodes history files, whose ancestry decides what older
// timelines keep). It is left alone while a backup.json of the system is
// unreadable (that backup may need it; wal_kept_reason says so).
// A backup a remaining incremental depends on is never expired
// (keep_chain_parents; kept_for_chains says which): retention counts
// restore points, full and incremental alike, and keeps each chain whole.
// `self`, when given, is the server the run belongs to: physical backups on
// another server's history are left out of the policy (kept_other_servers).
// Without it (a run that is no server's) every backup of the system counts.
RetentionResult apply_retention(Repository& repo, const std::string& system_identifier,
                                const RetentionPolicies& policies, std::int64_t now,
                                const std::string& running, std::int64_t leftover_min_age = 86400,
                                const std::vector<std::string>& abandoned = {},
                                const WalHistoryReader& read_wal_history = {},
                                const ServerPosition* self = nullptr);

}  // namespace pgvault
