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

}  // namespace

QueuedFile::~QueuedFile() {
  if (fd_ >= 0) ::close(fd_);
}

int QueuedFile::open_fd() {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), flags_ | O_CLOEXEC, 0600);
    if (fd_ < 0) throw_os_error("could not open \"" + path_ + "\"", errno);
  }
  return fd_;
}

PageWriteQueue::PageWriteQueue(std::size_t buffers, std::size_t buffer_bytes,
                               std::size_t max_queued)
    : buffer_bytes_(buffer_bytes), max_queued_(std::max<std::size_t>(max_queued, buffers + 1)) {
  if (buffers == 0 || buffer_bytes == 0)
    throw Error(ErrorKind::internal, "a page write queue needs at least one buffer");
  // Buffers are allocated when first taken: a restore with nothing to
  // rebuild costs nothing.
  free_.resize(buffers);
  thread_ = start_signal_blocked_thread([this] { run(); });
}

PageWriteQueue::~PageWriteQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PageWriteQueue::throw_if_failed() {
  if (error_) std::rethrow_exception(error_);
}

std::vector<std::byte> PageWriteQueue::take_buffer() {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [&] { return error_ || !free_.empty(); });
  throw_if_failed();
  std::vector<std::byte> buf = std::move(free_.back());
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
                           std::vector<std::byte> data, std::size_t bytes) {
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
  room_.wait(lock, [&] { return error_ || (queue_.empty() && !busy_); });
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
    if (!failed) {
      try {
        perform(op);
      } catch (...) {
        err = std::current_exception();
      }
    }
    op.file.reset();  // the last user of a file closes it, outside the lock
    lock.lock();
    if (err && !error_) error_ = err;
    if (op.kind == Op::Kind::write) free_.push_back(std::move(op.data));
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

void PageWriteQueue::perform(Op& op) {
  QueuedFile& f = *op.file;
  switch (op.kind) {
    case Op::Kind::write: {
      const int fd = f.open_fd();
      pwrite_fully(fd, std::span<const std::byte>(op.data.data(), op.bytes), op.offset, [&] {
        return std::to_string(op.bytes) + " bytes at offset " + std::to_string(op.offset) +
               " of \"" + f.path_ + "\"";
      });
      if (op.bytes >= kRunBytes) f.write_back_.wrote(fd, op.offset, op.bytes);
      return;
    }
    case Op::Kind::set_size:
      if (::ftruncate(f.open_fd(), static_cast<off_t>(op.offset)) != 0)
        throw_os_error("could not set the size of \"" + f.path_ + "\"", errno);
      return;
    case Op::Kind::close: {
      if (f.fd_ >= 0) f.write_back_.finish(f.fd_);
      const int fd = std::exchange(f.fd_, -1);
      if (fd >= 0 && ::close(fd) != 0) throw_os_error("could not close \"" + f.path_ + "\"", errno);
      return;
    }
  }
}

}  // namespace pgvault
