#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pgvault {

// Pass-through stage that runs everything downstream of it (next.write() and
// next.finish()) on a thread of its own, so the caller's stages and the
// downstream ones use two cores: restore and verify read and hash the stored
// bytes on the caller's thread while this one decrypts, decompresses and
// parses the tar stream.
//
// Memory is bounded: write() copies into one of `buffers` buffers of
// `buffer_size` bytes and waits for a free one when all are queued.
// The first exception thrown downstream is kept and rethrown, as the same
// object (a pgvault::Error keeps its kind and message), by the caller's next
// write() or by finish(); everything after it is dropped. finish() returns
// once next.finish() has returned. Destroying it without finish() (the
// caller failed) stops the thread after the chunk in hand.
// Downstream stages must not call into PostgreSQL (they run off the main
// thread; the thread has every signal blocked).
class ThreadedSink final : public Sink {
 public:
  explicit ThreadedSink(Sink& next, std::size_t buffer_size = 1024 * 1024, std::size_t buffers = 4);
  ~ThreadedSink() override;
  ThreadedSink(const ThreadedSink&) = delete;
  ThreadedSink& operator=(const ThreadedSink&) = delete;

  void write(std::span<const std::byte> data) override;
  void finish() override;

 private:
  struct Chunk {
    std::size_t buffer = 0;
    std::size_t length = 0;
  };
  void run();
  void flush_current(std::unique_lock<std::mutex>& lock);
  void stop();

  Sink& next_;
  std::size_t buffer_size_;
  std::vector<std::unique_ptr<std::byte[]>> pool_;

  std::size_t current_ = SIZE_MAX;  // caller's side: the buffer being filled
  std::size_t current_fill_ = 0;

  std::mutex mutex_;
  std::condition_variable work_;  // the thread waits for chunks (or the end)
  std::condition_variable idle_;  // the caller waits for buffers (or the end)
  std::vector<std::size_t> free_;
  std::deque<Chunk> queue_;
  bool finishing_ = false;  // no more chunks: call next.finish() once the queue is empty
  bool finished_ = false;   // next.finish() returned (or an error ended the work)
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace pgvault
