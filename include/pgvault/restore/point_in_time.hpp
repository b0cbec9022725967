// Point-in-time restore: which physical backup to start from for a recovery
// target (wal/recovery_target.hpp), and whether it can get there.
//
// Contract:
//  - A backup is consistent at its stop LSN; recovery cannot stop before it
//    (PostgreSQL: "requested recovery stop point is before consistent recovery
//    point"). So a backup "ends before" the target when
//      time  its completed_at is at or before the target time. completed_at,
//            not started_at: the backup's end (its stop LSN) is in the WAL
//            before pgvault records completed_at, so every transaction that
//            committed before the backup was consistent has a commit time
//            before completed_at. (Clocks of one host; a time target is the
//            server's commit timestamp.) started_at would pick a backup that
//            may be consistent only after the target.
//      lsn   its stop_lsn is at or before the target LSN.
//      xid, name, immediate, latest: nothing in backup.json says where they
//            are; every backup qualifies, and the choice says so.
//  - The backup's timeline must be able to reach the recovery's target
//    timeline (TimelineHistory::reaches): current is the backup's own
//    timeline, N is N, latest is what PostgreSQL 15 picks (findNewestTimeLine:
//    probing backup timeline + 1, + 2, ... while a history file exists).
//  - choose_backup_for_target picks the newest backup (the last one of the
//    list given, oldest first) that ends before the target and reaches its
//    timeline; the choice says why, and which newer backups were passed over
//    and why. None: Error(not_found) listing each backup's reason.
//  - check_backup_for_target checks a backup the user named: one that ends
//    after the target, or cannot reach its timeline, is Error(invalid_argument)
//    saying which and what to do.
//  - TimelineHistories reads each history file at most once through its
//    reader (catalog_history_reader: the files the WAL catalog lists) and
//    parses it strictly (TimelineHistory::parse: Error(corrupt)).
//  - check_target_in_archive: whether the archived WAL (wal/wal_catalog.hpp)
//    reaches the target from the chosen backup; see there.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"  // DecryptorFactory
#include "pgvault/wal/recovery_target.hpp"
#include "pgvault/wal/timeline_history.hpp"
#include "pgvault/wal/wal_catalog.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

class TimelineHistories {
 public:
  // The content of TTTTTTTT.history, or nullopt when there is none.
  using Reader = std::function<std::optional<std::string>(TimelineId)>;
  explicit TimelineHistories(Reader reader) : reader_(std::move(reader)) {}

  bool exists(TimelineId timeline);
  // The parsed history; a timeline without a file has no ancestors
  // (TimelineHistory(timeline)), as PostgreSQL treats it.
  const TimelineHistory& history(TimelineId timeline);
  // PostgreSQL 15's findNewestTimeLine(start).
  TimelineId newest_from(TimelineId start);

 private:
  const std::optional<std::string>& text(TimelineId timeline);
  Reader reader_;
  std::map<TimelineId, std::optional<std::string>> texts_;
  std::map<TimelineId, TimelineHistory> parsed_;
};

// The timeline a recovery of a backup on backup_timeline ends on.
TimelineId resolve_target_timeline(const RecoveryTimeline& spec, TimelineId backup_timeline,
                                   TimelineHistories& histories);

// Whether a backup is consistent before the target (see the contract).
struct BackupVersusTarget {
  enum class Verdict { before, after, unknown };
  Verdict verdict = Verdict::unknown;
  // "completed 2026-12-05 03:59:00+00, at or before the target time ...", or
  // why not; for unknown, why pgvault cannot tell.
  std::string detail;
};
BackupVersusTarget compare_backup_to_target(const BackupMeta& backup, const RecoveryTarget& target);

struct PointInTimeChoice {
  BackupMeta backup;
  TimelineId target_timeline = 0;
  std::string why;                   // one sentence: why this backup
  std::vector<std::string> skipped;  // newer backups passed over, each "NAME: why"
};

// backups: complete physical backups of one system, oldest first.
PointInTimeChoice choose_backup_for_target(const std::vector<BackupMeta>& backups,
                                           const RecoveryTarget& target,
                                           TimelineHistories& histories);
PointInTimeChoice check_backup_for_target(const BackupMeta& backup, const RecoveryTarget& target,
                                          TimelineHistories& histories);

// The decoded content of an archived history object (a WalHistoryReader):
// read whole (at most 4 MB stored: no history file is larger), decrypted
// when it is encrypted, decompressed by its key's suffix. An encrypted object
// without a decryptor is Error(invalid_argument) saying a key is needed.
std::string read_wal_history_object(Storage& storage, const std::string& key,
                                    const DecryptorFactory& decryptor);

// TimelineHistories' reader over a catalog: the history file the catalog
// lists for a timeline, read with read_history (whose errors propagate: a
// history that cannot be read is never taken for a missing one).
TimelineHistories::Reader catalog_history_reader(const WalCatalog& catalog,
                                                 WalHistoryReader read_history);

// Whether the archived WAL lets the chosen backup reach the target, along
// the path to choice.target_timeline (WalCatalog::recoverable_windows):
//  - time and LSN targets must lie in a recoverable window; otherwise
//    Error(invalid_argument) saying the target is not recoverable and
//    stating the windows that exist (from every backup among `backups`), or,
//    when another backup's window holds it but not the chosen one's, that.
//    A time the catalog cannot place (no modification times) passes with a
//    note saying so.
//  - the others cannot be placed: the returned note says how far the
//    archived WAL continues from the backup, and where a gap stops it.
// Returns one line for the restore to print.
std::string check_target_in_archive(const WalCatalog& catalog,
                                    const std::vector<BackupMeta>& backups,
                                    const PointInTimeChoice& choice, const RecoveryTarget& target);

}  // namespace pgvault
