// Where the job worker's incremental backups read from (physical/
// incremental_backup.hpp): its own session's pg_backup_start and
// pg_backup_stop, the server's data directory, and the WAL from start to stop
// in pg_wal, kept there by a temporary replication slot for the length of
// the backup. Defined in incremental_source.cpp.
//
// Contract:
//  - start() creates the temporary physical slot (reserving WAL now, before
//    the backup's checkpoint), then runs pg_backup_start(label, fast => true)
//    in the worker's session; the timeline is the one WAL is inserted on.
//  - stop() runs pg_backup_stop(wait_for_archive => false): the segment
//    holding the stop position is complete (PostgreSQL switches segments), so
//    wal_files() can name every segment from start to stop on the timeline.
//  - The destructor ends what start() began when stop() was not reached
//    (pg_backup_stop, then the slot is dropped), logging instead of throwing;
//    a worker that dies instead leaves both to PostgreSQL (the session's
//    abort handler and the slot's temporary life).
//  - Every call is made on the worker's main thread (the runner's contract).
#pragma once
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/physical/incremental_backup.hpp"

#include <functional>
#include <string>

namespace pgvault {
class Repository;
}

namespace pgvault::pg {

// The backup an incremental taken now stores the changes since:
// choose_incremental_parent at this server's WAL insert position and
// timeline. Throws its Error(not_found) when no backup can be the parent.
BackupMeta incremental_parent_now(Repository& repo, const std::string& system_identifier,
                                  const std::string& repository_url);

class JobIncrementalSource final : public IncrementalSource {
 public:
  // check_interrupts is called while waiting for the WAL summarizer (it
  // throws to stop: a cancel, a SIGTERM).
  JobIncrementalSource(std::string label, std::function<void()> check_interrupts);
  ~JobIncrementalSource() override;
  JobIncrementalSource(const JobIncrementalSource&) = delete;
  JobIncrementalSource& operator=(const JobIncrementalSource&) = delete;

  StartPoint start() override;
  std::filesystem::path data_directory() override;
  StopPoint stop() override;
  std::vector<std::filesystem::path> wal_files(Lsn start, Lsn stop) override;
  // From the summarizer worker: wal_changes_since (wal_summarizer.hpp).
  WalChanges wal_changes(Lsn from, Lsn to) override;

 private:
  void drop_slot();

  std::string label_;
  std::function<void()> check_interrupts_;
  std::string slot_;
  bool slot_created_ = false;
  bool backup_started_ = false;
  TimelineId timeline_ = 0;
};

}  // namespace pgvault::pg
