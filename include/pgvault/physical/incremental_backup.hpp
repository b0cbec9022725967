// An incremental physical backup: the job worker reads the data directory
// itself between pg_backup_start and pg_backup_stop (PostgreSQL 15's
// BASE_BACKUP has no incremental mode) and stores, relative to a parent
// backup, only the pages changed since the parent's start, every other file
// whole, and a manifest of the directory as restored. The repository format
// is src/core/physical/README.md's "Incremental backups in the repository".
//
// What run_incremental_backup does, in order:
//  1. begin_backup (repository format, name not in use), then, on a thread
//     of its own while source.start() (pg_backup_start) runs, reads the
//     parent's backup_manifest (sizes of its files) and file_identity
//     (device, inode, birth time) through the restore side's DecodeChain (the
//     stored bytes checked against the parent's backup.json); a parent
//     without file_identity makes identities unknown: sizes only, and
//     callbacks.log says so;
//  2. after source.start(): the start LSN must not be before the
//     parent's and the timeline must be the parent's (Error(conflict)
//     otherwise: take a full backup); then, unless req.changes is page_scan,
//     source.wal_changes(parent start, start): the blocks the WAL since the
//     parent changed (callbacks.log says which summaries, or why every page
//     is read), while list_data_directory walks the data directory on a
//     thread of its own;
//  3. each tablespace into "<oid>.tar[.suffix]", then the data directory into
//     "base.tar[.suffix]" (ustar, walk order, directories included,
//     global/pg_control last), each through an EncodeChain (compression on
//     this side, per request; encryption per request). A relation segment file
//     is stored whole (a plain entry) when whole_file_reason says so or its
//     size is not whole pages; otherwise as "INCREMENTAL.<name>" holding the
//     pages select_page includes (ChangedPagePolicy: the parent's start LSN,
//     the parent's size of the file, page checksums verified when the request
//     says the cluster has them) among the candidates: with WAL changes, the
//     blocks they name for the file, every block from a truncation on and
//     every block beyond the parent's size (a fork they say changed whole:
//     every block); without, every block. With req.changes check every block
//     is read, and a page select_page finds changed with an LSN up to this
//     backup's start that is not a candidate fails the backup
//     (Error(internal), naming the file, block and LSN). Every other file is
//     stored whole;
//  4. source.stop() (pg_backup_stop), then backup_label, tablespace_map (when
//     not empty) and the WAL files source.wal_files(start, stop) under
//     pg_wal/ (with archive_status/<name>.done) at the end of base.tar;
//  5. backup_manifest (the directory as restored: paths without INCREMENTAL.,
//     whole files with SHA-256, reconstructed ones "NONE"), file_identity,
//     and backup.json last (format_version 2, kind "incremental", parent).
//
// Reading: a relation file whose pages are selected is read twice: once to
// select (and verify) every candidate page, then the selected blocks again to store
// them, verified again (a page changed in between is newer than this backup's
// start and WAL replay rewrites it; a block gone by then is stored as zeroes,
// the truncation being replayed too). Whole files are read once, up to the
// size seen when statted just before (zeroes pad a file that shrank, as
// basebackup.c does). With read_workers > 1 that many threads run the first
// pass of the next relation files while this thread writes the archive in
// walk order; at most 2 × read_workers files are selected ahead, each holding
// its list of selected block numbers (at most 512 kB for a 1 GB segment) and
// one 8 kB page buffer, so memory stays bounded whatever the database size
// (plus the parent's manifest and identities and this backup's identities,
// about 250 bytes per file of the cluster).
//
// pgvault.max_rate (req.max_rate_kb) paces the bytes read by every thread;
// the writing thread pauses in slices of 100 ms calling check_interrupts.
// Every callback and every IncrementalSource method is called on the thread
// that called run_incremental_backup (the reading threads call nothing of
// the caller's), so the glue may call PostgreSQL from them.
//
// Failure: a page that stays corrupt after its re-reads fails the backup with
// Error(corrupt) and PageCorruption::message() (file and block); any failure
// removes every object written (chains aborted, committed objects removed)
// and rethrows; backup.json is never written, so nothing is listed. A file
// that vanishes while the directory is read is left out (not in the manifest:
// restore drops it, WAL replay recreates it if it should exist).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class Repository;

// Where an incremental backup's bytes come from: the job worker's own session
// (pg_backup_start / pg_backup_stop) and the server's data directory; a fake
// in the unit tests. Every method may throw a pgvault::Error; on failure the
// runner does not call stop(): the caller ends the session's backup (the
// backend does when its session ends).
class IncrementalSource {
 public:
  struct StartPoint {
    Lsn lsn;
    std::uint32_t timeline = 0;
  };
  struct StopPoint {
    Lsn lsn;
    std::string backup_label;    // pg_backup_stop's labelfile
    std::string tablespace_map;  // its spcmapfile (empty without tablespaces)
  };
  virtual ~IncrementalSource() = default;
  virtual StartPoint start() = 0;
  virtual std::filesystem::path data_directory() = 0;
  virtual StopPoint stop() = 0;
  // The WAL segment files from start to stop (inclusive), oldest first.
  virtual std::vector<std::filesystem::path> wal_files(Lsn start, Lsn stop) = 0;
  // What the WAL records starting in [from, to) on the timeline start()
  // returned changed, from the server's WAL summaries (collect_wal_changes),
  // or why there is none. Called after start(), when the request's changes
  // is not page_scan.
  virtual WalChanges wal_changes(Lsn from, Lsn to) = 0;
};

struct IncrementalCallbacks {
  // Phases "checkpoint", "reading", "finishing"; done = bytes read of the
  // data directory, total = its size when listed, stored = bytes written.
  std::function<void(const BackupProgress&)> progress;
  // Called between files and every few MB; throws (Error(cancelled)) to stop.
  std::function<void()> check_interrupts;
  // What the backup's log should say (e.g. identities unknown).
  std::function<void(std::string_view)> log;
};

// Takes an incremental backup of req (kind incremental) relative to parent (a
// complete physical or incremental backup of the same system), reading the
// parent's objects with parent_decryptor (decryptor_for(parent, settings):
// the parent may have been encrypted with another key derivation than this
// backup). Returns the backup.json written.
BackupMeta run_incremental_backup(Repository& repo, const BackupRequest& req,
                                  const BackupMeta& parent,
                                  const DecryptorFactory& parent_decryptor,
                                  IncrementalSource& source,
                                  const IncrementalCallbacks& callbacks = {});

}  // namespace pgvault
