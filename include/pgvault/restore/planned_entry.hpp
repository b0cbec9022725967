// Carrying out a chain restore's plan (chain_plan.hpp): the state of each
// file the newest backup rebuilds, and one backup's archive entry for it.
//
// Contract:
//  * A PlannedFile is made ready by the newest backup's entry for it (its
//    path checked and its directory made by the newest's extraction); older
//    backups' entries write into it only after that (the restore waits).
//  * A PlannedEntry of backup k (0 = newest) for a file is either an
//    INCREMENTAL. entry (k below the file's base), compared with the
//    backup's changed_blocks line (size, every block number, in order;
//    Error(corrupt) naming the entry otherwise), writing the blocks the plan
//    gives backup k; or the base copy (k the file's base), writing every
//    block below the restored size that no incremental owns, then the size.
//    A base copy shorter than the blocks it owns is Error(corrupt) naming
//    the first block no backup supplied.
//  * finish() marks the file supplied by backup k; each backup's thread
//    writes only its own element of `supplied`.
//  * How pages are written (restored_page_output.hpp): the newest backup's
//    and base copies through the queue, the older incrementals' direct
//    (page_writes_for: compared for delta, discarded for scan_only).
//  * A file with a merge (page_merge.hpp): every owner offers its pages
//    first (the newest without waiting, older incrementals waiting for room)
//    and queues those not kept; the base copy writes every block it holds
//    below the restored size, its runs claimed from the merge, which puts
//    the kept newer pages in, then the pages kept beyond its end. A block a
//    newer backup owns goes out in the base copy's run with the full's
//    content only when its owner's page comes later, queued after that run.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/chain_plan.hpp"
#include "pgvault/restore/page_merge.hpp"
#include "pgvault/restore/restored_page_output.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

struct ChainBackupReport;
struct RestoreOptions;

// A file the newest backup rebuilds while the older backups of the chain are
// decoded at once (chain_plan.hpp). The newest backup's entry makes it ready
// (its path checked and its directory made by the newest's extraction);
// older backups' entries wait for that before they write into it.
struct PlannedFile {
  PlannedFile(std::string manifest_path, const RebuiltFilePlan& p, std::size_t chain_size)
      : path(std::move(manifest_path)), plan(p), supplied(chain_size) {}
  const std::string path;  // in backup_manifest
  const RebuiltFilePlan& plan;
  bool ready = false;   // guarded by the restore (PhysicalRestore::planned_mutex_)
  std::string output;   // where it is written, set with ready
  std::string archive;  // the newest backup's archive that named it (for messages)
  // [k]: backup k's entry for it ended with everything it had to give; each
  // backup's thread sets only its own element.
  std::vector<char> supplied;
  // Set before any backup is read when the newer backups' pages are merged
  // into the base copy's runs (page_merge.hpp): its base is the full backup.
  PageMerge::File* merge = nullptr;
};

class PlannedEntry final : public Sink {
 public:
  // name: for messages ("<backup>: <archive>: <entry>"); step: backup k's
  // report (pages, base copies); unchanged: where delta's count of pages
  // already right goes.
  PlannedEntry(PlannedFile& file, std::size_t k, std::string name, const RestoreOptions& opts,
               PageWriteQueue* queue, ChainBackupReport& step, std::uint64_t& unchanged);
  void write(std::span<const std::byte> data) override;
  void finish() override;

 private:
  [[noreturn]] void mismatch(const std::string& what) const;
  void check_header(const IncrementalFileHeader& h) const;
  void take(std::uint32_t block, std::span<const std::byte> page);
  void take_base(std::span<const std::byte> page);

  PlannedFile& file_;
  const RebuiltFilePlan& plan_;
  std::size_t k_;
  bool base_copy_;
  std::string name_;
  RestoredPageOutput out_;
  ChainBackupReport& step_;
  std::uint64_t& unchanged_;
  std::optional<IncrementalFileReader> reader_;  // not the base copy
  std::size_t next_listed_ = 0;
  std::size_t next_owned_ = 0;
  std::vector<std::byte> partial_;  // base copy: the page being gathered
  std::uint32_t next_block_ = 0;
  std::size_t next_skip_ = 0;
  std::uint32_t written_ = 0;
};

}  // namespace pgvault
