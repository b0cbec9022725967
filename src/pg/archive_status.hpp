// The archiver's state (ArchiveState in shared memory, written by
// wal_archive.cpp) as SQL sees it and as NOTIFY pgvault events.
#pragma once

namespace pgvault::pg {

// Sends the NOTIFY pgvault events of archive failures and recoveries that
// happened since the last call (one per new failed file, one per recovery),
// each in its own committed transaction. The scheduler calls it: the
// archiver has no database connection. Throws on SPI errors.
void send_archive_events();

}  // namespace pgvault::pg
