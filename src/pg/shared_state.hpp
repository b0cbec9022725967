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

struct JobSlot {
  JobState state;
  int64 backup_id;
  pid_t worker_pid;
  pid_t requester_pid;
  Latch* requester_latch;
  Oid database;
  TimestampTz started_at;
  uint64 bytes_done;
  bool cancel_requested;
  char name[kNameLen];
  char kind[kWordLen];
  char trigger[kWordLen];
  char initiated_by[NAMEDATALEN];
  char label[kLabelLen];
};

struct SharedState {
  slock_t mutex;
  pid_t scheduler_pid;
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
