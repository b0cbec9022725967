// The changed_blocks object of an incremental backup: which blocks each of its
// INCREMENTAL. entries holds, readable without decoding its archives. A
// restore of a chain reads every incremental's list first, decides which
// backup supplies each block of each rebuilt file (restore/chain_plan.hpp),
// then decodes all the backups of the chain at once, each writing only its
// own blocks: every page is still written once, newest wins, and no backup
// waits for a newer one to be decoded first.
//
// Format (text, one line per INCREMENTAL. entry of the backup, sorted by path
// byte-wise, no duplicates; src/core/physical/README.md "Incremental backups
// in the repository"):
//   <file blocks> <blocks> <manifest path>\n
// <file blocks> is the file's size in 8 kB blocks when it was read (the
// entry's header says the same), at most 131072 (one segment). <blocks> is
// "-" when the entry holds no page, otherwise ascending ranges separated by
// commas, each "<first>" or "<first>-<last>" (first < last), every range
// starting at least two after the end of the one before (no overlap, no two
// that could be one), every block below <file blocks>. Numbers are unsigned
// decimal without sign or leading zeros. The path is the file's
// backup_manifest path: the rest of the line, not empty, no NUL. Files stored
// whole and other files are not listed: the entry of a backup that a list
// does not name is a whole copy (or absent, and the restore reports the
// blocks no backup supplied). An empty object (no INCREMENTAL. entry) is
// valid.
//
// The reader trusts nothing: a line that does not match, a number out of
// range, ranges out of order, a path out of order or repeated, or a last line
// without its newline is Error(corrupt) naming the object and the line. The
// restore also checks each entry against its line (restore/chain_plan.hpp).
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class EncryptionKey;
class Sink;
class Storage;
struct ObjectEntry;

inline constexpr const char* kChangedBlocksObject = "changed_blocks";

struct ChangedBlocksRecord {
  std::string path;  // backup_manifest path
  std::uint32_t file_blocks = 0;
  std::vector<std::uint32_t> blocks;  // strictly increasing, each < file_blocks
  bool operator==(const ChangedBlocksRecord&) const = default;
};

// Writes records (sorted here by path) into out, without finishing it.
// Error(invalid_argument) for an empty path, one with a newline or NUL, a path
// listed twice, more than 131072 file blocks, or blocks not strictly
// increasing or not below file_blocks.
void write_changed_blocks(Sink& out, std::vector<ChangedBlocksRecord> records);

// Parses an object written by write_changed_blocks; `object` names it in
// errors (e.g. "changed_blocks of backup \"20261205T010000Z-incremental\"").
std::vector<ChangedBlocksRecord> parse_changed_blocks(std::string_view text,
                                                      const std::string& object);

// Stores records as the changed_blocks object of the backup in `directory`
// (Repository::backup_dir) through an EncodeChain: encrypted with key when
// given, not compressed (ranges keep it small; a restore reads it whole).
// Returns the committed object for backup.json.
ObjectEntry store_changed_blocks(Storage& storage, const std::string& directory,
                                 std::vector<ChangedBlocksRecord> records,
                                 const EncryptionKey* key);

}  // namespace pgvault
