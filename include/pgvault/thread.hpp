#pragma once
#include "pgvault/pg_free.hpp"

#include <csignal>
#include <exception>
#include <functional>
#include <thread>

namespace pgvault {

// Starts a thread with every signal blocked. Core code also runs inside
// PostgreSQL backends, whose signal handlers must only ever run on the main
// thread (they set latches and flags the main thread acts on).
std::thread start_signal_blocked_thread(std::function<void()> body);

// Runs `body` on a thread of its own (start_signal_blocked_thread) while the
// caller does something else, for work that shares nothing with what the
// caller does meanwhile. wait() joins it and rethrows what `body` threw; the
// destructor joins too (a failure the caller did not wait for is dropped:
// the caller is already unwinding from one of its own).
class BackgroundTask {
 public:
  explicit BackgroundTask(std::function<void()> body);
  ~BackgroundTask();
  BackgroundTask(const BackgroundTask&) = delete;
  BackgroundTask& operator=(const BackgroundTask&) = delete;
  void wait();

 private:
  std::exception_ptr error_;
  std::thread thread_;
};

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
