#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class Repository;

// How deep verify_backup looks.
enum class VerifyDepth {
  // Every object's stored bytes, then their contents decoded and every file
  // checked against backup_manifest: what restore would read, proven.
  decoded,
  // Only the stored bytes: each object's size and SHA-256 against
  // backup.json (an incremental: of every backup of its chain). Nothing is
  // decrypted or decompressed, so it proves the repository holds what the
  // backup wrote, not that it decodes: the check `pgbackrest verify` makes
  // of its backup files (their "rck"), at the cost of reading them.
  stored,
};

// "decoded" or "stored": the names vault.verify_backup's depth and
// `pgvault verify --json`'s "depth" use.
const char* verify_depth_name(VerifyDepth depth);
// The depth a name gives; Error(invalid_argument) naming the value and the
// allowed names otherwise.
VerifyDepth parse_verify_depth(std::string_view name);

struct VerifyOptions {
  VerifyDepth depth = VerifyDepth::decoded;
  // Decrypts the objects of an encrypted backup; empty for unencrypted ones.
  DecryptorFactory decryptor;
  // An incremental's chain: the decryptor of each backup (they may differ).
  // Empty: `decryptor` serves every backup.
  std::function<DecryptorFactory(const BackupMeta&)> decryptor_of;
  // Called on the caller's thread after every chunk read (about 1 MiB) with
  // the stored bytes read so far and the backup's total (VerifyDepth::stored,
  // whose objects other threads read: every 100 ms and once at the end); may
  // throw (e.g. Error(cancelled)) to stop, which is how a server process
  // cancels.
  std::function<void(std::uint64_t bytes_read, std::uint64_t bytes_total)> on_progress;
};

struct VerifyReport {
  std::string backup;  // the backup's name
  std::string kind;    // "physical", "incremental" or "logical"
  // An incremental: its chain, newest first (the full backup last); each
  // backup's objects are all read and checked.
  std::vector<std::string> chain;
  std::uint64_t objects = 0;         // objects of backup.json read and checked
  std::uint64_t bytes_read = 0;      // stored bytes read from the repository
  std::uint64_t decoded_bytes = 0;   // bytes after decryption and decompression
  std::uint64_t files = 0;           // files in the archives (physical), each hashed
  std::uint64_t manifest_files = 0;  // files of backup_manifest, each found and matching
  // Objects in the backup's directory that backup.json does not list. Not an
  // error: nothing restores them, and verify never deletes.
  std::vector<std::string> extra_objects;
  std::vector<std::string> warnings;  // sentences for the operator (one per extra object, ...)
};

// Reads every object backup.json lists back from the repository and checks
// it, writing nothing and holding no object in memory:
//  - size and SHA-256 of the stored bytes against backup.json;
//  - decryption (opts.decryptor) and decompression (by the name's suffix);
//  - physical: every file of every tar archive against backup_manifest (size
//    and SHA-256), no file unknown to it (WAL under pg_wal/ aside) and no
//    listed file missing;
//  - logical: the dump decodes to a non-empty pg_dump custom-format archive
//    (it starts with "PGDMP");
//  - incremental: its chain (catalog/backup_chain.hpp; a broken link is
//    refused), every backup's objects present (one listing each), then the
//    restore of the chain run with scan_only (physical_restore.hpp): every
//    object of every backup read and checked, each backup's backup_manifest
//    parsed, every file of the newest manifest found, whole files by
//    SHA-256, rebuilt files with every block supplied and their size. The
//    same code as restore, writing nothing. decoded_bytes is not counted.
// With VerifyDepth::stored only the first check is made, on every object
// backup.json lists (an incremental: every backup of its chain, each listed
// first), two objects at a time on threads of their own (the first failure
// stops the other read); files, manifest_files and decoded_bytes stay 0.
// Returns the report on success. Throws on the first problem found, the
// message naming the object (and the file inside it): Error(not_found) for a
// missing object, Error(corrupt) for a size, checksum, format or manifest
// mismatch, Error(unsupported) for a kind it does not know. Progress lines,
// for people, go to log.
VerifyReport verify_backup(Repository& repo, const BackupMeta& meta, const VerifyOptions& opts = {},
                           const ProgressLog& log = {});

// The objects of the backup's directory that backup.json does not list
// (backup.json itself aside), sorted, as names relative to that directory.
std::vector<std::string> unlisted_objects(Repository& repo, const BackupMeta& meta);

// "object \"x\" in the backup's directory is not listed in backup.json ..."
std::string unlisted_object_warning(const BackupMeta& meta, const std::string& object);

}  // namespace pgvault
