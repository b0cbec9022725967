#include "pgvault/write_back.hpp"

#include <algorithm>

#include <fcntl.h>

namespace pgvault {

void WriteBack::wrote(int fd, std::uint64_t offset, std::uint64_t bytes) {
  if (bytes == 0) return;
  const std::uint64_t end = offset + bytes;
  from_ = bytes_ == 0 ? offset : std::min(from_, offset);
  to_ = bytes_ == 0 ? end : std::max(to_, end);
  bytes_ += bytes;
  if (bytes_ >= kWriteBackBytes) start(fd);
}

void WriteBack::finish(int fd) {
  if (bytes_ > 0) start(fd);
}

void WriteBack::start(int fd) {
  (void)::sync_file_range(fd, static_cast<off_t>(from_), static_cast<off_t>(to_ - from_),
                          SYNC_FILE_RANGE_WRITE);
  bytes_ = 0;
}

}  // namespace pgvault
