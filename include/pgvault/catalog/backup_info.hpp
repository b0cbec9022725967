// What `pgvault info` shows of one backup, gathered by the command from the
// repository (backup.json, the chain, the verification record, the archived
// WAL) and rendered here as JSON, so that its shape is one thing, tested.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/verification_record.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgvault {

// The WAL of a physical backup.
struct BackupWalInfo {
  std::uint64_t segment_size = 0;
  // From start_lsn to stop_lsn on the backup's timeline: the segments the
  // backup holds itself (pg_wal in base.tar) and needs to be consistent.
  std::string first_segment, last_segment;
  // The archived WAL after the backup, which point-in-time recovery from it
  // replays; unset when the archive was not read.
  struct Archive {
    bool any = false;           // a segment of the system is archived at all
    std::string continuous_to;  // LSN where the continuous WAL from stop_lsn ends
    std::uint32_t to_timeline = 0;
    std::string first_missing;  // the first needed segment not archived ("" = none)
    std::string problem;        // why the path cannot be followed ("" = none)
  };
  std::optional<Archive> archive;
};

struct BackupInfo {
  BackupMeta meta;
  // Incremental: its chain, newest first (the full backup last), or why it is
  // broken.
  std::vector<std::string> chain;
  std::string chain_error;
  std::optional<VerificationRecord> verification;  // the last one, if any
  std::string verification_error;                  // its record exists but cannot be read
  std::optional<BackupWalInfo> wal;                // physical backups
};

// Seconds from started_at to completed_at (fractions included); nullopt when
// either is missing or malformed.
std::optional<double> backup_duration_seconds(const BackupMeta& meta);
// source_bytes / stored_bytes; nullopt when nothing was stored.
std::optional<double> compression_ratio(const BackupMeta& meta);
// The segments from start_lsn to stop_lsn on the backup's timeline.
BackupWalInfo backup_wal_segments(const BackupMeta& meta, std::uint64_t wal_segment_size);

// {"name", "kind", "parent", "chain", "chain_error", "system_identifier",
//  "pg_version", "database", "label", "trigger", "initiated_by",
//  "started_at", "completed_at", "duration_seconds", "timeline", "start_lsn",
//  "stop_lsn", "source_bytes", "stored_bytes", "compression_ratio",
//  "compression": {"algorithm", "level", "compressed_by"},
//  "encryption": {"algorithm", "key_fingerprint", "key_derivation"},
//  "digest", "objects": [{"name", "size", "sha256"}],
//  "verification": {"status", "verified_at", "verified_by", "restore_test",
//                   "error"} | null,
//  "wal": {"segment_size", "included": {"first", "last"},
//          "archive": {...} | null} | null}
// (absent members: see the README's `pgvault info`), indented by 2.
std::string backup_info_json(const BackupInfo& info);

}  // namespace pgvault
