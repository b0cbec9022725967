// The outcome of a backup's verification, kept in the repository beside its
// backups so that `pgvault list`, `pgvault metrics` and an auditor see when
// each backup was last proven readable with no database at hand (the row in
// vault.backups is lost with the server).
//
//   <system-identifier>/verifications/<backup-name>.json
//
// One object per backup, overwritten by each verification (the newest
// outcome is what monitoring asks about; the history of outcomes is the
// server's log and vault.backups). Outside the backup's directory, so the
// backup's objects, its checksum and `unlisted object` checks are unchanged.
// Nothing read back is trusted: from_json checks every field and a record
// that names another backup or system is refused.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvault {

class Repository;

struct VerificationRecord {
  // Raised when a reader could misread a newer record; unknown fields are ignored.
  static constexpr int kFormatVersion = 1;

  int format_version = kFormatVersion;
  std::string backup;
  std::string system_identifier;
  std::string kind;         // the backup's kind, as its backup.json says
  std::string verified_at;  // ISO 8601 UTC, "2026-12-05T16:20:00.123Z"
  bool passed = false;
  std::string error;  // why it failed; empty when passed
  // Who verified: "pgvault verify", "vault.verify_backup" or "scheduled verification".
  std::string verified_by;
  bool restore_test = false;  // the backup was also restored and started
  std::uint64_t objects = 0;
  std::uint64_t bytes_read = 0;

  // {"format_version":1,"backup":...,"status":"passed"|"failed",...}
  std::string to_json() const;
  // Throws Error(corrupt) naming what is missing or malformed and
  // Error(unsupported) for a format_version newer than kFormatVersion.
  static VerificationRecord from_json(std::string_view json);
};

// "<sysid>/verifications/<name>.json"; validates both parts like backup paths.
std::string verification_record_path(const std::string& system_identifier,
                                     const std::string& backup);

// Writes the record (the repository's format is checked first). Throws what
// the store throws; see record_verification for callers that must go on.
void write_verification_record(Repository& repo, const VerificationRecord& record);

// Writes the record, or returns a warning for the operator when the store
// refuses (read-only credentials, an unreachable store): a verification's
// outcome stands without its record.
std::optional<std::string> record_verification(Repository& repo, const VerificationRecord& record);

// A verification record that exists but cannot be used.
struct UnreadableVerification {
  std::string system_identifier;
  std::string backup;
  std::string error;
};

// Every verification record of a system (empty: of every system), read from
// one listing of "<sysid>/verifications/", by (system identifier, backup).
struct VerificationListing {
  std::map<std::pair<std::string, std::string>, VerificationRecord> records;
  std::vector<UnreadableVerification> unreadable;  // by system identifier, then backup

  const VerificationRecord* find(const std::string& system_identifier,
                                 const std::string& backup) const;
};
VerificationListing read_verification_records(Repository& repo,
                                              const std::string& system_identifier = "");

// Removes a backup's record, if any (the backup itself is being removed).
void remove_verification_record(Repository& repo, const std::string& system_identifier,
                                const std::string& backup);

}  // namespace pgvault
