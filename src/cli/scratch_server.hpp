// pgvault verify --restore-test: a physical backup restored into a scratch
// directory and started there as a server of its own, that nothing of the
// cluster it came from can reach and that reaches nothing of it; asked one
// query, stopped and removed, however the test ends (Ctrl-C included).
#pragma once

#include "command_progress.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/restore/physical_restore.hpp"

#include <functional>
#include <string>

namespace pgvault::cli {

struct RestoreTestResult {
  std::string user;            // the role the query ran as
  std::string server_version;  // as the server reported it
  std::string databases;       // how many it has
  bool in_recovery = false;
  std::string replayed_to;  // with a restore_command: the last LSN replayed before promotion
  double seconds = 0;       // the whole test
  std::string read;         // the restore's read: "30 MB read in 12.3 s, 2496 kB/s"
};

// Restores meta into a scratch directory, starts a server on it, waits until
// it answers a query, stops it and removes everything. The restore performs
// every check verify does (the same code reads, decodes and checks against
// backup_manifest), so the backup is read once; `restored` says what it
// read. `say` gets a line for each step; `progress` follows the restore's
// read against the chain's stored bytes (the command's progress line). Throws when the server does
// not start or answer (naming its log's last lines), or on SIGINT/SIGTERM/SIGHUP. With a
// restore_command (pgvault wal-fetch of the same repository), the copy starts in archive recovery
// instead, replays every archived segment on the way to the newest timeline and promotes; the test
// waits for that, so a missing or damaged segment fails it (the server stops on wal-fetch's hard
// error and the log says which file).
RestoreTestResult restore_test(
    Repository& repo, const BackupMeta& meta,
    const std::function<DecryptorFactory(const BackupMeta&)>& decryptor_of, RestoreReport& restored,
    const std::function<void(const std::string&)>& say, CommandProgress& progress,
    const std::string& restore_command = "");

}  // namespace pgvault::cli
