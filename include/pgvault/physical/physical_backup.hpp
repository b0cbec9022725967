// Physical backups: BASE_BACKUP over a replication connection to the server,
// each archive and the manifest into its own object (BaseBackupReceiver),
// backup.json last. The connection is the server side's (libpq, waiting on
// the latch); everything else is here, and runs offline against a scripted
// connection in the unit tests.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/backup_meta.hpp"

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

class Repository;

// A replication connection to the server being backed up, as the base-backup
// protocol needs it. Implementations check for interrupts while they wait and
// throw to abandon; every error is a pgvault::Error.
class ReplicationConnection {
 public:
  using Rows = std::vector<std::vector<std::string>>;
  virtual ~ReplicationConnection() = default;
  virtual void send_command(const std::string& command) = 0;
  // The next result of the command: its rows as text; `what` names it in errors.
  virtual Rows next_rows(const char* what) = 0;
  // The next result must start COPY OUT.
  virtual void expect_copy_out(const char* what) = 0;
  // Delivers each CopyData message to on_message until the COPY ends.
  virtual void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message) = 0;
  // Stops reading for `pause`: the server blocks on the full socket meanwhile.
  virtual void pause_reading(std::chrono::milliseconds pause) = 0;
  // Reads every remaining result; the rows of the last row set.
  virtual Rows finish_command(const char* what) = 0;
};

// The BASE_BACKUP command for req. server_max_rate: let the server throttle
// (MAX_RATE counts the bytes it sends, which are the bytes it reads only
// without server-side compression). Built in the core, beside the code that
// reads the answer: it is text that follows from the request alone, and what
// the receiver expects (a manifest, tablespace maps, PROGRESS's size column,
// the server's compression suffix on archive names) follows from what it asks.
std::string base_backup_command(const BackupRequest& req, bool server_max_rate);

// Runs BASE_BACKUP for a physical req over server and writes the backup into
// the repository, backup.json last. progress() is called as data arrives
// (phases "checkpoint", "streaming", "finishing"). On failure every object
// written is removed again and the error rethrown.
//
// One writer per system and timeline: once the server said where the backup
// starts, a complete physical backup of the same system on the same timeline
// that ends after that position means a second server of this system writes
// into the repository on that timeline (a copy restored without a recovery
// target runs on the original's timeline, behind it). Such a backup is
// refused with Error(conflict) before a single object is written (see
// refuse_second_writer); a copy restored to a point is promoted to a new
// timeline and is not refused.
BackupMeta run_physical_backup(Repository& repo, const BackupRequest& req,
                               ReplicationConnection& server,
                               const std::function<void(const BackupProgress&)>& progress);

// Throws Error(conflict) when `listed` holds a physical backup of
// system_identifier on `timeline` that ends after `start_lsn` (pg_lsn text),
// naming that backup, both positions and what to do. Backups whose positions
// cannot be read are ignored (their own checks report them).
void refuse_second_writer(const std::vector<BackupMeta>& listed,
                          const std::string& system_identifier, std::uint32_t timeline,
                          const std::string& start_lsn);

}  // namespace pgvault
