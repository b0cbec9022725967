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
//
// Parallel archiving (pgvault.archive_parallel): each call lists
// pg_wal/archive_status and hands the core's WalPushQueue the asked-for file
// and the other .ready files; the queue pushes the next ones ahead on its own
// threads and answers later calls from what it recorded
// (include/pgvault/wal/wal_push_queue.hpp). Everything a push needs is read
// from PostgreSQL on this (the main) thread into a PushSnapshot first: the
// upload threads run only core code. They share one Storage (the drivers
// are thread-safe, storage.hpp), kept from call to call while the settings
// stay the same: its connections (and a GCS access token) serve file after
// file instead of a new connection, TLS handshake and token per segment.
//
// What the archiver did (last file, last failure and its error) goes into
// shared memory (ArchiveState), for vault.archiving and for the scheduler,
// which turns failures and recoveries into NOTIFY pgvault events.
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/wal/wal_push.hpp"
#include "pgvault/wal/wal_push_queue.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
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

// A passphrase is stretched once per archiver process and setting, not once
// per file (every object still gets its own nonce); a key file is read each
// time, so a replaced file is picked up without a reload.
// Shared with the upload threads, which may still use a key after a reload
// replaced it here.
class ArchiveKey {
 public:
  std::shared_ptr<const EncryptionKey> get(const EncryptionSettings& settings) {
    validate_encryption_settings(settings);
    if (!settings.passphrase.empty()) {
      if (!passphrase_key_ || passphrase_ != settings.passphrase) {
        passphrase_key_.reset();
        passphrase_key_ = to_shared(backup_encryption_key(settings));
        passphrase_ = settings.passphrase;
      }
      return passphrase_key_;
    }
    return to_shared(backup_encryption_key(settings));
  }

 private:
  static std::shared_ptr<const EncryptionKey> to_shared(std::optional<EncryptionKey> key) {
    if (!key) return nullptr;
    return std::make_shared<const EncryptionKey>(std::move(*key));
  }

  std::string passphrase_;
  std::shared_ptr<const EncryptionKey> passphrase_key_;
};

ArchiveKey archive_key;

std::string repository_setting() {
  return guc_repository ? guc_repository : "";
}

// Everything a push needs, read from PostgreSQL on the archiver's main
// thread: the upload threads use only this (and core code).
struct PushSnapshot {
  std::string url;                   // pgvault.repository
  std::string display_url;           // the store's own URL for messages (no secrets)
  std::shared_ptr<Storage> storage;  // shared by every push under these settings
  WalPushRequest request;            // without file_name and local_path
  std::shared_ptr<const EncryptionKey> key;
  EncryptionSettings encryption;  // to read back a stored .history
  std::string settings_id;        // WalPushBatch::settings_id
};

// The Storage the pushes share, and the hash of the settings it was opened
// with. Touched on the archiver's main thread only.
std::shared_ptr<Storage> shared_storage;
std::string shared_storage_id;

// Throws what makes archiving impossible whatever the file: a rejected
// pgvault.repository line, an unusable URL or store settings, both
// encryption settings at once.
std::shared_ptr<const PushSnapshot> take_snapshot() {
  require_chosen_repository();
  auto snap = std::make_shared<PushSnapshot>();
  snap->encryption = configured_encryption();
  validate_encryption_settings(snap->encryption);
  snap->url = repository_setting();
  StorageSettings storage = current_storage_settings();
  // Parallelism comes from files (pgvault.archive_parallel): one part or
  // block in flight per upload keeps each upload within two part buffers
  // (src/core/wal/README.md, "Memory of the archiver").
  storage["s3_parts_in_flight"] = "1";
  storage["azure_blocks_in_flight"] = "1";
  WalPushRequest& r = snap->request;
  r.system_identifier = system_identifier_string();
  r.wal_segment_size = static_cast<std::uint64_t>(wal_segment_size);
  r.wal_page_magic = XLOG_PAGE_MAGIC;
  const BackupCompression compression = configured_compression();
  r.encode.compression = compression.algorithm;
  r.encode.compression_level = compression.level;
  snap->key = archive_key.get(snap->encryption);
  std::string where = snap->url;
  for (const auto& [name, value] : storage) where += '\n' + name + '=' + value;
  const std::string store_id = sha256_hex(where);  // kept without the secrets in it
  snap->settings_id =
      sha256_hex(where + '\n' + std::to_string(static_cast<int>(compression.algorithm)) + ':' +
                 std::to_string(compression.level) + '\n' + snap->encryption.key_file + '\n' +
                 snap->encryption.passphrase);
  // A reload that changes where or how files are stored opens a new one;
  // pushes still running on the old one keep it alive until they end.
  if (!shared_storage || shared_storage_id != store_id) {
    shared_storage = pgvault::open_repository(snap->url, storage);
    shared_storage_id = store_id;
  }
  snap->storage = shared_storage;
  snap->display_url = snap->storage->url();
  return snap;
}

// Runs on upload threads: core code only, on the snapshot's Storage.
WalPushResult push_with(const PushSnapshot& snap, const std::string& wal_dir,
                        const std::string& name) {
  WalPushRequest r = snap.request;
  r.file_name = name;
  r.local_path = wal_dir + "/" + name;
  r.encode.encryption_key = snap.key.get();
  if (snap.encryption.enabled()) {
    r.history_decryptor = [provider = restore_key_provider(snap.encryption)](const std::string&,
                                                                             Sink& next) {
      return make_decryptor(provider, next);
    };
  }
  return push_wal_file(*snap.storage, r);
}

