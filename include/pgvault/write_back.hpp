// Starts the write-back of what is written to a file while it is written, as
// PostgreSQL's *_flush_after settings do: the disk works while the data is
// still being produced, and the final fsync()/syncfs() finds little left to
// write. Used by the restore (its files) and the file:// repository driver
// (a backup's objects: the fsync at an object's commit waited 33-42 ms for
// the 60 MB of a 1 GB full's base archive, inside the backup's time).
//
// Restore: a restore of a 1 GB full took 1.26 s (median of 12 interleaved
// rounds) with synchronous 1 MiB O_DIRECT writes, which leave the disk idle
// between two writes, and 1.04 s buffered with write-back started every
// 256 kB, which keeps several writes in flight; buffered without it, 1.46 s
// (most of the gigabyte waited for syncfs()). Its large files are now
// written direct with two writes in flight (file_writer.hpp), and so are a
// chain's page runs (page_write_queue.hpp); its small files, and everything
// on a file system that refuses O_DIRECT, still come here.
//
// Contract: wrote() after each write(2)/pwrite(2) to fd; once at least
// kWriteBackBytes were written since the last start, it starts the write-back
// of the range they span (sync_file_range(SYNC_FILE_RANGE_WRITE), which does
// not wait for it). finish() starts what is left, before the descriptor is
// closed. Only a hint: a failure is the final fsync()'s or syncfs()'s to
// report.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>

namespace pgvault {

class WriteBack {
 public:
  static constexpr std::uint64_t kWriteBackBytes = 256 * 1024;

  void wrote(int fd, std::uint64_t offset, std::uint64_t bytes);
  void finish(int fd);

 private:
  void start(int fd);
  std::uint64_t bytes_ = 0;  // written since the last start
  std::uint64_t from_ = 0, to_ = 0;
};

}  // namespace pgvault
