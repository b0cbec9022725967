#include "pgvault/thread.hpp"

#include <pthread.h>

namespace pgvault {

AllSignalsBlocked::AllSignalsBlocked() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_);
}

AllSignalsBlocked::~AllSignalsBlocked() {
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::thread start_signal_blocked_thread(std::function<void()> body) {
  AllSignalsBlocked blocked;  // the new thread inherits this mask
  return std::thread(std::move(body));
}

}  // namespace pgvault
