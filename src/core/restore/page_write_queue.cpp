#include "pgvault/restore/page_write_queue.hpp"

#include "pgvault/error.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault {

namespace {

// Shorter writes (an incremental's scattered pages) are left to the final
// syncfs(): starting their write-back one by one kept the disk busy with
// small I/Os while the decoder waited.
constexpr std::uint64_t kRunBytes = 64 * 1024;

std::string write_what(const QueuedFile& f, std::uint64_t offset, std::size_t bytes) {
  return std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of \"" +
         f.path() + "\"";
}

}  // namespace

QueuedFile::~QueuedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (cached_fd_ >= 0) ::close(cached_fd_);
}

int QueuedFile::cached_fd() {
  if (cached_fd_ < 0) cached_fd_ = ::open(path_.c_str(), flags_ | O_CLOEXEC, 0600);
  if (cached_fd_ < 0) throw_os_error("could not open \"" + path_ + "\"", errno);
  return cached_fd_;
}

int QueuedFile::open_fd(bool direct) {
  if (fd_ >= 0) return fd_;
  if (direct) {
    fd_ = ::open(path_.c_str(), flags_ | O_CLOEXEC | O_DIRECT, 0600);
    direct_ = fd_ >= 0;
    if (fd_ < 0 && errno != EINVAL) throw_os_error("could not open \"" + path_ + "\"", errno);
  }
  if (fd_ < 0) fd_ = ::open(path_.c_str(), flags_ | O_CLOEXEC, 0600);
  if (fd_ < 0) throw_os_error("could not open \"" + path_ + "\"", errno);
  return fd_;
}

PageWriteQueue::PageWriteQueue(std::size_t buffers, std::size_t buffer_bytes,
                               std::size_t max_queued, bool direct_writes,
                               std::size_t direct_min_bytes)
    : buffer_bytes_(buffer_bytes),
      max_queued_(std::max<std::size_t>(max_queued, buffers + 1)),
      direct_writes_(direct_writes),
      direct_min_bytes_(direct_min_bytes) {
  if (buffers == 0 || buffer_bytes == 0)
    throw Error(ErrorKind::internal, "a page write queue needs at least one buffer");
  // Buffers are allocated when first taken: a restore with nothing to
  // rebuild costs nothing.
  free_.resize(buffers);
  try {
    if (direct_writes_) {
      for (int i = 0; i < kDirectWriters; ++i)
        direct_threads_.push_back(start_signal_blocked_thread([this] { run_direct(); }));
    }
    thread_ = start_signal_blocked_thread([this] { run(); });
  } catch (...) {
    stop();
    throw;
  }
}

PageWriteQueue::~PageWriteQueue() {
  stop();
}

void PageWriteQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  direct_work_.notify_all();
  direct_done_.notify_all();  // the thread may wait for writes in flight
  if (thread_.joinable()) thread_.join();
  for (std::thread& t : direct_threads_) t.join();
  direct_threads_.clear();
}

void PageWriteQueue::throw_if_failed() {
  if (error_) std::rethrow_exception(error_);
}

PageAlignedBytes PageWriteQueue::take_buffer() {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [&] { return error_ || !free_.empty(); });
  throw_if_failed();
  PageAlignedBytes buf = std::move(free_.back());
  free_.pop_back();
  lock.unlock();
  buf.resize(buffer_bytes_);
  return buf;
}

void PageWriteQueue::push(Op op) {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [&] { return error_ || queue_.size() < max_queued_; });
  if (error_) {
    if (op.kind == Op::Kind::write) free_.push_back(std::move(op.data));
    throw_if_failed();
  }
  queue_.push_back(std::move(op));
  work_.notify_one();
}

void PageWriteQueue::write(const std::shared_ptr<QueuedFile>& file, std::uint64_t offset,
                           PageAlignedBytes data, std::size_t bytes) {
  Op op;
  op.kind = Op::Kind::write;
  op.file = file;
  op.offset = offset;
  op.data = std::move(data);
  op.bytes = bytes;
  push(std::move(op));
}

void PageWriteQueue::set_size(const std::shared_ptr<QueuedFile>& file, std::uint64_t size) {
  Op op;
  op.kind = Op::Kind::set_size;
  op.file = file;
  op.offset = size;
  push(std::move(op));
}

void PageWriteQueue::close(const std::shared_ptr<QueuedFile>& file) {
  Op op;
  op.kind = Op::Kind::close;
  op.file = file;
  push(std::move(op));
}

void PageWriteQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [&] {
    return error_ || (queue_.empty() && !busy_ && direct_queue_.empty() && direct_busy_ == 0);
  });
  throw_if_failed();
}

