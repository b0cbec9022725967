#include "pgvault/error.hpp"

#include "shared_state.hpp"

namespace pgvault::pg {
namespace {

SharedState* state = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void on_shmem_request() {
  if (prev_shmem_request_hook) prev_shmem_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

void on_shmem_startup() {
  if (prev_shmem_startup_hook) prev_shmem_startup_hook();
  attach_shared_memory();
}

}  // namespace

void request_shared_memory() {
  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = on_shmem_request;
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = on_shmem_startup;
}

void attach_shared_memory() {
  bool found = false;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  state = static_cast<SharedState*>(ShmemInitStruct("pgvault", sizeof(SharedState), &found));
  if (!found) {
    memset(state, 0, sizeof(SharedState));
    SpinLockInit(&state->mutex);
    state->job.state = JobState::idle;
  }
  LWLockRelease(AddinShmemInitLock);
}

SharedState* shared() {
  if (state == nullptr) {
    throw Error(ErrorKind::unsupported,
                "pgvault is not loaded through shared_preload_libraries; add it there and restart "
                "the server");
  }
  return state;
}

void copy_fixed(char* dst, int capacity, const char* src) {
  strlcpy(dst, src ? src : "", capacity);
}

}  // namespace pgvault::pg
