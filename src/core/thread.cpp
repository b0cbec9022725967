#include "pgvault/thread.hpp"

#include <pthread.h>

#include <utility>

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

BackgroundTask::BackgroundTask(std::function<void()> body)
    : thread_(start_signal_blocked_thread([this, body = std::move(body)] {
        try {
          body();
        } catch (...) {
          error_ = std::current_exception();
        }
      })) {}

BackgroundTask::~BackgroundTask() {
  if (thread_.joinable()) thread_.join();
}

void BackgroundTask::wait() {
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace pgvault