// The .ready files in pg_wal/archive_status other than `asked`, in the
// order PostgreSQL's archiver takes them. A directory that cannot be read
// gives none (the asked-for file is still archived, just nothing ahead).
std::vector<std::string> ready_files(const std::string& asked) {
  static const std::string kReady = ".ready";
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(XLOGDIR "/archive_status", ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.ends_with(kReady)) continue;
    name.resize(name.size() - kReady.size());
    if (name != asked) names.push_back(std::move(name));
  }
  sort_in_archive_order(names);
  return names;
}

std::unique_ptr<WalPushQueue> push_queue;

WalPushQueue& queue_for_setting() {
  if (!push_queue || push_queue->parallel() != guc_archive_parallel) {
    push_queue.reset();  // stops its threads
    push_queue = std::make_unique<WalPushQueue>(guc_archive_parallel);
  }
  return *push_queue;
}

// Records an outcome in ArchiveState and wakes the scheduler when there is
// an event to send (see the struct). file is empty when archiving is not
// configured at all.
void record_outcome(const std::string& file, const std::string& where, const std::string* error) {
  SharedState* state = shared();  // throws outside the guard when not loaded at start-up
  pg_guard([&] {
    const TimestampTz now = GetCurrentTimestamp();
    Latch* wake = nullptr;
    Latch* wake_alerts = nullptr;
    lock_shared();
    ArchiveState& a = state->archive;
    a.archiver_pid = MyProcPid;
    copy_fixed(a.repository, kRepositoryLen, where.c_str());
    if (error == nullptr) {
      copy_fixed(a.last_archived_file, kWalNameLen, file.c_str());
      a.last_archived_at = now;
      if (a.failing) {
        a.failing = false;
        ++a.recovery_events;
        wake = state->scheduler_latch;
        wake_alerts = state->alerts.worker_latch;
      }
    } else {
      const bool new_event = !a.failing || strcmp(a.last_failed_file, file.c_str()) != 0;
      if (!file.empty()) {
        copy_fixed(a.last_failed_file, kWalNameLen, file.c_str());
        a.last_failed_at = now;
        ++a.failures;
      }
      copy_fixed(a.last_error, kArchiveErrorLen, error->c_str());
      a.last_error_at = now;
      a.failing = true;
      if (new_event) {
        ++a.failure_events;
        wake = state->scheduler_latch;
        wake_alerts = state->alerts.worker_latch;
      }
    }
    unlock_shared();
    if (wake != nullptr) SetLatch(wake);
    if (wake_alerts != nullptr) SetLatch(wake_alerts);
  });
}

void record_outcome_quietly(const std::string& file, const std::string& where,
                            const std::string* error) {
  try {
    record_outcome(file, where, error);
  } catch (...) {
  }
}

bool check_configured() {
  std::string failure;
  try {
    (void)take_snapshot();
    return true;
  } catch (const std::exception& e) {
    failure = std::string("WAL archiving is not configured: ") + e.what();
  } catch (...) {
    failure = "WAL archiving is not configured: unknown error";
  }
  try {
    log_message(WARNING, failure);
  } catch (...) {
  }
  record_outcome_quietly("", repository_setting(), &failure);
  return false;
}

bool archive_file(const char* file, const char* /*path: XLOGDIR/file*/) {
  std::string where = repository_setting();
  std::string failure;
  try {
    const auto snap = take_snapshot();
    where = snap->display_url;
    WalPushBatch batch;
    batch.file = file;
    batch.ready = ready_files(batch.file);
    batch.settings_id = snap->settings_id;
    batch.pusher = [snap, wal_dir = std::string(XLOGDIR)](const std::string& name) {
      return push_with(*snap, wal_dir, name);
    };
    const WalPushResult r = queue_for_setting().archive(batch);
    if (r.outcome == WalPushOutcome::already_archived) {
      log_message(LOG, "WAL file \"" + std::string(file) + "\" is archived already with the " +
                           "same content (" + r.key + " in " + where + "), not written again");
    } else {
      log_message(DEBUG1,
                  "archived WAL file \"" + std::string(file) + "\" as " + r.key + " in " + where);
    }
    record_outcome_quietly(file, where, nullptr);
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
  record_outcome_quietly(file, where, &failure);
  return false;
}

// Before the archiver exits: stop the upload threads (a push still running
// after WalPushQueue::kStopWait is left to finish on its own; the process
// is exiting) and say that no archiver runs.
void shutdown() {
  try {
    push_queue.reset();
    shared_storage.reset();  // its connections close now, not at exit
  } catch (...) {
  }
  try {
    SharedState* state = shared();
    lock_shared();
    state->archive.archiver_pid = 0;
    unlock_shared();
  } catch (...) {
  }
}

}  // namespace

}  // namespace pgvault::pg

void _PG_archive_module_init(ArchiveModuleCallbacks* callbacks) {
  callbacks->check_configured_cb = [] { return pgvault::pg::check_configured(); };
  callbacks->archive_file_cb = [](const char* file, const char* path) {
    return pgvault::pg::archive_file(file, path);
  };
  callbacks->shutdown_cb = [] { pgvault::pg::shutdown(); };
}
