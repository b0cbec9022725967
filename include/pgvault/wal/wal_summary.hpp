// What a stretch of WAL changed in the relation files: the blocks its records
// reference, per relation fork, plus the changes that reference no block.
// An incremental backup can read these blocks instead of every page of the
// cluster (issue 16); PostgreSQL 17 keeps such summaries itself
// (walsummarizer), PostgreSQL 15 does not.
//
// Contract:
//  - add() takes WalRecordReader's records in order. Every block a record
//    references has changed, whatever the record does to it.
//  - Storage records (resource manager 2, catalog/storage_xlog.h):
//      XLOG_SMGR_CREATE 0x10 {RelFileNode; ForkNumber (i32)}: the fork is
//        created: the whole file is new.
//      XLOG_SMGR_TRUNCATE 0x20 {BlockNumber; RelFileNode; flags (i32)}: with
//        SMGR_TRUNCATE_HEAP 0x1 the main fork is cut to that many blocks;
//        every block from the lowest cut on may hold new data afterwards
//        (re-extension writes no reference for zero pages). With
//        SMGR_TRUNCATE_VM 0x2 / _FSM 0x4 those forks are cut at a length the
//        server computes and does not log: the whole fork counts as changed.
//  - Database records (resource manager 4, commands/dbcommands_xlog.h):
//      XLOG_DBASE_CREATE_FILE_COPY 0x00 {db, tablespace, source db, source
//        tablespace}: files copied without block references: every file of
//        the new database counts as changed.
//      XLOG_DBASE_CREATE_WAL_LOG 0x10 and XLOG_DBASE_DROP 0x20: nothing more
//        (the first logs every page it writes; the second removes files).
//  - A storage or database record too short for its structure throws
//    Error(corrupt) naming its LSN.
//  - What PostgreSQL changes without a block reference and without any of
//    the records above, a summary cannot see: visibility-map bits cleared by
//    heap changes (the map page is not a referenced block), the free space
//    map (not WAL-logged), hint bits without data checksums or
//    wal_log_hints. Callers store those forks whole, as incremental backups
//    do already (src/core/physical/README.md).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_records.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace pgvault {

inline constexpr std::uint32_t kRelationSegmentBlocks = 131072;  // RELSEG_SIZE: 1 GB of 8 kB
inline constexpr std::uint32_t kDefaultTablespaceOid = 1663;     // base/
inline constexpr std::uint32_t kGlobalTablespaceOid = 1664;      // global/

struct RelationForkId {
  RelFileNode node;
  std::uint8_t fork = 0;
  auto operator<=>(const RelationForkId&) const = default;
};

struct ForkChanges {
  std::vector<std::uint32_t> blocks;          // referenced blocks (sorted once finished)
  std::optional<std::uint32_t> truncated_to;  // the lowest length the fork was cut to
  bool whole = false;                         // created, or cut at an unlogged length
};

// The blocks of one relation segment file (1 GB) to read, numbered within it.
struct SegmentChanges {
  bool whole = false;                 // read all of it
  std::vector<std::uint32_t> blocks;  // else these, sorted ...
  std::optional<std::uint32_t> from;  // ... and every block from here on
};

class WalSummary {
 public:
  void add(const WalRecord& record);
  // Sorts and de-duplicates the blocks; call once, after the last add().
  void finish();
  // Adds what another finished summary holds (its changes happened too): the
  // union of blocks, the lower truncation, whole when either is, the copied
  // databases of both. Both must be finished; this one stays finished.
  void merge(const WalSummary& other);
  // For decoding a stored summary (wal_summary_file): one fork's changes
  // (blocks sorted, no duplicates) and one copied database, then finish().
  void restore_fork(const RelationForkId& fork, ForkChanges changes);
  void restore_copied_database(std::uint32_t tablespace, std::uint32_t database);
  // Block references held (a measure of the summary's size).
  std::size_t block_count() const;

  const std::map<RelationForkId, ForkChanges>& forks() const { return forks_; }
  // (tablespace, database) pairs created by copying files.
  const std::set<std::pair<std::uint32_t, std::uint32_t>>& copied_databases() const {
    return copied_databases_;
  }
  // What changed in segment file `segment` of a fork (after finish()).
  SegmentChanges changes_of(const RelationForkId& fork, std::uint32_t segment) const;

 private:
  ForkChanges& at(const RelFileNode& node, std::uint8_t fork) { return forks_[{node, fork}]; }
  std::map<RelationForkId, ForkChanges> forks_;
  std::set<std::pair<std::uint32_t, std::uint32_t>> copied_databases_;
  bool finished_ = false;
};

}  // namespace pgvault
