// Which files of a PostgreSQL 15 data directory (and of its tablespaces) a
// physical backup contains, decided exactly as PostgreSQL 15's BASE_BACKUP
// does (src/backend/replication/basebackup.c of REL_15_STABLE: sendDir,
// sendTablespace, excludeDirContents, excludeFiles, noChecksumFiles,
// is_checksummed_file; src/backend/storage/file/reinit.c
// parse_filename_for_nontemp_relation; src/backend/storage/file/fd.c
// looks_like_temp_rel_name), so a backup pgvault reads itself restores like
// one streamed by BASE_BACKUP. (The lists were read in basebackup.c of the
// PostgreSQL 16 development tree, which has the same lists and order, and
// checked against pg_basebackup of PostgreSQL 15.20: src/core/physical/README.md.)
//
// Rules, in basebackup.c's order, applied to every directory entry at every
// depth (names are compared, not paths, unless said otherwise):
//  1. a name starting with "pgsql_tmp" (PG_TEMP_FILE_PREFIX): excluded, file
//     or directory (temporary files and their directories);
//  2. excludeFiles: "postgresql.auto.conf.tmp", "current_logfiles.tmp",
//     "backup_label", "tablespace_map", "backup_manifest", "postmaster.pid",
//     "postmaster.opts" (whole name), "pg_internal.init" (prefix: the relcache
//     init file and its temporary copies, rebuilt at startup);
//  3. in a database directory (base/<oid> or <tablespace>/PG_15_<catversion>/<oid>),
//     any fork but init of a relation that has an init fork: an unlogged
//     relation, reset from its init fork at startup;
//  4. in a database directory, t<backend>_<relfilenode>[_fork][.segment]: a
//     temporary relation;
//  5. global/pg_control: not in the walk; sent last, after every other file,
//     so a backup that has it has everything before it;
//  6. excludeDirContents: "pg_stat_tmp", "pg_replslot", "pg_dynshmem",
//     "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans": kept as empty
//     directories (their permissions matter; contents are recreated or reset at
//     startup);
//  7. pg_wal (top level only): kept empty, plus an empty pg_wal/archive_status
//     even if it is missing; WAL comes from the archive or the backup's own WAL;
//  8. a symbolic link directly in pg_tblspc: a tablespace (oid = its name); its
//     target is read separately, and of the target only the directory
//     PG_15_<catalog version> (TABLESPACE_VERSION_DIRECTORY) is backed up;
//  9. any other symbolic link, socket, fifo or device: skipped (basebackup.c
//     warns "skipping special file");
// 10. everything else is backed up: directories recursively, regular files.
// Page checksums are verified (when the cluster has them) in files under
// global/, base/ and tablespaces, except noChecksumFiles: "pg_control",
// "pg_filenode.map", "PG_VERSION" (whole name) and "pg_internal.init" (prefix).
//
// Relation files: <relfilenode>[_fsm|_vm|_init][.<segment>], relfilenode 1..10
// digits (OIDCHARS); "_main" is not a fork suffix.
//
// Paths are relative to their root (the data directory, or a tablespace's
// location), '/'-separated, no "." or ".." components, as basebackup.c names
// them in its tar files.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// TABLESPACE_VERSION_DIRECTORY of PostgreSQL 15 ("PG_" major "_" CATALOG_VERSION_NO).
inline constexpr std::string_view kTablespaceVersionDirectory = "PG_15_202209061";

enum class RelationFork { main, fsm, vm, init };
const char* relation_fork_name(RelationFork fork);  // "main", "fsm", "vm", "init"

// The parts of a relation file's name. database_oid is 0 under global/.
struct RelationFileName {
  std::uint32_t tablespace_oid = 0;  // 0: the default tablespace (base/ or global/)
  std::uint32_t database_oid = 0;
  std::uint32_t relfilenode = 0;
  RelationFork fork = RelationFork::main;
  std::uint32_t segment = 0;
  std::optional<std::uint32_t> temp_backend;  // t<backend>_...: a temporary relation
  bool operator==(const RelationFileName&) const = default;
};

// Parses one file name as parse_filename_for_nontemp_relation and
// looks_like_temp_rel_name do (oids as numbers; the database and tablespace
// fields stay 0). Anything else: nullopt.
std::optional<RelationFileName> parse_relation_file_name(std::string_view name);

enum class BackupPathKind {
  excluded,         // not in the backup; see ExclusionReason
  empty_directory,  // the directory is in the backup, its contents are not
  directory,        // in the backup, walked recursively
  tablespace_link,  // pg_tblspc/<oid> symbolic link
  control_file,     // global/pg_control, backed up last
  relation_file,    // a relation segment file (page-wise incremental)
  other_file,       // any other regular file (stored whole)
};

enum class ExclusionReason {
  none,
  temporary_file,         // pgsql_tmp*
  excluded_file,          // excludeFiles
  unlogged_relation,      // non-init fork of a relation with an init fork
  temporary_relation,     // t<backend>_<relfilenode>
  other_catalog_version,  // in a tablespace, outside PG_15_<catversion>
  special_file,           // a symbolic link outside pg_tblspc, socket, fifo, device
};
const char* exclusion_reason_text(ExclusionReason reason);

enum class EntryType { regular_file, directory, symbolic_link, other };
enum class BackupRoot { data_directory, tablespace };

struct BackupPathClass {
  BackupPathKind kind = BackupPathKind::excluded;
  ExclusionReason reason = ExclusionReason::none;
  std::optional<RelationFileName> relation;  // relation_file (and unlogged/temp exclusions)
  bool checksummed = false;                  // is_checksummed_file
};

// Classifies one entry. relative_path as described above; has_init_fork says
// whether "<relfilenode>_init" exists in the same directory (rule 3; ignored
// for anything but a relation file in a database directory). An empty path,
// a leading '/', "." or ".." components, or an empty component is
// Error(invalid_argument).
BackupPathClass classify_backup_path(BackupRoot root, std::string_view relative_path,
                                     EntryType type, bool has_init_fork = false);

// One entry of a walk. Directories are listed before their contents.
struct BackupEntry {
  std::uint32_t tablespace_oid = 0;  // 0: the data directory
  std::string path;                  // relative to the root (data directory or tablespace location)
  BackupPathKind kind = BackupPathKind::other_file;
  std::uint64_t size = 0;        // regular files: bytes at walk time
  std::filesystem::path source;  // where to read it (empty for synthesised directories)
  std::optional<RelationFileName> relation;
  bool checksummed = false;
  std::string link_target;  // tablespace_link: the location
};

struct Tablespace {
  std::uint32_t oid = 0;
  std::filesystem::path location;  // the link's target
};

struct DataDirectoryListing {
  // The data directory (names sorted byte-wise within each directory, depth
  // first), then each tablespace in oid order, then global/pg_control last.
  std::vector<BackupEntry> entries;
  std::vector<Tablespace> tablespaces;
  // Excluded entries with their reason (for logs and tests); excluded
  // directories are listed, not their contents.
  std::vector<std::pair<std::string, ExclusionReason>> excluded;
  // What the backup reads: the regular files' sizes at walk time.
  std::uint64_t file_bytes() const;
};

// Walks a data directory as BASE_BACKUP would. A file that vanishes during
// the walk is left out (basebackup.c: "If the file went away while scanning,
// it's not an error"); other failures are Error(io) naming the path. A
// missing global/pg_control is Error(not_found). A pg_tblspc entry whose name
// is not an oid is Error(corrupt).
DataDirectoryListing list_data_directory(const std::filesystem::path& data_directory);

}  // namespace pgvault
