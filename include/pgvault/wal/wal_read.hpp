// Reading archived WAL objects back for inspection: history files for the
// catalog (wal_catalog.hpp) and every object's checksum for `pgvault verify`.
//
// Contract:
//  - An object is decrypted when it starts with the encryption header
//    (looks_encrypted), whatever the caller believes: the key layout does not
//    say, and one repository may hold both (encryption turned on later). The
//    key comes from `keys` (restore_key_provider of the command's settings);
//    no key for an encrypted object fails with missing_key_message().
//  - Then it is decompressed as its key's codec suffix says (DecodeChain),
//    in bounded chunks: a 16 MB segment is never held in memory.
//  - verify_wal_object compares the SHA-256 of the decoded content with the
//    one in the key (segments, .partial and .backup files) and, for a segment
//    or .partial, its size with wal_segment_size. Every failure is
//    Error(corrupt) (or the decoder's own kind) naming the key.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/pipeline/encrypted_object.hpp"  // KeyProvider
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/wal/wal_catalog.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

// Streams the decoded content of the object at key into next (finished at the end).
void decode_wal_object(Storage& storage, const std::string& key, const KeyProvider& keys,
                       Sink& next);

// Reads history objects whole (they are a few hundred bytes; larger than
// 1 MB is refused as not a history file).
WalHistoryReader wal_history_reader(Storage& storage, KeyProvider keys);

// The archived WAL of system_identifier ("<sysid>/wal/") from one listing:
// its segment size from the backups (wal_segment_size_of), history files
// read with keys. What `pgvault list`, `pgvault verify --wal` and
// vault.verify_backup(wal => true) see.
WalCatalog read_wal_catalog(Storage& storage, const std::string& system_identifier,
                            const std::vector<BackupMeta>& backups, KeyProvider keys);

struct WalObjectCheck {
  std::uint64_t stored_bytes = 0;
  std::uint64_t decoded_bytes = 0;
};
WalObjectCheck verify_wal_object(Storage& storage, const WalArchivedObject& object,
                                 const KeyProvider& keys, std::uint64_t wal_segment_size);

}  // namespace pgvault
