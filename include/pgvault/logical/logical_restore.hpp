// Logical restores: the server's own pg_restore, its stdin fed with a
// logical backup's dump as it is read from the repository — the stored bytes
// counted and hashed against backup.json, then decrypted and decompressed
// (DecodeChain) — so that nothing touches a temporary file. The caller
// creates the (empty) database to restore into and decides what becomes of
// it; this runs pg_restore only.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

struct LogicalRestoreRequest {
  std::string pg_restore;  // absolute path of the server's own pg_restore
  // libpq connection string (its dbname is replaced by database); it pins
  // search_path in its options, since pg_restore runs what the dump says.
  std::string conninfo;
  std::string database;        // the database to restore into
  DecryptorFactory decryptor;  // for an encrypted backup; empty otherwise
};

struct LogicalRestoreResult {
  std::uint64_t restored_bytes = 0;  // bytes of the dump written to pg_restore
  // pg_restore succeeded before it had read all of the dump (it stops at
  // the end of its archive's data).
  bool input_left_unread = false;
};

// The single object of a logical backup: dump.pgdump[.zst|.lz4|.gz]. Throws
// Error(corrupt) when backup.json lists none.
const ObjectEntry& logical_dump_entry(const BackupMeta& meta);

// pg_restore's arguments for req (argv[0] is req.pg_restore): owners and
// privileges are kept (the dump is restored into the cluster it came from,
// where its roles live) and the first failing statement fails the restore
// (--exit-on-error).
std::vector<std::string> pg_restore_arguments(const LogicalRestoreRequest& req);

// Reads the dump's stored bytes to their end, checking their size and
// SHA-256 against backup.json, without running anything: a mismatch found
// while streaming would come after pg_restore had run part of the dump.
// Same errors as backup_reading::read_object. check_interrupts() is called
// after every chunk and may throw.
void check_logical_dump(Storage& storage, const BackupMeta& meta,
                        const std::function<void()>& check_interrupts);

// Runs pg_restore and feeds it the backup's dump. Errors: pg_restore's exit
// status with its stderr (Error(storage)); a repository, checksum or
// decoding error (read_object's, DecodeChain's), which wins over what
// pg_restore then says about the input it lacks; whatever check_interrupts()
// throws (called at least every 100 ms while pg_restore works), which stops
// pg_restore at once (it is killed). pg_restore has run part of the dump on
// any error: the caller drops the database.
LogicalRestoreResult run_logical_restore(Storage& storage, const BackupMeta& meta,
                                         const LogicalRestoreRequest& req,
                                         const std::function<void()>& check_interrupts);

}  // namespace pgvault
