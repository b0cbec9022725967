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
  uint64 bytes_total;   // the server's estimate of the total (0 = unknown)
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

struct SharedState {
  slock_t mutex;
  pid_t scheduler_pid;
  Latch* scheduler_latch;  // set while the scheduler runs (woken by CREATE EXTENSION)
  char scheduler_state[kStateLen];
  TimestampTz next_run_at;  // 0 = none
  TimestampTz retry_at;     // 0 = none
  JobSlot job;
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
