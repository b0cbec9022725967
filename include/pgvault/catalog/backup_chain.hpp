// The chain of backups an incremental backup restores from (issue 16).
//
// Contract:
//  - An incremental backup's backup.json names its parent (BackupMeta::parent):
//    a full physical backup or another incremental. Following parent from a
//    backup down to a full physical backup gives its chain, newest first; a
//    full physical backup is a chain of one.
//  - Every link is checked, and the first broken one is refused with an Error
//    that names the chain's newest backup, the child and its parent and what
//    is wrong: the parent is missing (Error(not_found)), its backup.json is
//    unusable (the reading error's kind: corrupt/unsupported), it belongs to
//    another system, it is of a kind that cannot be a parent (logical), it
//    does not end before the child starts (stop_lsn after the child's
//    start_lsn, or on a later timeline than the child's), or the chain loops
//    (Error(corrupt) for each of these).
//  - A timeline switch between parent and child (child on a later timeline)
//    is accepted: whether the child's timeline history contains the
//    parent's is the taker's check (it reads the server's history); restore
//    needs only the pages.
//  - Nothing is read but backup.json files (through the lookup given).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pgvault {

class Repository;
struct RepositoryListing;

struct BackupChain {
  std::vector<BackupMeta> backups;  // newest first; the last is a full physical backup
  const BackupMeta& newest() const { return backups.front(); }
  const BackupMeta& full() const { return backups.back(); }
  // "A <- B <- C" from the full to the newest (for messages).
  std::string describe() const;
  // The stored bytes of every object of every backup: what a restore of the
  // chain reads at most (a progress total).
  std::uint64_t stored_bytes() const;
};

// The backup.json of a backup of the same system as the child, by name:
// throws Error(not_found) when there is none, or the error that makes it
// unusable.
using BackupLookup =
    std::function<BackupMeta(const std::string& system_identifier, const std::string& name)>;

BackupChain resolve_chain(const BackupMeta& newest, const BackupLookup& lookup);
// With the repository's backup.json files (Repository::read_meta).
BackupChain resolve_chain(Repository& repo, const BackupMeta& newest);
// From one listing (Repository::list_all), reading nothing: what `pgvault
// list` shows. Unreadable parents fail with their listing error.
BackupChain resolve_chain(const RepositoryListing& listing, const BackupMeta& newest);

}  // namespace pgvault
