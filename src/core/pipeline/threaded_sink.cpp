#include "pgvault/pipeline/threaded_sink.hpp"

#include "pgvault/thread.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace pgvault {

ThreadedSink::ThreadedSink(Sink& next, std::size_t buffer_size, std::size_t buffers)
    : next_(next), buffer_size_(std::max<std::size_t>(buffer_size, 4096)) {
  buffers = std::max<std::size_t>(buffers, 2);
  for (std::size_t i = 0; i < buffers; ++i) {
    pool_.push_back(std::make_unique<std::byte[]>(buffer_size_));
    free_.push_back(i);
  }
  thread_ = start_signal_blocked_thread([this] { run(); });
}

ThreadedSink::~ThreadedSink() {
  stop();
}

void ThreadedSink::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ThreadedSink::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty() || finishing_; });
    if (stop_) return;
    std::exception_ptr err;
    if (!queue_.empty()) {
      const Chunk c = queue_.front();
      queue_.pop_front();
      const bool failed = static_cast<bool>(error_);
      lock.unlock();
      if (!failed) {
        try {
          next_.write(std::span<const std::byte>(pool_[c.buffer].get(), c.length));
        } catch (...) {
          err = std::current_exception();
        }
      }
      lock.lock();
      free_.push_back(c.buffer);
    } else {  // finishing_, and every chunk passed on
      const bool failed = static_cast<bool>(error_);
      lock.unlock();
      if (!failed) {
        try {
          next_.finish();
        } catch (...) {
          err = std::current_exception();
        }
      }
      lock.lock();
      finished_ = true;
    }
    if (err && !error_) error_ = err;
    idle_.notify_all();
    if (finished_) return;
  }
}

void ThreadedSink::flush_current(std::unique_lock<std::mutex>& lock) {
  if (current_ == SIZE_MAX) return;
  if (current_fill_ == 0) {
    free_.push_back(std::exchange(current_, SIZE_MAX));
    return;
  }
  queue_.push_back({std::exchange(current_, SIZE_MAX), current_fill_});
  current_fill_ = 0;
  lock.unlock();
  work_.notify_one();
  lock.lock();
}

void ThreadedSink::write(std::span<const std::byte> data) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (error_) std::rethrow_exception(error_);
  while (!data.empty()) {
    if (current_ == SIZE_MAX) {
      idle_.wait(lock, [&] { return !free_.empty() || error_; });
      if (error_) std::rethrow_exception(error_);
      current_ = free_.back();
      free_.pop_back();
      current_fill_ = 0;
    }
    const std::size_t n = std::min(buffer_size_ - current_fill_, data.size());
    // The copy needs no lock: the buffer is the caller's until it is queued.
    lock.unlock();
    std::memcpy(pool_[current_].get() + current_fill_, data.data(), n);
    lock.lock();
    current_fill_ += n;
    data = data.subspan(n);
    if (current_fill_ == buffer_size_) flush_current(lock);
  }
}

void ThreadedSink::finish() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!error_) flush_current(lock);
  finishing_ = true;
  work_.notify_one();
  idle_.wait(lock, [&] { return finished_; });
  if (error_) std::rethrow_exception(error_);
}

}  // namespace pgvault
