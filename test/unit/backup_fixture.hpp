// Building blocks of the synthetic physical backups that the restore and
// verify tests write into a repository (test_restore.cpp,
// test_restore_chain.cpp, test_verify.cpp): the system, archives in
// PostgreSQL 15's layout, manifests, backup.json and its objects.
#pragma once
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <string>
#include <vector>

namespace pgvault::test {

// The system identifier of every fixture backup.
inline const std::string kSysid = "7291234567890123456";

// A file of a backup: its path (in the data directory, or in the
// tablespace's directory) and its content.
struct BackupFile {
  std::string path;
  std::string content;
};

// data through zstd level 3.
std::string zstd(const std::string& data);

// A 300 kB relation file whose bytes are not all alike (i % 251).
std::string sample_relation();

// The tar archive of tablespace 16385: its version and database
// directories, then the files (paths under the tablespace directory).
std::string tablespace_tar(const std::vector<BackupFile>& files);

// The backup_manifest entries of base files and of tablespace 16385's files
// (listed under pg_tblspc/16385/), with their SHA-256.
std::vector<ManifestEntry> manifest_entries(const std::vector<BackupFile>& base,
                                            const std::vector<BackupFile>& tablespace = {});

// The backup_manifest of files (paths in the data directory).
std::string manifest_for(const std::vector<BackupFile>& files);

// backup.json fields every fixture backup shares: name, kind, manual trigger,
// kSysid, PostgreSQL 15.4, timeline 1, its times, zstd. No objects yet.
BackupMeta fixture_meta(const std::string& name, const std::string& kind);

// Stores one object of backup m (as `bytes`) and lists it in m's objects and
// stored_bytes.
void put_object(Storage& storage, BackupMeta& m, const std::string& object,
                const std::string& bytes);

}  // namespace pgvault::test
