#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_restore.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/key_check.hpp"
#include "pgvault/text.hpp"

#include <string>

#include "storage_settings.hpp"

#include "error_boundary.hpp"
#include "cluster_identity.hpp"
#include "logging.hpp"
#include "restore_source.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "target_database.hpp"

namespace pgvault::pg {
RestoreSource open_logical_backup(const std::string& name) {
  require_chosen_repository();
  RestoreSource source;
  source.storage = open_repository(guc_repository);
  Repository repo(*source.storage);
  source.meta = repo.resolve(name, system_identifier_string());
  const BackupMeta& meta = source.meta;
  if (meta.kind != "logical") {
    throw Error(ErrorKind::invalid_argument,
                "backup " + pgvault::quoted(meta.name) + " is a " + meta.kind +
                    " backup; vault.restore_logical() restores logical backups only (restore a "
                    "physical backup with the pgvault command: pgvault restore)");
  }
  const ObjectEntry& dump = logical_dump_entry(meta);
  source.decryptor = decryptor_for(meta, configured_encryption());
  backup_reading::check_decryption_key(*source.storage, meta, dump, source.decryptor);
  return source;
}

void check_dump_against_history(const RestoreSource& source, const Caller& caller) {
  const BackupMeta& meta = source.meta;
  const auto rows = spi_query_in_function(
      "SELECT status, sha256 FROM vault.backups WHERE name = $1", {meta.name});
  if (rows.empty()) {
    if (!caller.superuser) {
      throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "backup " + pgvault::quoted(meta.name) +
                        " is not in vault.history, so its dump cannot be checked against a "
                        "checksum this cluster recorded; only a superuser may restore it",
                    "", "");
    }
    log_message(WARNING, "backup " + pgvault::quoted(meta.name) +
                             " is not in vault.history: its dump is checked against the "
                             "repository's backup.json only");
  } else if (!rows[0][1]) {
    throw Error(ErrorKind::corrupt,
                "vault.history recorded no checksum for backup " + pgvault::quoted(meta.name) +
                    " (its status is " + rows[0][0].value_or("") +
                    "), so the repository's copy is not trusted; it is not restored");
  } else if (*rows[0][1] != meta.digest()) {
    throw Error(ErrorKind::corrupt,
                "backup " + pgvault::quoted(meta.name) +
                    " was changed in the repository after it was taken: the SHA-256 digest of "
                    "its objects in backup.json is " +
                    meta.digest() + ", vault.history recorded " + *rows[0][1] +
                    "; it is not restored");
  }
  check_logical_dump(*source.storage, meta, [] { pg_guard([] { CHECK_FOR_INTERRUPTS(); }); });
}

}  // namespace pgvault::pg
