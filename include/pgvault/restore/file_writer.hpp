#pragma once
#include "pgvault/pg_free.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pgvault {

// A regular file (or hard link) as it was written to disk.
struct ExtractedFile {
  std::string path;  // relative to the extraction root, '/'-separated, no "./" or trailing '/'
  std::uint64_t size = 0;
  std::string sha256;  // lower-case hex of the file's content (when FileChecksums::sha256)
  // Hard links only: the earlier entry they share their content with. With
  // scan_only nothing is on disk to hash, so size is 0 and sha256 empty: the
  // consumer judges the link by its target (PostgreSQL never sends links).
  std::string hard_link_target;
  // CRC-32C of the content as backup_manifest writes it (when FileChecksums::crc32c).
  std::string crc32c = {};
};

// Which checksums of each file are computed: those its backup_manifest uses
// (BackupManifest::algorithms()), nothing more. SHA-256 costs a core at
// about 1.5 GB/s; CRC-32C is nearly free.
struct FileChecksums {
  bool sha256 = true;
  bool crc32c = false;
};

// The checksums of one file's content, as FileChecksums asks.
class FileDigest {
 public:
  explicit FileDigest(FileChecksums which);
  ~FileDigest();
  FileDigest(const FileDigest&) = delete;
  FileDigest& operator=(const FileDigest&) = delete;
  void update(std::span<const std::byte> data);
  // Sets f.sha256 and f.crc32c (those asked for); once.
  void finish_into(ExtractedFile& f);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct FileWriterOptions {
  std::size_t buffer_size = 1024 * 1024;  // a multiple of 4096
  std::size_t buffers = 6;                // memory: buffers x buffer_size
  FileChecksums checksums;
  // false: nothing is created or written, files are only hashed and reported
  // (verification, TarExtractOptions::scan_only): on the hashing thread when
  // SHA-256 is asked for, otherwise on the caller's thread (CRC-32C costs
  // less than copying the data into a buffer for another thread).
  bool write_files = true;
  // Files of at least kDirectMinBytes are written around the page cache
  // (O_DIRECT), kDirectWriters writes in flight, where the file system allows
  // it; false: every file through the page cache.
  bool direct_writes = true;
};

// Writes files in the order they are given, hashing each (FileChecksums) on the
// way and reporting it to on_file once it is closed. The caller's thread only
// copies data into one of a few aligned buffers; one thread hashes them and
// another writes them, so decompression and tar parsing, hashing and disk
// writes all overlap.
//
// A file of kDirectMinBytes or more (a relation segment, a WAL segment) is
// written around the page cache: its full buffers with O_DIRECT, by
// kDirectWriters threads at once, so the disk always has the next write; its
// partial last buffer through the cache once they are done. Why: on a guest
// whose every first touch of a page traps to its host (written up in the
// README's Performance section), the kernel's copy into fresh page-cache
// pages cost 2 s of CPU per GB, more than the disk took (1 GB full: 2.4-2.7 s
// buffered, 1.9-2.1 s direct); one synchronous O_DIRECT write at a time had
// left the disk idle between writes (write_back.hpp). Smaller files, and every
// file where the file system refuses O_DIRECT (EINVAL), go through the page
// cache with their write-back started as they go. Durability comes from the
// caller's syncfs(), which also flushes the device's cache.
//
// Errors (open, write, close, or an exception from on_file) happen on the
// thread; the first one is rethrown by the next call on the caller's thread
// (at the latest by drain()), and everything queued after it is dropped.
class FileWriter {
 public:
  using OnFile = std::function<void(const ExtractedFile&)>;
  // Below this size a file goes through the page cache even with
  // direct_writes: one synchronous write's latency costs more than the copy.
  static constexpr std::uint64_t kDirectMinBytes = 1024 * 1024;
  // Direct writes in flight at once, so that the disk never waits for the
  // next one to be issued.
  static constexpr int kDirectWriters = 2;
  explicit FileWriter(OnFile on_file, FileWriterOptions options = {});
  ~FileWriter();  // stops the thread; queued work not yet done is dropped
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Queues the creation (0600, truncating, never through a symlink) of
  // full_path, reported as rel; size is what the archive announces.
  void begin_file(std::string full_path, std::string rel, std::uint64_t size);
  void append(std::span<const std::byte> data);
  // Queues the file's last bytes and its close (then on_file).
  void end_file();
  // Waits until everything queued is on disk (as far as write() goes) and
  // reported; rethrows the first error.
  void drain();

 private:
  struct Buffer;
  struct Op;
  struct Writing;
  // Threads sharing one queue. Ops go caller -> hashing -> writing, and a
  // direct write on to `direct`; `process` returns the stage an op goes to
  // next (nullptr: it is done and its buffer free again).
  struct Stage {
    std::deque<Op> queue;
    std::condition_variable work;
    int busy = 0;  // threads processing an op
    std::vector<std::thread> threads;
  };
  void run(Stage& stage, Stage* (FileWriter::*process)(Op&));
  Stage* hash(Op& op);
  Stage* write(Op& op);
  Stage* write_direct(Op& op);
  void write_buffered(Writing& f, const std::byte* p, std::size_t n, std::uint64_t offset);
  bool direct_writes_done(const Writing& f) const;  // under mutex_
  void wait_for_direct_writes(Writing& f);
  void push(Op op);
  std::size_t acquire_buffer(std::unique_lock<std::mutex>& lock);
  void throw_if_failed();
  void stop();

  OnFile on_file_;
  FileWriterOptions opts_;
  std::vector<Buffer> pool_;

  // Caller's side: the buffer being filled.
  std::size_t current_ = SIZE_MAX;
  std::size_t current_fill_ = 0;

  // Shared, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable idle_;  // the caller waits for buffers or the end of work
  std::vector<std::size_t> free_;
  bool stop_ = false;
  std::exception_ptr error_;

  // Each stage's own state.
  struct Hashing;
  std::unique_ptr<Hashing> hashing_state_;
  std::unique_ptr<Writing> writing_state_;
  // Hashing on the caller's thread (see write_files): no threads, no buffers.
  bool inline_ = false;
  std::unique_ptr<FileDigest> inline_digest_;
  ExtractedFile inline_file_;

  Stage hashing_;
  Stage writing_;
  Stage direct_;
};

}  // namespace pgvault
