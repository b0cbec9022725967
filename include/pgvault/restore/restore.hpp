#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace pgvault {

class Repository;

struct RestoreOptions {
  std::string pgdata;  // must not exist or be empty
  // tablespace oid or original location -> new location (default: original location)
  std::map<std::string, std::string> tablespace_mapping;
};

struct RestoreReport {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;  // bytes of files written
  std::uint64_t objects = 0;
};

using ProgressLog = std::function<void(std::string_view)>;

// Restores a physical backup into opts.pgdata: reads each object, checks its
// SHA-256 and size against backup.json, decompresses, extracts the tar
// archives, and checks every file against backup_manifest (size and
// checksum, and that none is missing). On failure everything written to the
// target is removed again and the Error is rethrown.
RestoreReport restore_physical(Repository& repo, const BackupMeta& meta, const RestoreOptions& opts,
                               const ProgressLog& log = {});

}  // namespace pgvault
