// `pgvault verify --wal`: whether a physical backup's archived WAL is whole,
// from the backup's start to the newest archived segment of the newest
// timeline its path reaches (issue 15 item 7).
//
// Contract of verify_backup_wal:
//  - The path: the highest archived timeline whose history reaches the
//    backup (TimelineHistory::reaches at its stop_lsn), else the backup's own
//    timeline. Every timeline above 1 on that path, from the backup's own on,
//    must have its history file archived (PostgreSQL reads it to follow it).
//  - Continuity (WalCatalog::continuity from start_lsn): no needed segment
//    missing while later WAL exists (a gap), and the WAL reaches at least the
//    backup's stop_lsn (else the backup opens no window); a segment used on
//    the way that is archived under two checksums is a conflict.
//  - Every segment used and every history file on the path is read through
//    decryption and decompression (bounded chunks) and its SHA-256 compared
//    with the key's (wal_read.hpp). All damaged objects are collected, then
//    reported together (at most 10 named).
//  - Failures are Error(corrupt) (Error(conflict) for two copies of one
//    segment) whose message names the backup, the missing segment(s) and
//    where the archive continues, or the damaged objects; storage errors
//    propagate as they are.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"  // KeyProvider
#include "pgvault/restore/backup_reading.hpp"     // ProgressLog
#include "pgvault/wal/wal_catalog.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

struct WalVerifyReport {
  std::vector<TimelineId> timelines;  // the path checked, oldest first
  Lsn from;                           // the backup's start_lsn
  Lsn to;                             // the end of the continuous WAL
  TimelineId to_timeline = 0;
  std::string first_segment, last_segment;  // names of the first and last segment read
  std::size_t objects = 0;                  // objects read (segments and histories)
  std::uint64_t stored_bytes = 0;
  std::uint64_t decoded_bytes = 0;
};

WalVerifyReport verify_backup_wal(Storage& storage, const WalCatalog& catalog,
                                  const BackupMeta& backup, const KeyProvider& keys,
                                  const ProgressLog& progress = {});

}  // namespace pgvault
