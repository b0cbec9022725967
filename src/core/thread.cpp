#include "pgvault/thread.hpp"

#include <pthread.h>

namespace pgvault {

SignalsBlocked::SignalsBlocked() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_);
}

SignalsBlocked::~SignalsBlocked() {
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::thread start_signal_blocked_thread(std::function<void()> body) {
  SignalsBlocked blocked;
  return std::thread(std::move(body));
}

}  // namespace pgvault
