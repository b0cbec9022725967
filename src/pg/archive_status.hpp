// The archiver's state (ArchiveState in shared memory, written by
// wal_archive.cpp) as SQL sees it and as NOTIFY pgvault events.
#pragma once

#include <cstdint>
#include <optional>

namespace pgvault::pg {

// pg_wal/archive_status: what PostgreSQL has yet to hand to the archiver.
// Read without PostgreSQL calls (no pg_monitor needed for the view's reader;
// the alerts worker has no database).
struct WaitingWal {
  std::int64_t files = 0;                   // every .ready file
  std::int64_t segments = 0;                // of them: whole segments (24 hex digits, no suffix)
  std::optional<std::int64_t> oldest_unix;  // the oldest .ready file's time (when it was finished)
};
WaitingWal waiting_wal();

// Sends the NOTIFY pgvault events of archive failures and recoveries that
// happened since the last call (one per new failed file, one per recovery),
// each in its own committed transaction. The scheduler calls it: the
// archiver has no database connection. Throws on SPI errors.
void send_archive_events();

}  // namespace pgvault::pg
