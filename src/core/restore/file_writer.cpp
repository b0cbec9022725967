#include "pgvault/restore/file_writer.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/write_back.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault {

namespace {

// Buffers are page-aligned and whole pages: the copy into the page cache
// moves whole pages.
constexpr std::size_t kAlign = 4096;

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

}  // namespace

struct FileDigest::Impl {
  std::unique_ptr<Sha256> sha256;
  std::unique_ptr<Crc32c> crc32c;
};

FileDigest::FileDigest(FileChecksums which) : impl_(std::make_unique<Impl>()) {
  if (which.sha256) impl_->sha256 = std::make_unique<Sha256>();
  if (which.crc32c) impl_->crc32c = std::make_unique<Crc32c>();
}

FileDigest::~FileDigest() = default;

void FileDigest::update(std::span<const std::byte> data) {
  if (impl_->sha256) impl_->sha256->update(data);
  if (impl_->crc32c) impl_->crc32c->update(data);
}

void FileDigest::finish_into(ExtractedFile& f) {
  if (impl_->sha256) f.sha256 = impl_->sha256->final_hex();
  if (impl_->crc32c) f.crc32c = impl_->crc32c->manifest_hex();
}

struct FileWriter::Buffer {
  std::unique_ptr<std::byte, FreeDeleter> data;
};

struct FileWriter::Op {
  enum class Kind { open, data, close };
  Kind kind = Kind::data;
  std::string path;  // open
  std::string rel;   // open
  std::uint64_t size = 0;
  std::size_t buffer = SIZE_MAX;  // data
  std::size_t length = 0;         // data
  ExtractedFile digests;          // close: sha256/crc32c set by the hashing stage
};

struct FileWriter::Hashing {
  explicit Hashing(FileChecksums which) : digest(which) {}
  FileDigest digest;
};

struct FileWriter::Writing {
  ~Writing() {
    if (fd >= 0) ::close(fd);
  }
  int fd = -1;
  WriteBack write_back;
  std::string path;
  std::string rel;
  std::uint64_t written = 0;
};

FileWriter::FileWriter(OnFile on_file, FileWriterOptions options)
    : on_file_(std::move(on_file)), opts_(options) {
  inline_ = !opts_.write_files && !opts_.checksums.sha256;
  if (inline_) return;
  opts_.buffer_size = std::max(kAlign, (opts_.buffer_size + kAlign - 1) / kAlign * kAlign);
  opts_.buffers = std::max<std::size_t>(opts_.buffers, 2);
  pool_.resize(opts_.buffers);
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlign, opts_.buffer_size));
    if (p == nullptr) throw std::bad_alloc();
    pool_[i].data.reset(p);
    free_.push_back(i);
  }
  try {
    writing_.thread =
        start_signal_blocked_thread([this] { run(writing_, nullptr, &FileWriter::write); });
    hashing_.thread =
        start_signal_blocked_thread([this] { run(hashing_, &writing_, &FileWriter::hash); });
  } catch (...) {
    stop();
    throw;
  }
}

FileWriter::~FileWriter() {
  stop();
}

void FileWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  for (Stage* s : {&hashing_, &writing_}) {
    s->work.notify_all();
    if (s->thread.joinable()) s->thread.join();
  }
}

void FileWriter::throw_if_failed() {
  if (error_) std::rethrow_exception(error_);
}

void FileWriter::push(Op op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_) {
      if (op.buffer != SIZE_MAX) free_.push_back(op.buffer);
      throw_if_failed();
    }
    hashing_.queue.push_back(std::move(op));
  }
  hashing_.work.notify_one();
}

std::size_t FileWriter::acquire_buffer(std::unique_lock<std::mutex>& lock) {
  idle_.wait(lock, [&] { return !free_.empty() || error_; });
  throw_if_failed();
  const std::size_t b = free_.back();
  free_.pop_back();
  return b;
}

void FileWriter::begin_file(std::string full_path, std::string rel, std::uint64_t size) {
  if (inline_) {
    inline_digest_ = std::make_unique<FileDigest>(opts_.checksums);
    inline_file_ = ExtractedFile{};
    inline_file_.path = std::move(rel);
    return;
  }
  Op op;
  op.kind = Op::Kind::open;
  op.path = std::move(full_path);
  op.rel = std::move(rel);
  op.size = size;
  push(std::move(op));
}

