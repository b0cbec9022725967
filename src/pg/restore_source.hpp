// The logical backup vault.restore_logical() restores: read from the
// repository (the source of truth), its key checked, and its dump checked
// against the checksum this cluster recorded before pg_restore runs it.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <string>

namespace pgvault::pg {

struct Caller;

struct RestoreSource {
  std::unique_ptr<Storage> storage;  // pgvault.repository
  BackupMeta meta;
  DecryptorFactory decryptor;  // from pgvault.encryption_key_file / _passphrase
};

// Resolves name in pgvault.repository for this cluster and checks that it is
// a logical backup with a dump whose encryption key (if any) the settings
// give, before anything is changed.
RestoreSource open_logical_backup(const std::string& name);

// pg_restore runs as superuser, so a dump is only fed to it once its bytes
// are the ones this cluster recorded: backup.json's objects must give the
// digest vault.backups holds for the backup (rows are written by pgvault
// alone), and the dump's stored bytes must match backup.json — read in full
// here, before pg_restore starts. A backup without a row can only be checked
// against its own repository: then only a superuser (who could run
// pg_restore on it anyway) may restore it.
void check_dump_against_history(const RestoreSource& source, const Caller& caller);

}  // namespace pgvault::pg
