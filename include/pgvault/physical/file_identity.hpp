// The file_identity object of a physical backup (full or incremental): what
// the next incremental needs of its parent's relation files to decide which
// to store whole (incremental_file.hpp, whole_file_reason): each file's size
// and identity (device, inode, birth time) when the backup read it.
//
// Format (text, one line per relation file, sorted by path byte-wise, no
// duplicates; src/core/physical/README.md "Incremental backups in the
// repository"):
//   <size in bytes> <device> <inode> <birth time ns> <manifest path>\n
// Numbers are unsigned decimal without sign or leading zeros (0 itself
// allowed); birth time 0 means the file system did not report one. The path
// is the file's backup_manifest path ("base/5/16385",
// "pg_tblspc/16400/PG_15_202209061/5/16401"): the rest of the line, not empty,
// no NUL. An empty object (no relation file) is valid.
//
// The reader trusts nothing: a line that does not match, a number out of
// range, a path out of order or repeated, or a last line without its newline
// is Error(corrupt) naming the object and the line number.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/incremental_file.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class EncryptionKey;
class Sink;
class Storage;
struct ObjectEntry;

inline constexpr const char* kFileIdentityObject = "file_identity";

struct FileIdentityRecord {
  std::string path;  // backup_manifest path
  std::uint64_t size = 0;
  FileIdentity identity;
  bool operator==(const FileIdentityRecord&) const = default;
};

// Writes records (sorted here by path) into out, without finishing it.
// Error(invalid_argument) for an empty path, one with a newline or NUL, or a
// path listed twice.
void write_file_identity(Sink& out, std::vector<FileIdentityRecord> records);

// Parses an object written by write_file_identity; `object` names it in errors
// (e.g. "file_identity of backup \"20261205T010000Z\"").
std::vector<FileIdentityRecord> parse_file_identity(std::string_view text,
                                                    const std::string& object);

// The identity of the file at path, not following a final symbolic link
// (statx: device, inode, birth time when the file system has it), and its
// size. nullopt when the file does not exist (any more); other failures are
// Error(io) naming the path.
struct FileStat {
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // seconds
  std::uint32_t mode = 0;  // permission bits
  FileIdentity identity;
};
std::optional<FileStat> stat_file_identity(const std::filesystem::path& path);

// The manifest path of a walked entry: its path in the data directory, or
// "pg_tblspc/<oid>/<path>" inside a tablespace.
std::string manifest_path(const BackupEntry& entry);

// The identity records of every relation file of a walk, statted now (a file
// gone since the walk is left out). A full backup calls it on a thread of its
// own while the stream runs, after the backup's start (list_data_directory of
// the data directory, then this; physical_backup.cpp says why that is safe).
std::vector<FileIdentityRecord> relation_file_identities(const DataDirectoryListing& listing);

// Stores records as the file_identity object of the backup in `directory`
// (Repository::backup_dir) through an EncodeChain: encrypted with key when
// given, not compressed (it is read whole by the next incremental). Returns
// the committed object for backup.json.
ObjectEntry store_file_identity(Storage& storage, const std::string& directory,
                                std::vector<FileIdentityRecord> records, const EncryptionKey* key);

}  // namespace pgvault