void FileWriter::append(std::span<const std::byte> data) {
  if (inline_) {
    inline_digest_->update(data);
    inline_file_.size += data.size();
    return;
  }
  while (!data.empty()) {
    if (current_ == SIZE_MAX) {
      std::unique_lock<std::mutex> lock(mutex_);
      current_ = acquire_buffer(lock);
      current_fill_ = 0;
    }
    const std::size_t n = std::min(opts_.buffer_size - current_fill_, data.size());
    std::memcpy(pool_[current_].data.get() + current_fill_, data.data(), n);
    current_fill_ += n;
    data = data.subspan(n);
    if (current_fill_ == opts_.buffer_size) {
      Op op;
      op.buffer = std::exchange(current_, SIZE_MAX);
      op.length = current_fill_;
      push(std::move(op));
    }
  }
}

void FileWriter::end_file() {
  if (inline_) {
    std::unique_ptr<FileDigest> digest = std::move(inline_digest_);
    ExtractedFile done = std::move(inline_file_);
    digest->finish_into(done);
    if (on_file_) on_file_(done);
    return;
  }
  if (current_ != SIZE_MAX) {
    Op op;
    op.buffer = std::exchange(current_, SIZE_MAX);
    op.length = current_fill_;
    push(std::move(op));
  }
  Op close;
  close.kind = Op::Kind::close;
  push(std::move(close));
}

void FileWriter::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] {
    return error_ ||
           (hashing_.queue.empty() && !hashing_.busy && writing_.queue.empty() && !writing_.busy);
  });
  throw_if_failed();
}

void FileWriter::run(Stage& stage, Stage* next, void (FileWriter::*process)(Op&)) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    stage.work.wait(lock, [&] { return stop_ || !stage.queue.empty(); });
    if (stop_) return;
    Op op = std::move(stage.queue.front());
    stage.queue.pop_front();
    stage.busy = true;
    const bool failed = static_cast<bool>(error_);
    lock.unlock();
    std::exception_ptr err;
    if (!failed) {
      try {
        (this->*process)(op);
      } catch (...) {
        err = std::current_exception();
      }
    }
    lock.lock();
    if (err && !error_) error_ = err;
    if (next != nullptr && !error_) {
      next->queue.push_back(std::move(op));
      next->work.notify_one();
    } else if (op.buffer != SIZE_MAX) {
      free_.push_back(op.buffer);
    }
    stage.busy = false;
    idle_.notify_all();
  }
}

void FileWriter::hash(Op& op) {
  switch (op.kind) {
    case Op::Kind::open:
      hashing_state_ = std::make_unique<Hashing>(opts_.checksums);
      return;
    case Op::Kind::data:
      hashing_state_->digest.update(
          std::span<const std::byte>(pool_[op.buffer].data.get(), op.length));
      return;
    case Op::Kind::close:
      hashing_state_->digest.finish_into(op.digests);
      hashing_state_.reset();
      return;
  }
}

void FileWriter::write(Op& op) {
  try {
    switch (op.kind) {
      case Op::Kind::open: {
        auto f = std::make_unique<Writing>();
        f->path = std::move(op.path);
        f->rel = std::move(op.rel);
        if (!opts_.write_files) {
          writing_state_ = std::move(f);
          return;
        }
        constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
        f->fd = ::open(f->path.c_str(), kFlags, 0600);
        if (f->fd < 0) throw_os_error("could not create file \"" + f->path + "\"", errno);
        writing_state_ = std::move(f);
        return;
      }
      case Op::Kind::data:
        if (opts_.write_files) write_out(pool_[op.buffer].data.get(), op.length);
        writing_state_->written += op.length;
        return;
      case Op::Kind::close: {
        std::unique_ptr<Writing> f = std::move(writing_state_);
        if (f->fd >= 0) f->write_back.finish(f->fd);
        const int fd = std::exchange(f->fd, -1);
        if (fd >= 0 && ::close(fd) != 0)
          throw_os_error("could not close file \"" + f->path + "\"", errno);
        ExtractedFile done = std::move(op.digests);
        done.path = f->rel;
        done.size = f->written;
        if (on_file_) on_file_(done);
        return;
      }
    }
  } catch (...) {
    writing_state_.reset();  // closes the file
    throw;
  }
}

namespace {

// write() until done; returns 0 or the errno of the failure.
int write_all(int fd, const std::byte*& p, std::size_t& n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

}  // namespace

void FileWriter::write_out(const std::byte* p, std::size_t n) {
  Writing& f = *writing_state_;
  const std::uint64_t offset = f.written;
  const std::size_t bytes = n;
  if (const int err = write_all(f.fd, p, n); err != 0) {
    throw_os_error("could not write file \"" + f.path + "\"", err);
  }
  f.write_back.wrote(f.fd, offset, bytes);
}

}  // namespace pgvault