void PageWriteQueue::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Op op = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    const bool failed = static_cast<bool>(error_);
    lock.unlock();
    std::exception_ptr err;
    bool handed_off = false;
    if (!failed) {
      try {
        handed_off = perform(op);
      } catch (...) {
        err = std::current_exception();
      }
    }
    op.file.reset();  // the last user of a file closes it, outside the lock
    lock.lock();
    if (err && !error_) error_ = err;
    if (op.kind == Op::Kind::write && !handed_off) free_.push_back(std::move(op.data));
    if (error_) {
      // Nothing more is written: the queued operations are dropped now, so
      // a caller waiting for room or a buffer wakes to the failure.
      for (Op& dropped : queue_)
        if (dropped.kind == Op::Kind::write) free_.push_back(std::move(dropped.data));
      std::deque<Op> gone = std::exchange(queue_, {});
      lock.unlock();
      gone.clear();  // closes descriptors outside the lock
      lock.lock();
    }
    busy_ = false;
    room_.notify_all();
  }
}

bool PageWriteQueue::wait_for_in_flight(QueuedFile& f, std::uint64_t begin, std::uint64_t end) {
  std::unique_lock<std::mutex> lock(mutex_);
  direct_done_.wait(lock, [&] {
    if (stop_ || error_) return true;
    for (const auto& [b, e] : f.in_flight_)
      if (b < end && begin < e) return false;
    return true;
  });
  return !stop_ && !error_;
}

bool PageWriteQueue::perform(Op& op) {
  QueuedFile& f = *op.file;
  constexpr std::uint64_t kWholeFile = UINT64_MAX;
  switch (op.kind) {
    case Op::Kind::write: {
      const int fd = f.open_fd(direct_writes_);
      const std::uint64_t end = op.offset + op.bytes;
      const auto what = [&] { return write_what(f, op.offset, op.bytes); };
      if (f.direct_ && direct_write_aligned(op.data.data(), op.offset, op.bytes)) {
        if (!wait_for_in_flight(f, op.offset, end)) return false;
        if (op.bytes < direct_min_bytes_) {
          const int cached = f.cached_fd();
          pwrite_fully(cached, std::span<const std::byte>(op.data.data(), op.bytes), op.offset,
                       what);
          if (op.bytes >= kRunBytes) f.write_back_.wrote(cached, op.offset, op.bytes);
          return false;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        f.in_flight_.emplace_back(op.offset, end);
        direct_queue_.push_back(std::move(op));
        direct_work_.notify_one();
        return true;
      }
      if (!wait_for_in_flight(f, 0, kWholeFile)) return false;
      if (f.direct_) {
        // Not aligned: from here on through the page cache.
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0)
          throw_os_error("could not write " + what(), errno);
        f.direct_ = false;
      }
      pwrite_fully(fd, std::span<const std::byte>(op.data.data(), op.bytes), op.offset, what);
      if (op.bytes >= kRunBytes) f.write_back_.wrote(fd, op.offset, op.bytes);
      return false;
    }
    case Op::Kind::set_size:
      if (!wait_for_in_flight(f, 0, kWholeFile)) return false;
      if (::ftruncate(f.open_fd(direct_writes_), static_cast<off_t>(op.offset)) != 0)
        throw_os_error("could not set the size of \"" + f.path_ + "\"", errno);
      return false;
    case Op::Kind::close: {
      if (!wait_for_in_flight(f, 0, kWholeFile)) return false;
      if (f.fd_ >= 0 && !f.direct_) f.write_back_.finish(f.fd_);
      if (f.cached_fd_ >= 0) f.write_back_.finish(f.cached_fd_);
      int close_errno = 0;
      for (int* fd : {&f.fd_, &f.cached_fd_}) {
        const int open = std::exchange(*fd, -1);
        if (open >= 0 && ::close(open) != 0 && close_errno == 0) close_errno = errno;
      }
      if (close_errno != 0) throw_os_error("could not close \"" + f.path_ + "\"", close_errno);
      return false;
    }
  }
  return false;
}

void PageWriteQueue::run_direct() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    direct_work_.wait(lock, [&] { return stop_ || !direct_queue_.empty(); });
    if (stop_) return;
    Op op = std::move(direct_queue_.front());
    direct_queue_.pop_front();
    ++direct_busy_;
    const bool failed = static_cast<bool>(error_);
    lock.unlock();
    std::exception_ptr err;
    if (!failed) {
      try {
        // fd_ stays open: closing the file waits for this write.
        pwrite_fully(op.file->fd_, std::span<const std::byte>(op.data.data(), op.bytes), op.offset,
                     [&] { return write_what(*op.file, op.offset, op.bytes); });
      } catch (...) {
        err = std::current_exception();
      }
    }
    lock.lock();
    if (err && !error_) error_ = err;
    auto& in_flight = op.file->in_flight_;
    const auto it = std::find(in_flight.begin(), in_flight.end(),
                              std::make_pair(op.offset, op.offset + op.bytes));
    if (it != in_flight.end()) in_flight.erase(it);
    free_.push_back(std::move(op.data));
    --direct_busy_;
    direct_done_.notify_all();
    room_.notify_all();
    std::shared_ptr<QueuedFile> last = std::move(op.file);
    lock.unlock();
    last.reset();  // the last user of a file closes it, outside the lock
    lock.lock();
  }
}

}  // namespace pgvault
