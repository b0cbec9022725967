#include "pgvault/restore/file_writer.hpp"

#include "pgvault/direct_io.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/write_back.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault {

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

// Whole pages, page-aligned: a direct write takes them as they are, and the
// copy into the page cache moves whole pages.
struct FileWriter::Buffer {
  PageAlignedBytes data;
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
  // data passed on to the direct stage: the file and where the bytes go
  Writing* direct_file = nullptr;
  std::uint64_t offset = 0;
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
  bool direct = false;     // opened with O_DIRECT, which is still set
  int direct_pending = 0;  // under mutex_: its writes queued or running on the direct stage
  WriteBack write_back;
  std::string path;
  std::string rel;
  std::uint64_t written = 0;
};

FileWriter::FileWriter(OnFile on_file, FileWriterOptions options)
    : on_file_(std::move(on_file)), opts_(options) {
  inline_ = !opts_.write_files && !opts_.checksums.sha256;
  if (inline_) return;
  opts_.buffer_size =
      std::max(kDirectAlign, (opts_.buffer_size + kDirectAlign - 1) / kDirectAlign * kDirectAlign);
  opts_.buffers = std::max<std::size_t>(opts_.buffers, 2);
  pool_.resize(opts_.buffers);
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    pool_[i].data.resize(opts_.buffer_size);
    free_.push_back(i);
  }
  try {
    if (opts_.write_files && opts_.direct_writes) {
      for (int i = 0; i < kDirectWriters; ++i)
        direct_.threads.push_back(
            start_signal_blocked_thread([this] { run(direct_, &FileWriter::write_direct); }));
    }
    writing_.threads.push_back(
        start_signal_blocked_thread([this] { run(writing_, &FileWriter::write); }));
    hashing_.threads.push_back(
        start_signal_blocked_thread([this] { run(hashing_, &FileWriter::hash); }));
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
  idle_.notify_all();  // the writing thread may wait for direct writes
  for (Stage* s : {&hashing_, &writing_, &direct_}) {
    s->work.notify_all();
    for (std::thread& t : s->threads) t.join();
    s->threads.clear();
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
    std::memcpy(pool_[current_].data.data() + current_fill_, data.data(), n);
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
    return error_ || (hashing_.queue.empty() && hashing_.busy == 0 && writing_.queue.empty() &&
                      writing_.busy == 0 && direct_.queue.empty() && direct_.busy == 0);
  });
  throw_if_failed();
}

void FileWriter::run(Stage& stage, Stage* (FileWriter::*process)(Op&)) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    stage.work.wait(lock, [&] { return stop_ || !stage.queue.empty(); });
    if (stop_) return;
    Op op = std::move(stage.queue.front());
    stage.queue.pop_front();
    ++stage.busy;
    const bool failed = static_cast<bool>(error_);
    lock.unlock();
    std::exception_ptr err;
    Stage* next = nullptr;
    if (!failed) {
      try {
        next = (this->*process)(op);
      } catch (...) {
        err = std::current_exception();
      }
    }
    lock.lock();
    if (err && !error_) error_ = err;
    if (next != nullptr && !error_) {
      next->queue.push_back(std::move(op));
      next->work.notify_one();
    } else {
      if (op.buffer != SIZE_MAX) free_.push_back(op.buffer);
      // Done, written or dropped: its file may be closed now.
      if (op.direct_file != nullptr) --op.direct_file->direct_pending;
    }
    --stage.busy;
    idle_.notify_all();
  }
}

FileWriter::Stage* FileWriter::hash(Op& op) {
  switch (op.kind) {
    case Op::Kind::open:
      hashing_state_ = std::make_unique<Hashing>(opts_.checksums);
      break;
    case Op::Kind::data:
      hashing_state_->digest.update(
          std::span<const std::byte>(pool_[op.buffer].data.data(), op.length));
      break;
    case Op::Kind::close:
      hashing_state_->digest.finish_into(op.digests);
      hashing_state_.reset();
      break;
  }
  return &writing_;
}

namespace {

constexpr int kCreateFlags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;

// The file opened for direct writes, or -1 with errno when the file system
// refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6, some FUSE and network
// file systems) or anything else fails.
int open_direct(const std::string& path) {
  return ::open(path.c_str(), kCreateFlags | O_DIRECT, 0600);
}

}  // namespace

