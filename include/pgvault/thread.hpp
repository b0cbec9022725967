#pragma once
#include "pgvault/pg_free.hpp"

#include <functional>
#include <thread>

#include <signal.h>

namespace pgvault {

// Starts a thread with every signal blocked. Core code also runs inside
// PostgreSQL backends, whose signal handlers must only ever run on the main
// thread (they set latches and flags the main thread acts on).
std::thread start_signal_blocked_thread(std::function<void()> body);

// Blocks every signal on this thread for its lifetime: threads a library
// starts meanwhile (zstd's compression workers) inherit the blocked mask.
class SignalsBlocked {
 public:
  SignalsBlocked();
  ~SignalsBlocked();
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

}  // namespace pgvault
