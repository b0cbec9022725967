// Which backup an incremental backup is taken against (issue 16).
//
// Contract of choose_incremental_parent: among the complete backups of the
// listing, the newest (by completion time, then name) physical backup (full
// or incremental, BackupMeta::is_physical) of system_identifier that
//  - is on the server's timeline (pages changed since a backup of an earlier
//    timeline cannot be told apart from another server's: take a full after a
//    promotion),
//  - ends at or before the server's position (a backup that ends after it was
//    written by another server of the system, or before a restore to an
//    earlier point: its pages are not this server's past), and
//  - restores: its chain down to a full is whole (catalog/backup_chain.hpp).
// None: Error(not_found) that says what was looked for, what the newest
// physical backup of the system is and why it was passed over (or that there
// is none), and what to do (take a full backup).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <string>

namespace pgvault {

struct RepositoryListing;

BackupMeta choose_incremental_parent(const RepositoryListing& listing,
                                     const std::string& system_identifier, TimelineId timeline,
                                     Lsn position, const std::string& repository_url);

}  // namespace pgvault
