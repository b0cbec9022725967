// Writes runs of pages into restored files on a thread of its own, in the
// order they were queued, so that the thread decoding a chain of backups never
// waits for the disk.
//
// Why: a chain restore rebuilds files page by page on the decoding thread.
// Written there, every pwrite() that met dirty-page throttling and every
// sync_file_range() that met a full device queue stopped decompression too;
// a restore of a full and 6 incrementals spent half its time idle, at
// 1.5-1.8 x the restore of the full alone (which writes on threads of its own,
// FileWriter). Here the decoding thread only copies pages into one of a few
// buffers.
//
// Contract:
//  * Operations run in queue order, so a file's writes, its ftruncate() and
//    its close() happen in the order they were asked for.
//  * A file is a QueuedFile: a path and open(2) flags. The queue's thread
//    opens it at its first write or set_size (creating a file costs ext4 an
//    inode search, 0.25 s of the decoding thread's 0.76 s in a chain of 7
//    when it opened them itself) and closes it at close(), or when the last
//    queued operation that uses it is dropped. An open that fails is the
//    queue's failure like any other.
//  * Memory is bounded: at most `buffers` buffers of `buffer_bytes` and
//    `max_queued` operations; take_buffer() and the enqueueing calls block
//    while the writer is behind.
//  * The first failure is kept; every later call (take_buffer, write,
//    set_size, close, drain) throws it, and the operations still queued are
//    dropped. drain() waits until everything queued is done and throws the
//    failure if there was one: call it before reading a file back and before
//    the restore's final syncfs().
//  * The destructor stops the thread and drops what is left (a failed restore).
//  * direct_writes: a file is opened with O_DIRECT, and its writes of at
//    least direct_min_bytes whose offset and length are multiples of 4096
//    (a page run always is; the buffers are page-aligned) go around the
//    page cache, on kDirectWriters threads so that the disk always has the
//    next write queued. Shorter aligned writes (a newer backup's scattered
//    pages) go through the cache on a second descriptor, where write-back
//    merges them. Queue order still holds: a write waits for the file's
//    direct writes in flight that overlap it (a direct write after a cached
//    one of the same pages: the kernel writes the cached pages out first
//    and drops them), and anything else done to a file (ftruncate, close, an
//    unaligned write) waits for all of them. The file's first write that is
//    not aligned clears O_DIRECT and it goes on through the cache, as does
//    every file whose file system refuses O_DIRECT (EINVAL).
//    Why: on a guest where every first touch of a page traps to its host
//    (README, Performance), the copy of a chain's rebuilt gigabytes into
//    fresh page-cache pages cost 5-8 s of system time for 2.6 GB of a 3 GB
//    chain of 7, which took 1.4-1.9 x the full alone (1.2 s of system time).
//    Direct writes pay off only in long runs: the base copies' runs hold
//    the newer pages too (page_merge.hpp), 1 MiB each; the short ones
//    (pages written by their own backups) are few.
#pragma once
#include "pgvault/direct_io.hpp"
#include "pgvault/pg_free.hpp"
#include "pgvault/write_back.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pgvault {

// One restored file, shared by the operations that use it; opened (with
// `flags` | O_CLOEXEC, mode 0600) by the queue's thread when first needed.
class QueuedFile {
 public:
  QueuedFile(std::string path, int flags) : path_(std::move(path)), flags_(flags) {}
  ~QueuedFile();
  QueuedFile(const QueuedFile&) = delete;
  QueuedFile& operator=(const QueuedFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  friend class PageWriteQueue;
  // The descriptor, opening the file first if it is not open (with O_DIRECT
  // when direct and the file system takes it).
  int open_fd(bool direct);
  // Beside a direct fd_: a descriptor without O_DIRECT for short writes.
  int cached_fd();
  std::string path_;
  int flags_;
  int fd_ = -1;
  bool direct_ = false;  // O_DIRECT is set on fd_
  int cached_fd_ = -1;
  WriteBack write_back_;
  // Under the queue's mutex: [begin, end) of its direct writes handed to the
  // writer threads and not done yet.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> in_flight_;
};

class PageWriteQueue {
 public:
  // Direct writes in flight at once.
  static constexpr int kDirectWriters = 2;
  // Shorter writes go through the page cache (direct_writes above).
  static constexpr std::size_t kDirectMinBytes = 256 * 1024;
  PageWriteQueue(std::size_t buffers, std::size_t buffer_bytes, std::size_t max_queued = 64,
                 bool direct_writes = true, std::size_t direct_min_bytes = kDirectMinBytes);
  ~PageWriteQueue();
  PageWriteQueue(const PageWriteQueue&) = delete;
  PageWriteQueue& operator=(const PageWriteQueue&) = delete;

  std::size_t buffer_bytes() const { return buffer_bytes_; }
  // A free buffer of buffer_bytes() bytes (blocks while all are queued).
  PageAlignedBytes take_buffer();
  // Writes the first `bytes` of `data` at `offset`; the buffer goes back to
  // the pool. A run of 64 kB or more counts towards the file's write-back
  // (write_back.hpp), which also starts at its close: a chain restore's runs
  // are short (newer pages break the full's), and when only single writes of
  // 256 kB started it, most of the gigabyte waited for the final syncfs().
  void write(const std::shared_ptr<QueuedFile>& file, std::uint64_t offset, PageAlignedBytes data,
             std::size_t bytes);
  // ftruncate() to `size` bytes.
  void set_size(const std::shared_ptr<QueuedFile>& file, std::uint64_t size);
  // close(), reporting its failure.
  void close(const std::shared_ptr<QueuedFile>& file);
  void drain();

 private:
  struct Op {
    enum class Kind { write, set_size, close } kind = Kind::write;
    std::shared_ptr<QueuedFile> file;
    std::uint64_t offset = 0;  // write: where; set_size: the size
    PageAlignedBytes data;
    std::size_t bytes = 0;
  };
  void push(Op op);
  void run();
  // false: the op's buffer is the caller's to free; true: handed to the
  // direct writers, which free it.
  bool perform(Op& op);
  void run_direct();
  // Waits until none of f's direct writes in flight overlaps [begin, end);
  // false when the queue stopped or failed meanwhile.
  bool wait_for_in_flight(QueuedFile& f, std::uint64_t begin, std::uint64_t end);
  void throw_if_failed();  // mutex_ held
  void stop();

  const std::size_t buffer_bytes_;
  const std::size_t max_queued_;
  const bool direct_writes_;
  const std::size_t direct_min_bytes_;
  std::mutex mutex_;
  std::condition_variable work_;  // the writer: an operation, or stop
  std::condition_variable room_;  // callers: a free buffer, queue room, or idle
  std::deque<Op> queue_;
  std::vector<PageAlignedBytes> free_;
  bool busy_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
  // Direct writes handed over by the thread above, in its order.
  std::deque<Op> direct_queue_;
  std::condition_variable direct_work_;  // the direct writers: a write, or stop
  std::condition_variable direct_done_;  // the thread above: a write in flight is done
  int direct_busy_ = 0;
  std::vector<std::thread> direct_threads_;
};

}  // namespace pgvault
