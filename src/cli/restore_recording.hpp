// The record of a restore the command ran (pgvault restore, verify
// --restore-test), kept in the repository for the audit report
// (catalog/restore_record.hpp): who, when, which backup, to where, outcome.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/restore_record.hpp"

#include <cstdint>
#include <string>

namespace pgvault {
class Repository;
}

namespace pgvault::cli {

class RestoreRecording {
 public:
  // Starts the clock. what: "restore", "restore --delta" or "restore test".
  RestoreRecording(Repository& repo, const BackupMeta& meta, std::string what, std::string target,
                   std::string recovery_target);
  // Writes the record; a store that refuses it (read-only credentials) costs
  // a warning on standard error, never the restore's outcome. Once only.
  void finish(bool succeeded, const std::string& error, std::uint64_t bytes_written);

 private:
  Repository& repo_;
  RestoreRecord record_;
  bool done_ = false;
};

// "postgres@db1": the operating system user running this command and the host.
std::string os_user_at_host();

}  // namespace pgvault::cli
