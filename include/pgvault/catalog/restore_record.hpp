// A restore, kept in the repository beside the backups so that an auditor
// sees every physical restore and restore test with no database at hand
// (the CLI restores with none running; `pgvault report` shows them):
//
//   <system-identifier>/restores/<compact time>-<backup-name>.json
//
// One object per restore, never overwritten (two restores of one backup in
// the same second get "-2", "-3"...). Outside the backups' directories, so
// a backup's objects, checksum and `unlisted object` checks are unchanged.
// Nothing read back is trusted: from_json checks every field and a record
// whose key names another system is refused.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class Repository;

struct RestoreRecord {
  // Raised when a reader could misread a newer record; unknown fields are ignored.
  static constexpr int kFormatVersion = 1;

  int format_version = kFormatVersion;
  std::string system_identifier;
  std::string backup;      // the backup restored (an incremental: the chain's newest)
  std::string kind;        // the backup's kind
  std::string restore;     // "restore", "restore --delta" or "restore test"
  std::string started_at;  // ISO 8601 UTC
  std::string finished_at;
  bool succeeded = false;
  std::string error;            // why it failed; empty when it succeeded
  std::string restored_by;      // the operating system user and host: "postgres@db1"
  std::string target;           // where to: a data directory, or "scratch directory"
  std::string recovery_target;  // "--target-time ...", "" when none
  std::uint64_t bytes_written = 0;

  // {"format_version":1,...,"status":"succeeded"|"failed",...}
  std::string to_json() const;
  // Throws Error(corrupt) naming what is missing or malformed and
  // Error(unsupported) for a format_version newer than kFormatVersion.
  static RestoreRecord from_json(std::string_view json);
};

// "<sysid>/restores/" (validated like backup paths).
std::string restore_records_prefix(const std::string& system_identifier);

// Writes the record under a new key (never over another record), or returns
// a warning for the operator when the store refuses (read-only credentials,
// an unreachable store): a restore's outcome stands without its record.
std::optional<std::string> record_restore(Repository& repo, const RestoreRecord& record);

struct UnreadableRestoreRecord {
  std::string system_identifier;
  std::string key;
  std::string error;
};

// Every restore record of a system (empty: of every system), oldest first.
struct RestoreListing {
  std::vector<RestoreRecord> records;
  std::vector<UnreadableRestoreRecord> unreadable;
};
RestoreListing read_restore_records(Repository& repo, const std::string& system_identifier = "");

}  // namespace pgvault
