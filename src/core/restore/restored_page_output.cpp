// Writing a rebuilt file's pages (restored_page_output.hpp).
#include "pgvault/restore/restored_page_output.hpp"

#include "pgvault/error.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/restore/physical_restore.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgvault {

namespace {

// Queued runs are written around the page cache where the file system
// takes it (PageWriteQueue's direct_writes); runs written here (the older
// incrementals' scattered pages) through it: O_DIRECT on this thread made a
// chain of 7 slower (1.9 s -> 2.4 s, one synchronous write at a time).
constexpr int kFlags = O_CREAT | O_NOFOLLOW;
constexpr std::size_t kDirectRunBytes = 256 * 1024;

}  // namespace

PageWrites page_writes_for(const RestoreOptions& opts, PageWrites writing) {
  if (opts.scan_only) return PageWrites::discard;
  if (opts.delta) return PageWrites::compare;
  return writing;
}

RestoredPageOutput::RestoredPageOutput(std::string path, PageWrites mode, PageWriteQueue* queue)
    : path_(std::move(path)), mode_(mode), queue_(queue) {
  if (mode_ == PageWrites::queued && queue_ == nullptr)
    throw Error(ErrorKind::internal, "a rebuilt file's pages need a write queue");
}

RestoredPageOutput::~RestoredPageOutput() {
  if (fd_ >= 0) ::close(fd_);
}

void RestoredPageOutput::write_page(std::uint32_t block, std::span<const std::byte> page) {
  switch (mode_) {
    case PageWrites::discard:
      return;
    case PageWrites::compare:
      open_here();
      write_compared(block, page);
      return;
    case PageWrites::queued:
      open_queued();
      break;
    case PageWrites::direct:
      open_here();
      break;
  }
  if (batch_pages_ > 0 && (block != batch_block_ + batch_pages_ ||
                           std::size_t{batch_pages_ + 1} * kPageSize > batch_.size()))
    flush();
  if (batch_pages_ == 0) {
    if (batch_.empty())
      batch_ =
          mode_ == PageWrites::queued ? queue_->take_buffer() : PageAlignedBytes(kDirectRunBytes);
    batch_block_ = block;
  }
  std::memcpy(batch_.data() + std::size_t{batch_pages_} * kPageSize, page.data(), kPageSize);
  ++batch_pages_;
}

void RestoredPageOutput::set_block_count(std::uint32_t blocks) {
  if (mode_ == PageWrites::discard) return;
  const std::uint64_t size = std::uint64_t{blocks} * kPageSize;
  if (mode_ == PageWrites::queued) {
    open_queued();
    flush();  // pages written before a truncation stay before it
    queue_->set_size(file_, size);
    return;
  }
  open_here();
  flush();
  struct stat st;
  if (mode_ == PageWrites::compare && ::fstat(fd_, &st) == 0 &&
      static_cast<std::uint64_t>(st.st_size) == size)
    return;
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
    throw_os_error("could not set the size of \"" + path_ + "\"", errno);
}

void RestoredPageOutput::release() {
  flush();
  if (file_) {
    queue_->close(file_);
    file_.reset();
  }
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_os_error("could not close \"" + path_ + "\"", errno);
}

void RestoredPageOutput::open_here() {
  if (fd_ >= 0) return;
  fd_ = ::open(path_.c_str(),
               (mode_ == PageWrites::compare ? O_RDWR : O_WRONLY) | kFlags | O_CLOEXEC, 0600);
  if (fd_ < 0) throw_os_error("could not open \"" + path_ + "\"", errno);
}

// Opened by the queue's thread (page_write_queue.hpp says why).
void RestoredPageOutput::open_queued() {
  if (!file_) file_ = std::make_shared<QueuedFile>(path_, O_WRONLY | kFlags);
}

void RestoredPageOutput::flush() {
  if (batch_pages_ == 0) return;
  const std::size_t bytes = std::size_t{batch_pages_} * kPageSize;
  const std::uint64_t offset = std::uint64_t{batch_block_} * kPageSize;
  const std::uint32_t first = batch_block_, count = batch_pages_;
  batch_pages_ = 0;
  if (mode_ == PageWrites::queued && merge_ != nullptr) {
    merge_->claim(first, std::span<std::byte>(batch_.data(), bytes),
                  [&](std::uint32_t part, std::uint32_t pages) {
                    queue_run(part, pages, part == first && pages == count);
                  });
    return;
  }
  if (mode_ == PageWrites::queued) {
    queue_->write(file_, offset, std::exchange(batch_, {}), bytes);
    return;
  }
  pwrite_fully(fd_, std::span<const std::byte>(batch_.data(), bytes), offset, [&] {
    return std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of \"" + path_ +
           "\"";
  });
}

// Queues pages [first, first + count) of the gathered run: the whole run
// hands its buffer over, a part (a merged run split around blocks written by
// their owners) is copied into a buffer of its own.
void RestoredPageOutput::queue_run(std::uint32_t first, std::uint32_t count, bool whole) {
  const std::size_t at = std::size_t{first - batch_block_} * kPageSize;
  const std::size_t bytes = std::size_t{count} * kPageSize;
  const std::uint64_t offset = std::uint64_t{first} * kPageSize;
  if (whole) {
    queue_->write(file_, offset, std::exchange(batch_, {}), bytes);
    return;
  }
  PageAlignedBytes part = queue_->take_buffer();
  std::memcpy(part.data(), batch_.data() + at, bytes);
  queue_->write(file_, offset, std::move(part), bytes);
}

// delta: a page already equal on disk is not written again.
void RestoredPageOutput::write_compared(std::uint32_t block, std::span<const std::byte> page) {
  const std::uint64_t offset = std::uint64_t{block} * kPageSize;
  const auto what = [&] { return "block " + std::to_string(block) + " of \"" + path_ + "\""; };
  page_.resize(kPageSize);
  const std::size_t got = pread_fully(fd_, page_, offset, what);
  if (got == kPageSize && std::memcmp(page_.data(), page.data(), kPageSize) == 0) {
    ++unchanged_;
    return;
  }
  pwrite_fully(fd_, page, offset, what);
}

}  // namespace pgvault
