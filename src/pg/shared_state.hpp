// Cluster-wide state in shared memory: the one running backup job (one
// backup at a time per cluster) and the scheduler's pid.
#pragma once

#include "postgres_headers.hpp"

namespace pgvault::pg {

enum class JobState : int {
  idle = 0,
  starting,  // claimed by a requester, worker launched, history row not yet committed
  running,   // history row committed as 'running'
  finished,  // worker is done (row completed or failed); requester may read it
};

constexpr int kNameLen = 64;
constexpr int kLabelLen = 256;
constexpr int kWordLen = 32;
constexpr int kOptionsLen = 4096;  // a logical backup's options as JSON

struct JobSlot {
  JobState state;
  int64 backup_id;
  pid_t worker_pid;
  pid_t requester_pid;
  Latch* requester_latch;
  Oid database;
  TimestampTz started_at;
  TimestampTz scheduled_for;  // 0 unless trigger is scheduled/retry
  int attempt;
  uint64 bytes_done;    // uncompressed bytes the server has sent
  uint64 bytes_total;   // the estimated total, from the walk of the data directory (0 = unknown)
  uint64 bytes_stored;  // bytes written to the repository
  char phase[kWordLen];
  bool cancel_requested;
  char name[kNameLen];
  char kind[kWordLen];
  char trigger[kWordLen];
  char initiated_by[NAMEDATALEN];
  char label[kLabelLen];
  char target_database[NAMEDATALEN];  // logical: the database to dump
  char options[kOptionsLen];          // logical: LogicalOptions::to_json()
};

constexpr int kStateLen = 256;
constexpr int kWalNameLen = 64;  // a WAL file name (24 characters, .partial/.backup longer)
constexpr int kArchiveErrorLen = 1024;
constexpr int kRepositoryLen = 1024;

// What the archiver (archive_library = 'pgvault', src/pg/wal_archive.cpp)
// last did, for vault.archiving and the scheduler's NOTIFY events. Only the
// archiver's main thread writes it (never its upload threads).
struct ArchiveState {
  pid_t archiver_pid;               // 0 while no archiver runs pgvault's module
  char repository[kRepositoryLen];  // the repository URL it writes to (no secrets)
  char last_archived_file[kWalNameLen];
  TimestampTz last_archived_at;
  char last_failed_file[kWalNameLen];
  TimestampTz last_failed_at;
  char last_error[kArchiveErrorLen];  // of the last failure (or "not configured: ...")
  TimestampTz last_error_at;
  uint64 failures;  // failed archive calls since the server started
  bool failing;     // the last call failed (or archiving is not configured)
  // Events for NOTIFY: counted by the archiver, sent by the scheduler, which
  // records here how far it got (a restarted scheduler does not repeat them).
  uint64 failure_events;   // a failure of another file than the last failure, or after a success
  uint64 recovery_events;  // a success after failures
  uint64 notified_failure_events;
  uint64 notified_recovery_events;
};

constexpr int kAlertQueueLen = 32;      // outcomes waiting for the alerts worker
constexpr int kAlertOutcomeLen = 4096;  // one outcome as JSON (errors cut to 2000 bytes)
constexpr int kAlertChannelsLen = 64;   // "webhook, email"
constexpr int kAlertErrorLen = 1024;
constexpr int kAlertStaleLen = 2048;    // vault.status.stale: the stale kinds' sentences
constexpr int kAlertEventQueueLen = 8;  // NOTIFY pgvault events the scheduler sends for the worker

// Outcomes (backups, verification) for the "pgvault alerts" worker
// (alerts.cpp), written at the commit of the transaction that recorded them;
// when the worker falls behind by kAlertQueueLen, the oldest is dropped.
// The worker's delivery state, for vault.status (no secret in it).
struct AlertState {
  pid_t worker_pid;
  Latch* worker_latch;
  uint64 written;  // outcomes ever queued; outcome i is at queue[i % kAlertQueueLen]
  uint64 read;     // outcomes the worker took
  uint64 dropped;  // overwritten before the worker took them
  char queue[kAlertQueueLen][kAlertOutcomeLen];
  char channels[kAlertChannelsLen];  // configured channels, "" = none
  bool failing;                      // some channel's last attempt failed
  char last_error[kAlertErrorLen];   // "webhook: ..." (URLs shown without path or query)
  TimestampTz last_error_at;
  TimestampTz last_delivered_at;
  char stale[kAlertStaleLen];  // what is stale now ("" = nothing), see alert/staleness.hpp
  // NOTIFY pgvault payloads (stale, stale_recovered) from the worker, which
  // has no database connection; the scheduler sends them (send_alert_events).
  uint64 events_written;
  uint64 events_sent;
  char events[kAlertEventQueueLen][kAlertOutcomeLen];
};

// The "pgvault summarizer" worker (wal_summarizer.cpp) and the incremental
// backups that wait for it.
struct SummarizerState {
  pid_t pid;               // 0 while it does not run
  Latch* latch;            // set by a backup that asks for `requested`
  uint64 requested;        // an LSN a backup waits to see summarized
  Latch* requester_latch;  // that backup's latch, set when `requested` is reached
  uint64 summarized;       // the end of the WAL summarized so far, on `timeline`
  uint32 timeline;
  char last_problem[kArchiveErrorLen];  // why it last started afresh or failed ("" = none)
};

struct SharedState {
  slock_t mutex;
  pid_t scheduler_pid;
  Latch* scheduler_latch;  // set while the scheduler runs (woken by CREATE EXTENSION)
  char scheduler_state[kStateLen];
  TimestampTz next_run_at;  // 0 = none
  TimestampTz retry_at;     // 0 = none
  JobSlot job;
  ArchiveState archive;
  AlertState alerts;
  SummarizerState summarizer;
};

void request_shared_memory();
void attach_shared_memory();
SharedState* shared();

// RAII is not safe across ereport; these are plain and short (no ereport
// may happen between them).
inline void lock_shared() {
  SpinLockAcquire(&shared()->mutex);
}
inline void unlock_shared() {
  SpinLockRelease(&shared()->mutex);
}

// Copies a C++ string into a fixed buffer, truncating.
void copy_fixed(char* dst, int capacity, const char* src);

}  // namespace pgvault::pg
