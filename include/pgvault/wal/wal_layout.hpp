// Where archived WAL lives in a repository (a proposal for issue 15's glue),
// next to the backups of include/pgvault/catalog/repository.hpp:
//   <system-identifier>/wal/<TTTTTTTT>.history[<codec>]
//   <system-identifier>/wal/<TTTTTTTT>/<TTTTTTTTXXXXXXXX>/<name>-<sha256>[<codec>]
// where <name> is a segment, a .backup or a .partial file name, <sha256> the
// lower-case hex SHA-256 of the file as PostgreSQL wrote it (uncompressed,
// unencrypted) and <codec> compression_suffix() (".gz", ".lz4", ".zst" or
// nothing). Encryption is not in the key: every encrypted object starts with
// its own header (src/core/pipeline/README.md). Why the checksum is in the
// name, and what is trusted when a key is read back: src/core/wal/README.md.
//
// Contract: wal_object_key builds keys only from validated parts;
// parse_wal_object_key accepts exactly the keys wal_object_key builds and
// throws Error(corrupt) for any other, so a parsed file name is safe as a
// local path component.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgvault {

struct WalObjectKey {
  std::string system_identifier;
  WalFileName file = WalFileName::history(1);
  std::string sha256;  // empty for a history file
  Compression compression = Compression::none;
};

// "<sysid>/wal/": everything archived for one database system.
std::string wal_root(const std::string& system_identifier);
// "<sysid>/wal/<TTTTTTTT>/": the segments, .backup and .partial files of one timeline.
std::string wal_timeline_prefix(const std::string& system_identifier, TimelineId timeline);
// The directory that holds `file`: wal_root for a history file, else
// "<sysid>/wal/<TTTTTTTT>/<TTTTTTTTXXXXXXXX>/".
std::string wal_directory(const std::string& system_identifier, const WalFileName& file);
// What every stored copy of `file` starts with: "<directory><name>-" for a
// segment, .backup or .partial file (list it to find every checksum archived
// under that name), "<sysid>/wal/<TTTTTTTT>.history" for a history file.
std::string wal_object_prefix(const std::string& system_identifier, const WalFileName& file);
// The key of `file`. sha256 must be 64 lower-case hex digits for a segment,
// .backup or .partial file and empty for a history file; the system identifier
// a decimal number. Throws Error(invalid_argument) otherwise.
std::string wal_object_key(const std::string& system_identifier, const WalFileName& file,
                           const std::string& sha256, Compression compression);
// The parts of a key read from a repository listing. Throws Error(corrupt):
// 'repository key "<key>" is not an archived WAL object: <why>'.
WalObjectKey parse_wal_object_key(std::string_view key);

// Throws Error(invalid_argument) unless text is a system identifier as
// PostgreSQL prints it: 1 to 20 decimal digits, no leading zero, below 2^64.
void validate_wal_system_identifier(std::string_view text);
// The same check, then the number (what a WAL page header carries).
std::uint64_t parse_wal_system_identifier(std::string_view text);

}  // namespace pgvault
