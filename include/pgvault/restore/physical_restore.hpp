// Restoring a physical backup into a data directory: a full backup, or an
// incremental one through its chain (catalog/backup_chain.hpp).
//
// Contract:
//  - Every object read is checked (size and SHA-256 against its backup.json)
//    before its bytes count, decrypted and decompressed; every file of the
//    restored directory is checked against the newest backup's
//    backup_manifest (present, its size, SHA-256 where the manifest has it);
//    a file in no archive, or a block no backup of the chain supplies, is
//    Error(corrupt). On failure everything the restore created is removed
//    (a delta restore: see below) and the Error is rethrown.
//  - An incremental backup whose chain lists its changed blocks (backup.json
//    format 3, physical/changed_blocks.hpp) is planned: which backup supplies
//    each block is decided from the lists before any archive is read
//    (restore/chain_plan.hpp); the newest backup is restored on the calling
//    thread while the full one is read on a thread of its own, then the
//    older incrementals, three at a time; each writes only the blocks
//    it owns, every entry checked against its list (src/core/physical/
//    README.md, "Incremental backups in the repository"). The first
//    failure stops the other threads and is rethrown.
//  - A chain with an incremental from before pgvault 0.9 (no list) is
//    restored newest first, in one pass over each
//    backup's archives: the newest backup's plain entries are written as
//    files; each of its INCREMENTAL.<file> entries starts a
//    FileReconstruction of <file>; each older backup, down to the full one,
//    is then read only for the files that still need older blocks (an
//    INCREMENTAL. entry feeds the reconstruction, a plain entry is its base
//    copy, after which nothing older is read for it); every other entry is
//    passed over unread (its bytes still pass the object's SHA-256 check),
//    and a backup (or tablespace archive) with nothing left to give is not
//    read at all. Each block is written once (newest wins) straight into the
//    target file; each reconstructed file ends at its recorded size. Files
//    that are not in the newest backup are never written.
//  - Memory: the restore of a full backup holds the manifest and the file
//    writer's buffers (6 MiB); a chain adds, per reconstructed file, its path
//    and one bit per 8 kB block (1/65536 of the file: 16 kB for a 1 GB
//    segment), and one open file at a time; a planned chain instead the
//    lists' block numbers (4 bytes each, twice for the blocks incrementals
//    own) and, whatever the chain's length, the full backup and at most
//    three incrementals read at once (about 7 MB of buffers each), and the
//    newer pages kept for the full's runs (RestoreOptions::merge_budget).
//  - delta: the target may be an existing data directory (it must hold
//    PG_VERSION and no postmaster.pid: a running server's directory is
//    refused; a non-empty directory without PG_VERSION too: it may be
//    anything). Before anything is written, files whose size and SHA-256
//    equal the newest manifest's are kept untouched; every other file,
//    directory and link not in the backup is removed (in tablespace
//    directories, only below the version directories the backup has); files
//    the manifest lists without a checksum (reconstructed ones) are compared
//    page by page and only differing pages are written. global/pg_control
//    is removed first and written last, so a delta restore that stops
//    half-way leaves a directory PostgreSQL refuses to start; such a failure
//    leaves the directory as it is and says so.
//  - scan_only: everything is read and checked as above, nothing is written
//    (verify of an incremental backup; opts.pgdata is not used).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pgvault {

class Repository;

struct RestoreOptions {
  std::string pgdata;  // must not exist or be empty (unless delta)
  // tablespace oid or original location -> new location (default: original location)
  std::map<std::string, std::string> tablespace_mapping;
  DecryptorFactory decryptor;  // for encrypted backups; empty otherwise
  // The decryptor of each backup of a chain (an incremental and its parent
  // may differ in encryption). Empty: `decryptor` serves every backup.
  std::function<DecryptorFactory(const BackupMeta&)> decryptor_of;
  // Called after every chunk read (about 1 MiB) with the stored bytes read so
  // far of the current object; may throw (e.g. Error(cancelled)) to stop.
  // These callbacks (on_read, on_read_total, on_unread) and the log are
  // called one at a time, but a planned chain restore (not scan_only) calls
  // them from the threads that read its older backups: they must not call
  // into PostgreSQL. scan_only calls them on the calling thread only.
  std::function<void(std::uint64_t bytes_read)> on_read;
  // The same, with the stored bytes read so far of every object (a chain's
  // progress against the sum of its objects' sizes).
  std::function<void(std::uint64_t total_bytes_read)> on_read_total;
  // Called with the stored bytes of objects of the chain this restore will
  // not read after all (file_identity, an older backup's manifest, an older
  // backup or archive no file needs), once each: a progress total of the sum
  // of the chain's objects shrinks by them to what is read.
  std::function<void(std::uint64_t bytes)> on_unread;
  // syncfs() the restored files before returning. Off only for throwaway
  // copies (verify --restore-test): syncfs flushes the whole file system.
  bool sync_to_disk = true;
  bool delta = false;      // see the contract
  bool scan_only = false;  // see the contract
  // A planned chain's newer pages kept (compressed) for the full backup's
  // runs (restore/page_merge.hpp), at most this many bytes; 0: none kept,
  // the full's runs leave out every block a newer backup owns.
  std::size_t merge_budget = std::size_t{64} * 1024 * 1024;
};

// What one backup of the chain gave.
struct ChainBackupReport {
  std::string name;
  std::string kind;
  std::uint64_t objects = 0;
  std::uint64_t bytes_read = 0;  // stored bytes read
  std::uint64_t files = 0;       // whole files taken from it (older backups: base copies)
  std::uint64_t pages = 0;       // pages it supplied to reconstructed files
};

struct RestoreReport {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;  // bytes of files written
  std::uint64_t objects = 0;
  std::uint64_t bytes_read = 0;      // stored bytes read from the repository
  std::uint64_t manifest_files = 0;  // files of backup_manifest, each found and matching
  std::uint64_t reconstructed_files = 0;
  std::vector<ChainBackupReport> chain;  // newest first; one entry for a full backup
  // delta restores:
  std::uint64_t kept_files = 0;  // already equal to the backup's: not rewritten
  // Files and links not in the backup, removed (those inside a removed
  // directory counted; the tablespace links the restore makes again not).
  std::uint64_t removed_files = 0;
  std::uint64_t pages_unchanged = 0;  // pages of reconstructed files already right on disk
};

// Restores a physical backup (full, or incremental through its chain) into
// opts.pgdata; see the contract above.
RestoreReport restore_physical(Repository& repo, const BackupMeta& meta, const RestoreOptions& opts,
                               const ProgressLog& log = {});
// The same, for a chain its caller resolved (resolve_chain) to check it or
// to choose the backup: each parent's backup.json is not fetched again.
RestoreReport restore_physical(Repository& repo, BackupChain chain, const RestoreOptions& opts,
                               const ProgressLog& log = {});

}  // namespace pgvault
