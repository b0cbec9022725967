#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/timestamp.hpp"  // started_at, completed_at

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class EncryptionKey;

// One stored object of a backup, as written to the repository.
struct ObjectEntry {
  std::string name;  // relative to the backup's directory, e.g. "base.tar.zst"
  std::uint64_t size = 0;
  std::string sha256;  // hex of the stored bytes
};

struct TablespaceEntry {
  std::string oid;
  std::string location;  // absolute path on the source server
};

// What a logical backup dumped (pg_dump's selection options).
struct LogicalOptions {
  bool schema_only = false;
  bool data_only = false;
  std::vector<std::string> include_tables;  // pg_dump --table patterns
  std::vector<std::string> exclude_tables;  // pg_dump --exclude-table patterns
  bool operator==(const LogicalOptions&) const = default;
  // {"schema_only":false,"data_only":false,"include_tables":[...],...}
  std::string to_json() const;
  // The same form; a missing or null member means its default. Throws
  // Error(invalid_argument) naming what is malformed.
  static LogicalOptions from_json(std::string_view json);
};

// backup.json: everything needed to list, check and restore a backup with no
// database at hand. It is written last; a backup without it is incomplete.
struct BackupMeta {
  // What full physical and logical backups write (readable by every pgvault).
  static constexpr int kFormatVersion = 1;
  // What incremental backups write: a pgvault that knows only 1 lists them as
  // unreadable instead of restoring a part of a database as if it were whole.
  static constexpr int kIncrementalFormatVersion = 2;
  // What incremental backups write since pgvault 0.9: they also list the
  // blocks of each INCREMENTAL. entry in their changed_blocks object
  // (physical/changed_blocks.hpp), which 0.8 would refuse as an unknown
  // object; this version makes 0.8 list them as unreadable instead.
  static constexpr int kChangedBlocksFormatVersion = 3;
  // The newest format_version this pgvault reads.
  static constexpr int kNewestFormatVersion = 3;

  int format_version = 1;
  std::string name;
  std::string kind;  // "physical", "logical" or "incremental"
  // Incremental only: the name of the backup it is relative to (a full
  // physical one or another incremental of the same system). Written and
  // required for kind "incremental" (with format_version 2), absent otherwise.
  std::string parent;
  // Incremental only, for people: how it found the pages that changed since
  // its parent ("WAL summaries 0/5000000..0/7000D2: 1299 block references in
  // 12 relation forks", "every page: <why>"). Optional: absent from
  // backup.json files written before it was recorded, and never trusted for
  // anything but display.
  std::string changed_pages;
  std::string label;
  std::string trigger;       // "manual", "scheduled", ...
  std::string initiated_by;  // session_user of the request
  std::string database;
  std::string system_identifier;
  int pg_version = 0;  // PG_VERSION_NUM of the source server
  std::uint32_t timeline = 0;
  // Physical: the server's wal_segment_size in bytes, which names and counts
  // its archived WAL segments (wal/wal_catalog.hpp). 0 = not recorded
  // (backup.json written before the field existed; absent from the file).
  std::uint64_t wal_segment_size = 0;
  std::string start_lsn;  // "0/2000028"
  std::string stop_lsn;
  std::string started_at;  // ISO 8601 UTC, "2026-11-24T06:15:30.123Z"
  std::string completed_at;
  std::string compression = "none";  // algorithm of the stored objects
  int compression_level = 0;
  std::string compressed_by = "none";  // "server", "client" or "none"
  // "aes-256-gcm" (every object but backup.json, see pipeline/encryption.hpp)
  // or "none"; the key's public fingerprint and how it was made ("raw" key
  // file or "scrypt" passphrase), never the key.
  std::string encryption = "none";
  std::string key_fingerprint;
  std::string key_derivation;
  std::uint64_t source_bytes = 0;  // bytes of database files backed up
  std::uint64_t stored_bytes = 0;  // sum of object sizes
  std::vector<TablespaceEntry> tablespaces;
  std::vector<ObjectEntry> objects;
  LogicalOptions logical;  // kind "logical" only (absent from backup.json otherwise)

  std::string to_json() const;
  // Throws Error(corrupt) naming the field that is missing or malformed, and
  // Error(unsupported) for a format_version newer than kNewestFormatVersion.
  // An incremental needs format_version 2 or more and a valid "parent"; from
  // format_version 3 it must list a changed_blocks object.
  static BackupMeta from_json(std::string_view json);

  // The backup's single checksum: SHA-256 over "sha256  name\n" lines of its
  // objects sorted by name (the output of `sha256sum` over the objects, so an
  // auditor can recompute it with coreutils).
  std::string digest() const;
  // A physical backup, full ("physical") or "incremental": it restores a data
  // directory, has a WAL position and timeline, and needs archived WAL to
  // recover beyond its end.
  bool is_physical() const { return kind == "physical" || kind == "incremental"; }
  const ObjectEntry* find_object(std::string_view name) const;
};

// Who and what a new backup is, whatever its kind.
struct BackupOrigin {
  std::string name, label, trigger, initiated_by;
  std::string database;  // dumped (logical) or connected to (physical)
  std::string system_identifier;
  int pg_version = 0;
  std::uint64_t wal_segment_size = 0;  // physical: the server's (0 = unknown)
};

// A backup.json for a backup of kind starting now: the origin's fields and
// started_at; the rest is filled in as the backup runs.
BackupMeta begin_backup_meta(const BackupOrigin& origin, std::string kind);

// Records in meta that the backup is encrypted with key: what
// encryption_record() says of it (the algorithm, the key's fingerprint and how
// it was made; nothing secret). A null key leaves the backup unencrypted.
void record_encryption(BackupMeta& meta, const EncryptionKey* key);

}  // namespace pgvault
