// The job worker: a dynamic background worker that runs one backup. It
// turns the job slot and the settings into one BackupRequest, records the
// outcome on the history row, and leaves the backup itself to the core's
// runner of its kind.
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/text.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/physical/incremental_backup.hpp"
#include "pgvault/physical/physical_backup.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/progress_meter.hpp"
#include "pgvault/storage/storage.hpp"

#include <sys/resource.h>

#include <csignal>
#include <memory>
#include <optional>

#include "storage_settings.hpp"

#include "alerts.hpp"
#include "cluster_identity.hpp"
#include "configured_retention.hpp"
#include "error_boundary.hpp"
#include "logging.hpp"
#include "history.hpp"
#include "incremental_source.hpp"
#include "job_worker.hpp"
#include "worker_connection.hpp"
#include "replication_client.hpp"
#include "server_programs.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"
#include "wal_summarizer.hpp"

namespace pgvault::pg {
namespace {

volatile sig_atomic_t termination_requested = 0;

void handle_sigterm(SIGNAL_ARGS) {
  const int save_errno = errno;
  termination_requested = 1;
  SetLatch(MyLatch);
  errno = save_errno;
}

// A user's vault.cancel_backup() ends the backup as 'cancelled'; SIGTERM
// (server shutdown, pg_terminate_backend) as 'failed', since the backup
// that should have run did not.
class CancelledByUser : public Error {
 public:
  CancelledByUser() : Error(ErrorKind::cancelled, "backup cancelled by vault.cancel_backup()") {}
};

void check_job_interrupts() {
  if (termination_requested) {
    throw Error(ErrorKind::cancelled,
                "interrupted: the job worker was stopped (server shutdown or "
                "pg_terminate_backend)");
  }
  lock_shared();
  const bool cancel = shared()->job.cancel_requested;
  unlock_shared();
  if (cancel) throw CancelledByUser();
}

// The job's last act: its caller (wait_for_job_to_complete) returns from here
// on, without waiting for this process to exit (25 ms on a loaded machine).
void release_job_slot(long long backup_id) {
  Latch* requester = nullptr;
  lock_shared();
  if (shared()->job.backup_id == backup_id) {
    shared()->job.state = JobState::idle;
    shared()->job.worker_pid = 0;
    requester = shared()->job.requester_latch;
  }
  unlock_shared();
  if (requester) SetLatch(requester);
}

// What the job cost the server, in its last line: for a DBA sizing the
// server, and for the bench, which reports the peer tools' ru_maxrss (GNU
// time) and reads this one the same way instead of sampling /proc beside
// the backup it times. getrusage covers every thread of the process.
void log_job_resources(const std::string& name) {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return;
  // Hundredths: a small backup's worker spends a few of them.
  auto seconds = [](const struct timeval& t) {
    return summary_duration(static_cast<double>(t.tv_sec) + t.tv_usec / 1e6, 2);
  };
  log_message(LOG, "backup \"" + name + "\": job worker peak memory " +
                       human_size(static_cast<std::uint64_t>(usage.ru_maxrss) * 1024) +
                       " (RSS), CPU " + seconds(usage.ru_utime) + " user, " +
                       seconds(usage.ru_stime) + " system");
}

// A failed backup's committed objects (and on object stores an unfinished
// multipart upload the writer could not abort) are removed at once; when the
// store cannot be reached, the row is marked cleanup_pending and the next
// successful backup, or vault.cleanup(), finishes the job.
void remove_failed_backup(const std::string& repository_url, const std::string& system_identifier,
                          const std::string& name, long long backup_id) {
  try {
    auto storage = open_repository(repository_url);
    storage->remove_prefix(Repository::backup_dir(system_identifier, name));
  } catch (const std::exception& e) {
    history::set_cleanup_pending(backup_id);
    log_message(WARNING, "could not remove the partial objects of backup \"" + name + "\": " +
                             e.what() + "; they are removed after the next successful backup");
  }
}

void report_progress(std::uint64_t done, std::uint64_t total, std::uint64_t stored,
                     const char* phase) {
  lock_shared();
  JobSlot& job = shared()->job;
  job.bytes_done = done;
  job.bytes_total = total;
  job.bytes_stored = stored;
  copy_fixed(job.phase, kWordLen, phase);
  unlock_shared();
}

// Who holds a lock pg_dump's ACCESS SHARE waits for (only ACCESS EXCLUSIVE
// conflicts with it) on a table of `database`: "pid 123 (user ..., ...)".
std::string lock_holders(const std::string& database) {
  std::vector<SqlRow> rows;
  try {
    in_own_transaction([&] {
      rows = spi_query(
          "SELECT DISTINCT a.pid::text, coalesce(a.usename::text, '?'), "
          "coalesce(a.application_name, ''), coalesce(a.state, '?') "
          "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
          "JOIN pg_catalog.pg_database d ON d.oid = l.database "
          "WHERE d.datname = $1 AND l.granted AND l.locktype = 'relation' "
          "AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_catalog.pg_backend_pid() "
          "ORDER BY 1",
          {database});
    });
  } catch (const std::exception& e) {
    return std::string("could not look up the session holding it: ") + e.what();
  }
  if (rows.empty()) return "the session that held it has released it since";
  std::string out = "held by";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += std::string(i == 0 ? " " : ", ") + "pid " + rows[i][0].value_or("?") + " (user " +
           rows[i][1].value_or("?") + ", application \"" + rows[i][2].value_or("") + "\", state " +
           rows[i][3].value_or("?") + ")";
  }
  return out + "; end that session's transaction or pg_terminate_backend() it";
}

// The job as one request, from the job slot (what the SQL call or the
// scheduler asked for) and the settings, as far as it cannot fail: the
// history row is written from it. complete_request() adds the rest once the
// row exists to record a failure.
BackupRequest request_for(const JobSlot& slot) {
  BackupRequest req;
  const std::optional<BackupKind> kind = parse_backup_kind(slot.kind);
  if (!kind) {
    throw Error(ErrorKind::internal,
                "job slot holds unknown backup kind \"" + std::string(slot.kind) + "\"");
  }
  req.kind = *kind;
  req.origin.name = slot.name;
  req.origin.label = slot.label;
  req.origin.trigger = slot.trigger;
  req.origin.initiated_by = slot.initiated_by;
  req.origin.system_identifier = system_identifier_string();
  req.origin.pg_version = PG_VERSION_NUM;
  // Recorded in backup.json: it names and counts the archived WAL segments.
  req.origin.wal_segment_size = static_cast<std::uint64_t>(wal_segment_size);
  req.compression = configured_compression();
  req.max_rate_kb = guc_max_rate_kb;
  req.max_stored_bytes = static_cast<std::uint64_t>(guc_max_backup_size_mb) * 1024 * 1024;
  req.lock_wait_timeout_ms = guc_logical_lock_timeout_ms;
  // Catalog lookups need a transaction.
  in_own_transaction([&] {
    req.origin.database = pg_guard([] { return get_database_name(MyDatabaseId); });
    req.conninfo = pgvault_conninfo();
  });
  if (req.kind == BackupKind::logical) {
    req.origin.database = slot.target_database;
    // pg_dump empties search_path itself; options pins it before that.
    req.conninfo += " options=" + conninfo_quote(options_with_safe_search_path(req.conninfo));
  }
  return req;
}

// What may fail: the server's pg_dump and the options of a logical backup,
// and the encryption key (which the caller keeps alive).
void complete_request(BackupRequest& req, const JobSlot& slot, const EncryptionKey* key) {
  req.encryption_key = key;
  if (req.kind == BackupKind::logical) {
    req.pg_dump = server_program("pg_dump");
    req.logical = LogicalOptions::from_json(slot.options);
  }
}

// server: the connection run_job started, if it could.
BackupMeta run_physical(Repository& repo, BackupRequest& req,
                        std::optional<ReplicationClient>& server) {
  // The files' identities for the first incremental on top of this full:
  // an incremental reads this data directory, so it is the one to record.
  req.data_directory = DataDir;
  if (!server) server.emplace(req.conninfo);
  server->check_interrupts = check_job_interrupts;
  return run_physical_backup(repo, req, *server, [](const BackupProgress& p) {
    report_progress(p.done, p.total, p.stored, p.phase);
  });
}

BackupMeta run_logical(Repository& repo, const BackupRequest& req) {
  report_progress(0, 0, 0, "dumping");
  try {
    return run_logical_backup(
        repo, req,
        [](const BackupProgress& p) { report_progress(p.done, p.total, p.stored, p.phase); },
        check_job_interrupts);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (req.lock_wait_timeout_ms == 0 || what.find("LOCK TABLE") == std::string::npos) throw;
    throw Error(e.kind(),
                "pg_dump gave up waiting for a table lock after "
                "pgvault.logical_lock_timeout (" +
                    std::to_string(req.lock_wait_timeout_ms) +
                    " ms): " + lock_holders(req.origin.database) + "\n" + what);
  }
}

// An incremental: against the newest physical backup of this server's
// timeline and past, read from the data directory by this worker itself.
BackupMeta run_incremental(Repository& repo, const std::string& repository_url,
                           BackupRequest& req) {
  report_progress(0, 0, 0, "checkpoint");
  wake_wal_summarizer();
  const BackupMeta parent =
      incremental_parent_now(repo, req.origin.system_identifier, repository_url);
  log_message(LOG, "backup \"" + req.origin.name + "\" is incremental to \"" + parent.name +
                       "\" (" + parent.kind + ", ended at " + parent.stop_lsn + ")");
  req.read_workers = guc_backup_workers;
  req.changes = static_cast<IncrementalChanges>(guc_incremental_changes);
  req.data_checksums = pg_guard([] { return DataChecksumsEnabled(); });
  JobIncrementalSource source(
      "pgvault " + req.origin.name + (req.origin.label.empty() ? "" : " " + req.origin.label),
      check_job_interrupts);
  IncrementalCallbacks callbacks;
  callbacks.progress = [](const BackupProgress& p) {
    report_progress(p.done, p.total, p.stored, p.phase);
  };
  callbacks.check_interrupts = check_job_interrupts;
  callbacks.log = [&](std::string_view line) {
    log_message(LOG, "backup \"" + req.origin.name + "\": " + std::string(line));
  };
  return run_incremental_backup(repo, req, parent, decryptor_for(parent, configured_encryption()),
                                source, callbacks);
}

void run_job(long long backup_id) {
  lock_shared();
  const JobSlot slot = shared()->job;
  unlock_shared();
  if (slot.backup_id != backup_id || slot.state != JobState::starting) {
    throw Error(ErrorKind::internal, "job worker started for backup id " +
                                         std::to_string(backup_id) + " but no such job is pending");
  }
  connect_worker(slot.database);
  pg_guard([] { pgstat_report_appname("pgvault backup"); });

  BackupRequest req = request_for(slot);
  const std::string repository_url = guc_repository;
  const std::string location =
      backup_location(repository_url, req.origin.system_identifier, req.origin.name);

  // Committed before any byte moves: even a crash leaves an audit row.
  const std::string scheduled_for =
      slot.scheduled_for == 0
          ? std::string()
          : std::string(pg_guard([&] { return timestamptz_to_str(slot.scheduled_for); }));
  const bool logical = req.kind == BackupKind::logical;
  // A full's replication connection is started first: the server forks and
  // authenticates its walsender while the row below is written (10-17 ms of
  // every full's start, one after the other before).
  // Its failures are the backup's, reported with the row (run_physical).
  std::optional<ReplicationClient> server;
  if (req.kind == BackupKind::physical) {
    try {
      server.emplace(req.conninfo, ConnectMode::start);
    } catch (const std::exception&) {
      // left empty: run_physical connects again, after the row exists
    }
  }
  history::insert_running({backup_id, req.origin.name, std::string(backup_kind_name(req.kind)),
                           req.origin.trigger, req.origin.label, req.origin.initiated_by,
                           std::string(compression_name(req.compression.algorithm)), location,
                           repository_url, req.origin.system_identifier, MyProcPid, scheduled_for,
                           slot.attempt, logical ? slot.target_database : "",
                           logical ? slot.options : ""});
  lock_shared();
  shared()->job.state = JobState::running;
  shared()->job.worker_pid = MyProcPid;
  Latch* requester = shared()->job.requester_latch;
  unlock_shared();
  if (requester) SetLatch(requester);

  log_message(LOG, "backup \"" + req.origin.name + "\" started");
  std::string failure;
  bool cancelled = false;
  // The name is another server's backup: its objects are not ours to remove.
  bool name_in_use = false;
  try {
    auto storage = open_repository(repository_url);
    Repository repo(*storage);
    // One key per backup (a passphrase gets a fresh salt each time).
    const std::optional<EncryptionKey> key = backup_encryption_key(configured_encryption());
    complete_request(req, slot, key ? &*key : nullptr);
    BackupMeta meta = logical ? run_logical(repo, req)
                      : req.kind == BackupKind::incremental
                          ? run_incremental(repo, repository_url, req)
                          : run_physical(repo, req, server);
    server.reset();  // the walsender's part is over
    try {
      history::mark_completed(backup_id, meta);
    } catch (...) {
      // The row could not say 'completed': do not leave a restorable backup
      // that the audit trail calls failed.
      repo.remove_backup(meta.system_identifier, meta.name);
      throw;
    }
    log_message(LOG, "backup \"" + req.origin.name + "\" completed: " +
                         human_size(meta.stored_bytes) + " stored in " + location);
    try {
      check_backup_anomaly(backup_id);
    } catch (const std::exception& e) {
      log_message(WARNING,
                  std::string("could not compare the backup with earlier ones: ") + e.what());
    }
    try {
      std::vector<history::PendingCleanup> pending;
      in_own_transaction([&] { pending = history::pending_cleanups(); });
      const RetentionResult removed = apply_configured_retention(
          repo, repository_url, req.origin.system_identifier, "", pending);
      in_own_transaction([&] {
        history::mark_removed(removed.expired, "expired");
        history::clear_cleanup_pending(removed.leftovers);
      });
    } catch (const std::exception& e) {
      // The backup itself succeeded; retention runs again after the next one.
      log_message(WARNING, std::string("retention failed: ") + e.what());
    }
  } catch (const CancelledByUser& e) {
    failure = e.what();
    cancelled = true;
  } catch (const Error& e) {
    failure = e.what();
    name_in_use = e.kind() == ErrorKind::already_exists;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    server.reset();  // the walsender ends its side of the backup now
    history::mark_failed(backup_id, failure, cancelled ? "cancelled" : "failed");
    log_message(WARNING, "backup \"" + req.origin.name + "\" " +
                             (cancelled ? "cancelled" : "failed: ") + (cancelled ? "" : failure));
    if (!name_in_use)
      remove_failed_backup(repository_url, req.origin.system_identifier, req.origin.name,
                           backup_id);
  }
  log_job_resources(req.origin.name);
  release_job_slot(backup_id);
}

}  // namespace

}  // namespace pgvault::pg

// Signals are set up before any C++ runs; the body is behind the boundary.
PGVAULT_WORKER(pgvault_job_main) {
  pqsignal(SIGTERM, pgvault::pg::handle_sigterm);
  BackgroundWorkerUnblockSignals();
  const long long backup_id = DatumGetInt64(arg);
  try {
    pgvault::pg::run_job(backup_id);
  } catch (...) {
    pgvault::pg::release_job_slot(backup_id);
    throw;
  }
}
