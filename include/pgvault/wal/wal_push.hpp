// Archiving one WAL file into a repository: what the archive module
// (src/pg/wal_archive.cpp) does for each file PostgreSQL hands it, without
// PostgreSQL. The key layout is wal_layout.hpp's; why a listing of the name's
// prefix decides what to do is src/core/wal/README.md's.
//
// Contract of push_wal_file:
//  - A segment or .partial file must be WAL of this cluster at the position
//    its name says (validate_wal_segment_header: system identifier, magic,
//    sizes, page address) and exactly one segment long; .history and .backup
//    files have no page header and are taken as they are.
//  - The file is read in bounded chunks, twice at most: once for its SHA-256,
//    once through EncodeChain (compress, encrypt, commit). The second pass
//    hashes again and aborts the object if the file changed in between.
//  - Already archived with the same content (PostgreSQL archives a file again
//    after a crash between upload and .done): success, nothing written.
//  - Archived under the same name with different content: Error(conflict)
//    naming both checksums; nothing is written and the stored object stays.
//  - Otherwise the object is written and committed; the function returns only
//    after the store committed it (the drivers commit durably).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/restore/backup_reading.hpp"  // DecryptorFactory
#include "pgvault/wal/wal_page_header.hpp"

#include <cstdint>
#include <string>

namespace pgvault {

class Storage;

struct WalPushRequest {
  std::string system_identifier;  // this cluster's, decimal (pg_controldata's)
  std::uint64_t wal_segment_size = 0;
  std::uint16_t wal_page_magic = kWalPageMagicPg15;  // this server's XLOG_PAGE_MAGIC
  std::string file_name;                             // %f: the name PostgreSQL archives
  std::string local_path;                            // %p: where the file is
  EncodeOptions encode;
  // Reads back a stored .history file to compare it with the local one
  // (history keys carry no checksum). Empty: stored objects are unencrypted.
  DecryptorFactory history_decryptor;
};

enum class WalPushOutcome {
  stored,            // written and committed now
  already_archived,  // the same content was in the repository already
};

struct WalPushResult {
  WalPushOutcome outcome = WalPushOutcome::stored;
  std::string key;                 // the object's key in the repository
  std::string sha256;              // of the file as PostgreSQL wrote it
  std::uint64_t bytes = 0;         // the file's size
  std::uint64_t stored_bytes = 0;  // what the store holds (0 when already archived)
};

WalPushResult push_wal_file(Storage& storage, const WalPushRequest& request);

}  // namespace pgvault
