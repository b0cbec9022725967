// Parallel WAL archiving (issue 15): while PostgreSQL's archiver asks for one
// file at a time, the next .ready files are pushed ahead on a bounded number
// of threads, and the archiver's later calls for them are answered from what
// was recorded. What src/pg/wal_archive.cpp calls for each file; nothing here
// knows PostgreSQL.
//
// Contract of WalPushQueue:
//  - archive(batch) returns only when batch.file itself is durable in the
//    store (its own push, or a push made ahead that succeeded), and throws
//    when it is not. A push made ahead that failed is not reported: the file
//    is pushed again on the caller's thread when it is asked for, and that
//    push's failure is what archive() throws.
//  - At most `parallel` pushes run at once: parallel - 1 threads push ahead,
//    and the caller pushes the file it asked for itself when no push of it
//    ran ahead. parallel == 1 starts no thread (one file at a time).
//  - At most max_ahead() files (2 x parallel) are held ahead: queued,
//    running, or pushed and not yet asked for. A file is pushed at most once
//    ahead; a success is used once (the record goes when it is asked for);
//    a file whose push ahead failed is not pushed ahead again before it is
//    asked for (a failing store is not hammered by the threads).
//  - Files are pushed ahead in the order of batch.ready, which the caller
//    sorts with sort_in_archive_order (PostgreSQL 15's: .history first, then
//    by name); records of files no longer in batch.ready are forgotten.
//  - A batch with another settings_id (a reload changed where or how files
//    are written) discards every record made under the previous one: queued
//    pushes are dropped, running ones finish and their results are ignored.
//  - The pusher runs on the queue's threads: it must be thread-safe and must
//    not call into the host process's runtime (in the server: no palloc,
//    no elog, no PostgreSQL function); the calls may share one Storage
//    (every driver is thread-safe, storage.hpp), which keeps connections
//    open from file to file. Threads start with every signal blocked
//    (start_signal_blocked_thread).
//  - stop(wait) drops queued pushes and waits at most `wait` for running
//    ones (each bounded by the store's timeouts); threads still running then
//    are detached and finish on their own (they hold the state they use).
//  - archive() and stop() are called from one thread (the archiver's).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/wal/wal_push.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace pgvault {

// Pushes one WAL file (by name) and returns push_wal_file's result; throws
// on failure.
using WalFilePusher = std::function<WalPushResult(const std::string& file_name)>;

struct WalPushBatch {
  std::string file;                // the file PostgreSQL asks for now
  std::vector<std::string> ready;  // the other .ready files, in archive order
  WalFilePusher pusher;
  // Identifies where and how pusher writes (repository, settings); results
  // recorded under another one are never reused.
  std::string settings_id;
};

// Sorts file names as PostgreSQL 15's archiver picks them: timeline
// .history files first, then everything by name.
void sort_in_archive_order(std::vector<std::string>& names);

class WalPushQueue {
 public:
  explicit WalPushQueue(int parallel);  // parallel >= 1
  ~WalPushQueue();                      // stop(kStopWait)
  WalPushQueue(const WalPushQueue&) = delete;
  WalPushQueue& operator=(const WalPushQueue&) = delete;

  static constexpr std::chrono::milliseconds kStopWait{10000};

  int parallel() const { return parallel_; }
  std::size_t max_ahead() const { return 2 * static_cast<std::size_t>(parallel_); }

  WalPushResult archive(const WalPushBatch& batch);

  // Files held ahead now (queued, running, or done and not yet asked for).
  std::size_t held_ahead() const;

  // Returns true when every thread still attached ended within `wait`
  // (a later call does not wait for threads an earlier one left running).
  bool stop(std::chrono::milliseconds wait);

  struct State;  // shared with the threads

 private:
  void start_threads();

  int parallel_;
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace pgvault
