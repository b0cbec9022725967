#pragma once
#include "pgvault/pg_free.hpp"

#include <csignal>
#include <functional>
#include <thread>

namespace pgvault {

// Starts a thread with every signal blocked. Core code also runs inside
// PostgreSQL backends, whose signal handlers must only ever run on the main
// thread (they set latches and flags the main thread acts on).
std::thread start_signal_blocked_thread(std::function<void()> body);

// Blocks every signal in the calling thread while it lives, for calls into a
// library that may start threads of its own (libzstd's workers): they inherit
// the mask. A signal that arrives meanwhile waits, it is not lost.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked();
  ~AllSignalsBlocked();
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

}  // namespace pgvault
