// Whose backups a retention run may expire. Several servers of one database
// system can write into one repository: the original and a copy restored
// from it and promoted (a test copy beside production, or the replacement of
// a lost server), each on its own timeline. A retention run of one server
// must never expire what another server's recovery depends on, so it leaves
// alone every physical backup that is not on its own history:
//
//  1. a backup on a timeline this server's history does not reach at the
//     backup's stop LSN (a sibling timeline, or its own ancestor after the
//     point where this server forked from it);
//  2. a backup on this server's own timeline that ends after this server's
//     current position (a second server on the same timeline, ahead of it);
//  3. every backup on an ancestor timeline that went on after this server
//     forked from it, on another server: shown by a backup of case 1 on that
//     timeline, or by a segment of that timeline archived after the segment
//     of the fork (the fork's own segment is archived as .partial by the
//     promoted server, and a replacement that recovered to the end of the
//     archive forks inside or right after the last archived segment, so only
//     a later one proves another writer).
//
// Such backups are neither expired nor counted in this server's policy; the
// server whose history they are on expires them, or a DBA removes one with
// vault.delete_backup(). Logical backups carry no WAL position and are not
// judged here. Contract: a pure function of its inputs; keys of the listing
// that are not archived WAL of the system are ignored; a backup whose
// positions cannot be read is left to the other checks (never judged here).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/storage/storage.hpp"  // ObjectInfo
#include "pgvault/wal/timeline_history.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

// The server a retention run belongs to.
struct ServerPosition {
  TimelineHistory history{1};  // its current timeline and that timeline's ancestry
  Lsn position;                // its current WAL insert position
  std::uint64_t wal_segment_size = kDefaultWalSegmentSize;
};

struct OtherServerBackup {
  std::string name;
  std::string reason;  // "backup \"...\" ... : <why it is another server's>"
};

// The physical backups of system_identifier among `complete` that belong to
// another server's history (see above), oldest first as listed.
// wal_listing is Storage::list(wal_root(system_identifier)).
std::vector<OtherServerBackup> backups_of_other_servers(const std::vector<BackupMeta>& complete,
                                                        const std::string& system_identifier,
                                                        const ServerPosition& self,
                                                        const std::vector<ObjectInfo>& wal_listing);

}  // namespace pgvault
