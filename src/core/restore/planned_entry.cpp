// One backup's entry for a file a planned chain restore rebuilds (planned_entry.hpp).
#include "pgvault/restore/planned_entry.hpp"

#include "pgvault/error.hpp"
#include "pgvault/restore/physical_restore.hpp"

#include <algorithm>

namespace pgvault {

// The newest backup's pages are queued: its entries create the files, which
// costs ext4 an inode search each (0.3 s of the newest's 0.4 s in a chain of
// 7 when it made them on its own thread); base copies too (the long stream);
// the older incrementals' pages are written direct.
PlannedEntry::PlannedEntry(PlannedFile& file, std::size_t k, std::string name,
                           const RestoreOptions& opts, PageWriteQueue* queue,
                           ChainBackupReport& step, std::uint64_t& unchanged)
    : file_(file),
      plan_(file.plan),
      k_(k),
      base_copy_(k == file.plan.base),
      name_(std::move(name)),
      out_(file.output,
           page_writes_for(opts, k == 0 || k == file.plan.base || file.merge != nullptr
                                     ? PageWrites::queued
                                     : PageWrites::direct),
           queue),
      step_(step),
      unchanged_(unchanged) {
  if (base_copy_) {
    out_.merge_into_runs(file.merge);
    return;
  }
  reader_.emplace(
      name_, [this](const IncrementalFileHeader& h) { check_header(h); },
      [this](std::uint32_t block, std::span<const std::byte> page) { take(block, page); });
}

void PlannedEntry::write(std::span<const std::byte> data) {
  if (reader_) {
    reader_->feed(data);
    return;
  }
  while (!data.empty()) {
    if (partial_.empty() && data.size() >= kPageSize) {  // most pages: no copy here
      take_base(data.first(kPageSize));
      data = data.subspan(kPageSize);
      continue;
    }
    const std::size_t n = std::min(kPageSize - partial_.size(), data.size());
    partial_.insert(partial_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
    if (partial_.size() < kPageSize) break;
    take_base(partial_);
    partial_.clear();
  }
}

void PlannedEntry::finish() {
  if (reader_) {
    reader_->finish();
    if (next_owned_ != plan_.owned[k_].size())
      throw Error(ErrorKind::internal, name_ + ": block " +
                                           std::to_string(plan_.owned[k_][next_owned_]) +
                                           " was listed but not written");
  } else if (written_ != plan_.base_pages()) {
    // The first block the base copy had to give and did not hold.
    std::uint32_t block = next_block_;
    auto skip = plan_.from_incrementals.begin() + static_cast<std::ptrdiff_t>(next_skip_);
    while (skip != plan_.from_incrementals.end() && *skip == block) ++block, ++skip;
    throw Error(ErrorKind::corrupt, "block " + std::to_string(block) + " of \"" + file_.path +
                                        "\" (" + std::to_string(plan_.file_blocks) +
                                        " blocks) is in no backup of the chain (its base copy, " +
                                        name_ + ", ends at block " + std::to_string(next_block_) +
                                        ")");
  } else {
    ++step_.files;
    if (file_.merge != nullptr) {
      // Its last run first: a newer page of it offered from now on is
      // queued by its owner after that run.
      out_.flush();
      for (const auto& [block, page] : file_.merge->rest()) out_.write_page(block, page);
    }
    // The size, on the descriptor the base copy has open (pages of older
    // incrementals still on their way all lie below it).
    out_.set_block_count(plan_.file_blocks);
  }
  out_.release();
  unchanged_ += out_.unchanged();
  file_.supplied[k_] = 1;
}

void PlannedEntry::mismatch(const std::string& what) const {
  throw Error(ErrorKind::corrupt, name_ + ": " + what + "; its backup's changed_blocks lists " +
                                      std::to_string(plan_.listed[k_].size()) +
                                      " blocks of a file of " +
                                      std::to_string(plan_.listed_file_blocks[k_]) + " blocks");
}

void PlannedEntry::check_header(const IncrementalFileHeader& h) const {
  if (h.file_blocks != plan_.listed_file_blocks[k_] || h.block_count != plan_.listed[k_].size())
    mismatch("the entry holds " + std::to_string(h.block_count) + " blocks of a file of " +
             std::to_string(h.file_blocks) + " blocks");
}

void PlannedEntry::take(std::uint32_t block, std::span<const std::byte> page) {
  const std::vector<std::uint32_t>& listed = plan_.listed[k_];
  if (next_listed_ >= listed.size() || listed[next_listed_] != block)
    mismatch("the entry holds block " + std::to_string(block) + ", which the list does not");
  ++next_listed_;
  const std::vector<std::uint32_t>& owned = plan_.owned[k_];
  if (next_owned_ < owned.size() && owned[next_owned_] == block) {
    // The newest backup, whose entries make the files ready, never waits.
    if (file_.merge == nullptr || !file_.merge->offer(block, page, /*may_wait=*/k_ != 0))
      out_.write_page(block, page);
    ++next_owned_;
    ++step_.pages;
  }
}

void PlannedEntry::take_base(std::span<const std::byte> page) {
  const std::uint32_t block = next_block_++;
  if (block >= plan_.file_blocks) return;  // beyond the restored size
  const std::vector<std::uint32_t>& skip = plan_.from_incrementals;
  if (next_skip_ < skip.size() && skip[next_skip_] == block) {
    ++next_skip_;
    // Merged: it holds the run together; the merge puts the newer page in,
    // or its owner's write lands after the run.
    if (file_.merge != nullptr) out_.write_page(block, page);
    return;
  }
  out_.write_page(block, page);
  ++written_;
  ++step_.pages;
}

}  // namespace pgvault
