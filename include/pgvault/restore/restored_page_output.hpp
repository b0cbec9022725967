// How a restore writes the pages of a file it rebuilds from a chain of
// backups (physical_restore.hpp): one RestoredPageOutput per backup's entry
// for the file, opening the file only while that entry is fed, so a chain
// holds one descriptor per backup however many files are pending.
//
// Contract:
//  * Pages arrive through write_page() in any order; consecutive ones are
//    gathered into one write (a base copy arrives page by page in block
//    order: one write per run, not one per page).
//  * set_block_count() sets the file's size (compare: only when it differs,
//    ftruncate would touch the mtime); pages gathered before it are written
//    before it.
//  * merge_into_runs (a base copy, queued): each run is claimed from the
//    file's PageMerge::File first, which copies the newer pages it keeps
//    into the run and may split it around blocks their owners wrote.
//  * release() writes what is gathered and closes the file; without it (a
//    failed restore) what is not written is dropped. Durability comes from
//    the restore's syncfs() at the end.
//  * Errors are Error(io) naming the file (queued: the queue's failure, from
//    the next call that meets it).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/restore/page_merge.hpp"
#include "pgvault/restore/page_write_queue.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

struct RestoreOptions;

// How a rebuilt file's pages are written.
enum class PageWrites {
  // In runs through the PageWriteQueue: the disk never stops the decoding
  // thread (a chain read one backup after another, the newest backup of a
  // planned chain, whose entries create the files, and base copies: the
  // long stream everything else waits for).
  queued,
  // In runs with pwrite on the caller's thread: the older incrementals of a
  // planned chain, each on a thread of its own, whose few scattered pages
  // would only crowd the queue (one 1 MiB buffer and one wake-up of every
  // producer per page: 6x the context switches, measured).
  direct,
  // delta: a page already equal on disk is not written again; it reads the
  // file, so it writes on the caller's thread.
  compare,
  // scan_only: nothing is opened or written.
  discard,
};

// The mode for a restore that writes (`writing`: queued or direct),
// compares (delta) or only reads (scan_only).
PageWrites page_writes_for(const RestoreOptions& opts, PageWrites writing);

class RestoredPageOutput final : public PageOutput {
 public:
  // queue: required for PageWrites::queued (Error(internal) otherwise).
  RestoredPageOutput(std::string path, PageWrites mode, PageWriteQueue* queue);
  ~RestoredPageOutput() override;
  RestoredPageOutput(const RestoredPageOutput&) = delete;
  RestoredPageOutput& operator=(const RestoredPageOutput&) = delete;

  void write_page(std::uint32_t block, std::span<const std::byte> page) override;
  void set_block_count(std::uint32_t blocks) override;
  // A base copy whose runs take in newer pages (page_merge.hpp; queued only):
  // each run is claimed from `merge` and queued in the parts it returns.
  void merge_into_runs(PageMerge::File* merge) { merge_ = merge; }
  // Queues (or writes) the run gathered so far.
  void flush();
  void release();
  // compare: the pages found already equal on disk.
  std::uint64_t unchanged() const { return unchanged_; }
  const std::string& path() const { return path_; }

 private:
  void open_here();
  void open_queued();
  void queue_run(std::uint32_t first, std::uint32_t count, bool whole);
  void write_compared(std::uint32_t block, std::span<const std::byte> page);

  std::string path_;
  PageWrites mode_;
  PageWriteQueue* queue_;
  int fd_ = -1;                       // direct and compare: opened here
  std::shared_ptr<QueuedFile> file_;  // queued: written by the queue
  std::vector<std::byte> page_;
  PageAlignedBytes batch_;         // a run being gathered (queued: a queue buffer)
  std::uint32_t batch_block_ = 0;  // the batch's first block
  std::uint32_t batch_pages_ = 0;
  std::uint64_t unchanged_ = 0;
  PageMerge::File* merge_ = nullptr;
};

}  // namespace pgvault
