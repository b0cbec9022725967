// pgvault as PostgreSQL 15's archive module (archive_library = 'pgvault'):
// every WAL file the archiver hands over goes into the repository through the
// core's push_wal_file (include/pgvault/wal/wal_push.hpp), compressed with
// pgvault.compression and encrypted as backups are.
//
// The archiver calls these callbacks directly and, in PostgreSQL 15, an ERROR
// raised inside them ends the archiver process. So neither callback lets an
// exception or an ERROR out: every PostgreSQL call goes through pg_guard (or
// log_message, which uses it), everything else runs inside try, and a failure
// becomes a WARNING and `false` (PostgreSQL then retries the file).
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_push.hpp"

#include <optional>
#include <string>

#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "storage_settings.hpp"

#include "postgres_headers.hpp"

extern "C" {
#include "access/xlog_internal.h"
#include "postmaster/pgarch.h"
}

extern "C" {
PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks* callbacks);
}

namespace pgvault::pg {

namespace {

EncryptionSettings current_encryption_settings() {
  return {guc_encryption_key_file ? guc_encryption_key_file : "",
          guc_encryption_passphrase ? guc_encryption_passphrase : ""};
}

// A passphrase is stretched once per archiver process and setting, not once
// per file (every object still gets its own nonce); a key file is read each
// time, so a replaced file is picked up without a reload.
class ArchiveKey {
 public:
  const EncryptionKey* get(const EncryptionSettings& settings) {
    validate_encryption_settings(settings);
    if (!settings.passphrase.empty()) {
      if (!passphrase_key_ || passphrase_ != settings.passphrase) {
        passphrase_key_.reset();
        passphrase_key_ = backup_encryption_key(settings);
        passphrase_ = settings.passphrase;
      }
      return &*passphrase_key_;
    }
    file_key_ = backup_encryption_key(settings);
    return file_key_ ? &*file_key_ : nullptr;
  }

 private:
  std::string passphrase_;
  std::optional<EncryptionKey> passphrase_key_;
  std::optional<EncryptionKey> file_key_;
};

ArchiveKey archive_key;

std::string repository_setting() {
  return guc_repository ? guc_repository : "";
}

// Throws what makes archiving impossible whatever the file: a rejected
// pgvault.repository line, an unusable URL or store settings, both
// encryption settings at once.
std::unique_ptr<Storage> configured_repository() {
  require_chosen_repository();
  validate_encryption_settings(current_encryption_settings());
  return open_repository(repository_setting());
}

bool check_configured() {
  try {
    (void)configured_repository();
    return true;
  } catch (const std::exception& e) {
    try {
      log_message(WARNING, std::string("WAL archiving is not configured: ") + e.what());
    } catch (...) {
    }
  } catch (...) {
  }
  return false;
}

WalPushResult push(const char* file, const char* path, std::string& where) {
  auto storage = configured_repository();
  where = storage->url();
  WalPushRequest request;
  request.system_identifier = system_identifier_string();
  request.wal_segment_size = static_cast<std::uint64_t>(wal_segment_size);
  request.wal_page_magic = XLOG_PAGE_MAGIC;
  request.file_name = file;
  request.local_path = path;
  const BackupCompression compression = configured_compression();
  request.encode.compression = compression.algorithm;
  request.encode.compression_level = compression.level;
  const EncryptionSettings encryption = current_encryption_settings();
  request.encode.encryption_key = archive_key.get(encryption);
  if (encryption.enabled()) {
    request.history_decryptor = [provider = restore_key_provider(encryption)](const std::string&,
                                                                              Sink& next) {
      return make_decryptor(provider, next);
    };
  }
  return push_wal_file(*storage, request);
}

bool archive_file(const char* file, const char* path) {
  std::string where = repository_setting();
  std::string failure;
  try {
    const WalPushResult r = push(file, path, where);
    if (r.outcome == WalPushOutcome::already_archived) {
      log_message(LOG, "WAL file \"" + std::string(file) + "\" is archived already with the " +
                           "same content (" + r.key + " in " + where + "), not written again");
    } else {
      log_message(DEBUG1,
                  "archived WAL file \"" + std::string(file) + "\" as " + r.key + " in " + where);
    }
    return true;
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown error";
  }
  try {
    log_message(WARNING, "could not archive WAL file \"" + std::string(file) + "\" into " + where +
                             ": " + failure);
  } catch (...) {
  }
  return false;
}

}  // namespace

}  // namespace pgvault::pg

void _PG_archive_module_init(ArchiveModuleCallbacks* callbacks) {
  callbacks->check_configured_cb = [] { return pgvault::pg::check_configured(); };
  callbacks->archive_file_cb = [](const char* file, const char* path) {
    return pgvault::pg::archive_file(file, path);
  };
  callbacks->shutdown_cb = nullptr;
}
