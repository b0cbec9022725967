// Restoring a physical backup into a data directory.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace pgvault {

class Repository;

struct RestoreOptions {
  std::string pgdata;  // must not exist or be empty
  // tablespace oid or original location -> new location (default: original location)
  std::map<std::string, std::string> tablespace_mapping;
  DecryptorFactory decryptor;  // for encrypted backups; empty otherwise
  // Called after every chunk read (about 1 MiB) with the stored bytes read so
  // far of the current object; may throw (e.g. Error(cancelled)) to stop.
  std::function<void(std::uint64_t bytes_read)> on_read;
  // syncfs() the restored files before returning. Off only for throwaway
  // copies (verify --restore-test): syncfs flushes the whole file system.
  bool sync_to_disk = true;
};

struct RestoreReport {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;  // bytes of files written
  std::uint64_t objects = 0;
  std::uint64_t bytes_read = 0;      // stored bytes read from the repository
  std::uint64_t manifest_files = 0;  // files of backup_manifest, each found and matching
};

// Restores a physical backup into opts.pgdata: reads each object, checks its
// SHA-256 and size against backup.json, decompresses, extracts the tar
// archives, and checks every file against backup_manifest (size and
// checksum, and that none is missing). On failure everything written to the
// target is removed again and the Error is rethrown.
RestoreReport restore_physical(Repository& repo, const BackupMeta& meta, const RestoreOptions& opts,
                               const ProgressLog& log = {});

}  // namespace pgvault
