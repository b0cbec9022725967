// Writing PostgreSQL's backup_manifest (version 1), byte for byte as
// PostgreSQL 15's BASE_BACKUP writes it (src/backend/backup/backup_manifest.c:
// InitializeBackupManifest, AddFileToBackupManifest,
// AddWALInfoToBackupManifest, SendBackupManifest), so pg_verifybackup and
// restore/manifest.hpp's BackupManifest::parse read it:
//
// clang-format off
//   { "PostgreSQL-Backup-Manifest-Version": 1,
//   "Files": [
//   { "Path": "PG_VERSION", "Size": 3, "Last-Modified": "2026-12-05 13:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "<hex>" },
//   { "Path": "base/5/16385", "Size": 16384, "Last-Modified": "...", "Checksum-Algorithm": "NONE" }
//   ],
//   "WAL-Ranges": [
//   { "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }
//   ],
//   "Manifest-Checksum": "<SHA-256 of every byte before this line>"}
// clang-format on
//
// Paths that are not valid UTF-8 are written as "Encoded-Path" (hex of the
// bytes), others JSON-escaped as PostgreSQL's escape_json does. A file with
// no checksum (an incremental's reconstructed relation file: its bytes are
// only known after reconstruction) carries "Checksum-Algorithm": "NONE" and
// no "Checksum" (pg_verifybackup accepts it and checks the size only).
//
// Streams into a Sink one line per file (the manifest of a large cluster is
// never held whole); the running SHA-256 gives the Manifest-Checksum.
// Contract: add_file any number of times, then finish() once (which does not
// finish the sink); an empty path, a checksum that is not 64 lower-case hex
// digits, a file after finish() or no WAL range are Error(invalid_argument).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

class Sink;

struct ManifestFileEntry {
  std::string path;  // as restored, relative to the data directory
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // seconds since the epoch ("Last-Modified")
  std::string sha256;      // lower-case hex: "SHA256"
  // Crc32c::manifest_hex: "CRC32C", what pgvault's incrementals write (as
  // full backups ask BASE_BACKUP for). Neither: "Checksum-Algorithm": "NONE".
  std::string crc32c = {};
};

struct ManifestWalRange {
  std::uint32_t timeline = 0;
  Lsn start;
  Lsn end;
};

class BackupManifestWriter {
 public:
  explicit BackupManifestWriter(Sink& out);
  void add_file(const ManifestFileEntry& file);
  // The WAL ranges (oldest timeline first), then the Manifest-Checksum line.
  void finish(const std::vector<ManifestWalRange>& wal_ranges);

  std::uint64_t files() const { return files_; }
  std::uint64_t total_size() const { return total_size_; }  // sum of the files' sizes

 private:
  void emit(std::string_view text, bool checksummed = true);

  Sink& out_;
  Sha256 checksum_;
  std::uint64_t files_ = 0;
  std::uint64_t total_size_ = 0;
  bool finished_ = false;
};

// "2026-12-05 13:00:00 GMT": PostgreSQL's "Last-Modified" for mtime.
std::string manifest_timestamp(std::int64_t mtime);

}  // namespace pgvault