FileWriter::Stage* FileWriter::write(Op& op) {
  try {
    switch (op.kind) {
      case Op::Kind::open: {
        auto f = std::make_unique<Writing>();
        f->path = std::move(op.path);
        f->rel = std::move(op.rel);
        if (!opts_.write_files) {
          writing_state_ = std::move(f);
          return nullptr;
        }
        if (opts_.direct_writes && op.size >= kDirectMinBytes) {
          f->fd = open_direct(f->path);
          f->direct = f->fd >= 0;
          if (f->fd < 0 && errno != EINVAL)
            throw_os_error("could not create file \"" + f->path + "\"", errno);
        }
        if (f->fd < 0) f->fd = ::open(f->path.c_str(), kCreateFlags, 0600);
        if (f->fd < 0) throw_os_error("could not create file \"" + f->path + "\"", errno);
        writing_state_ = std::move(f);
        return nullptr;
      }
      case Op::Kind::data: {
        Writing& f = *writing_state_;
        const std::uint64_t offset = f.written;
        f.written += op.length;
        if (!opts_.write_files) return nullptr;
        if (f.direct && op.length % kDirectAlign == 0) {
          // Offsets stay aligned: only a file's last buffer can be partial.
          op.offset = offset;
          std::lock_guard<std::mutex> lock(mutex_);
          ++f.direct_pending;
          op.direct_file = &f;
          return &direct_;
        }
        if (f.direct) {
          // The file's partial last buffer: through the page cache, once
          // its direct writes are done.
          wait_for_direct_writes(f);
          const int flags = ::fcntl(f.fd, F_GETFL);
          if (flags < 0 || ::fcntl(f.fd, F_SETFL, flags & ~O_DIRECT) != 0)
            throw_os_error("could not write file \"" + f.path + "\"", errno);
          f.direct = false;
        }
        write_buffered(f, pool_[op.buffer].data.data(), op.length, offset);
        return nullptr;
      }
      case Op::Kind::close: {
        wait_for_direct_writes(*writing_state_);
        std::unique_ptr<Writing> f = std::move(writing_state_);
        if (f->fd >= 0 && !f->direct) f->write_back.finish(f->fd);
        const int fd = std::exchange(f->fd, -1);
        if (fd >= 0 && ::close(fd) != 0)
          throw_os_error("could not close file \"" + f->path + "\"", errno);
        ExtractedFile done = std::move(op.digests);
        done.path = f->rel;
        done.size = f->written;
        if (on_file_) on_file_(done);
        return nullptr;
      }
    }
  } catch (...) {
    // No direct write may still use the descriptor its destructor closes.
    if (writing_state_) {
      std::unique_lock<std::mutex> lock(mutex_);
      idle_.wait(lock, [&] { return direct_writes_done(*writing_state_); });
    }
    writing_state_.reset();
    throw;
  }
  return nullptr;
}

bool FileWriter::direct_writes_done(const Writing& f) const {
  // After stop() queued writes never run: none is running is enough then.
  return f.direct_pending == 0 || (stop_ && direct_.busy == 0);
}

void FileWriter::wait_for_direct_writes(Writing& f) {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return direct_writes_done(f) || error_; });
  // A failed direct write is everyone's failure: run() rethrows it.
  if (error_ || f.direct_pending != 0) {
    lock.unlock();
    throw Error(ErrorKind::io, "could not write file \"" + f.path + "\": an earlier write failed");
  }
}

FileWriter::Stage* FileWriter::write_direct(Op& op) {
  Writing& f = *op.direct_file;
  pwrite_fully(f.fd, std::span<const std::byte>(pool_[op.buffer].data.data(), op.length), op.offset,
               [&] { return "file \"" + f.path + "\""; });
  return nullptr;
}

void FileWriter::write_buffered(Writing& f, const std::byte* p, std::size_t n,
                                std::uint64_t offset) {
  pwrite_fully(f.fd, std::span<const std::byte>(p, n), offset,
               [&] { return "file \"" + f.path + "\""; });
  f.write_back.wrote(f.fd, offset, n);
}

}  // namespace pgvault
