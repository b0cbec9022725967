// Newer pages merged into a base copy's runs (page_merge.hpp).
#include "pgvault/restore/page_merge.hpp"

#include "pgvault/error.hpp"
#include "pgvault/physical/page.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <lz4.h>

namespace pgvault {

namespace {

// A kept page's map node and string, beside its bytes.
constexpr std::size_t kOverheadPerPage = 96;
// A kept page that did not shrink is kept as it is, marked by its size.
// Compressed into a buffer of the thread's, then copied at its size: one
// allocation per kept page.
std::string pack(std::span<const std::byte> page) {
  thread_local std::vector<char> scratch(
      static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(kPageSize))));
  const int n = LZ4_compress_default(reinterpret_cast<const char*>(page.data()), scratch.data(),
                                     static_cast<int>(kPageSize), static_cast<int>(scratch.size()));
  if (n <= 0 || static_cast<std::size_t>(n) >= kPageSize)
    return std::string(reinterpret_cast<const char*>(page.data()), kPageSize);
  return std::string(scratch.data(), static_cast<std::size_t>(n));
}

void unpack(const std::string& kept, std::span<std::byte> page) {
  if (kept.size() == kPageSize) {
    std::memcpy(page.data(), kept.data(), kPageSize);
    return;
  }
  const int n = LZ4_decompress_safe(kept.data(), reinterpret_cast<char*>(page.data()),
                                    static_cast<int>(kept.size()), static_cast<int>(kPageSize));
  if (n != static_cast<int>(kPageSize))
    throw Error(ErrorKind::internal, "a page kept for a chain restore did not decompress");
}

[[noreturn]] void stopped() {
  throw Error(ErrorKind::cancelled, "stopped: another backup of the chain failed");
}

}  // namespace

std::size_t PageMerge::cost(const std::string& kept) const {
  return kept.size() + kOverheadPerPage;
}

void PageMerge::release(std::size_t bytes) {
  counts_.kept_bytes -= bytes;
  room_.notify_all();
}

PageMerge::File& PageMerge::add() {
  std::lock_guard lock(mutex_);
  return files_.emplace_back(*this);
}

bool PageMerge::File::offer(std::uint32_t block, std::span<const std::byte> page, bool may_wait) {
  std::string packed = pack(page);  // outside the lock: most offers are kept
  const std::size_t cost = merge_.cost(packed);
  std::unique_lock lock(merge_.mutex_);
  for (;;) {
    if (merge_.cancelled_) stopped();
    if (block < claimed_) {
      ++merge_.counts_.written_by_owners;
      return false;
    }
    if (merge_.counts_.kept_bytes + cost <= merge_.budget_) {
      if (!kept_.emplace(block, std::move(packed)).second)
        throw Error(ErrorKind::internal,
                    "block " + std::to_string(block) + " was offered twice to a chain restore");
      merge_.counts_.kept_bytes += cost;
      merge_.counts_.peak_bytes = std::max(merge_.counts_.peak_bytes, merge_.counts_.kept_bytes);
      ++merge_.counts_.merged_pages;
      return true;
    }
    if (!may_wait) {
      left_out_.insert(block);
      ++merge_.counts_.written_by_owners;
      return false;
    }
    merge_.room_.wait(lock);
  }
}

void PageMerge::File::claim(
    std::uint32_t first, std::span<std::byte> run,
    const std::function<void(std::uint32_t first, std::uint32_t count)>& write_parts) {
  const auto count = static_cast<std::uint32_t>(run.size() / kPageSize);
  const std::uint32_t end = first + count;
  std::lock_guard lock(merge_.mutex_);
  if (merge_.cancelled_) stopped();
  if (first < claimed_ && claimed_ != std::numeric_limits<std::uint32_t>::max())
    throw Error(ErrorKind::internal, "a base copy's run at block " + std::to_string(first) +
                                         " comes after block " + std::to_string(claimed_));
  std::size_t freed = 0;
  for (auto it = kept_.lower_bound(first); it != kept_.end() && it->first < end;
       it = kept_.erase(it)) {
    unpack(it->second, run.subspan(std::size_t{it->first - first} * kPageSize, kPageSize));
    freed += merge_.cost(it->second);
  }
  std::uint32_t part = first;
  for (auto it = left_out_.lower_bound(first); it != left_out_.end() && *it < end;
       it = left_out_.erase(it)) {
    if (*it > part) write_parts(part, *it - part);
    part = *it + 1;
  }
  if (part < end) write_parts(part, end - part);
  claimed_ = std::max(claimed_, end);
  merge_.release(freed);  // also wakes offers waiting for this file's claim
}

std::vector<std::pair<std::uint32_t, std::vector<std::byte>>> PageMerge::File::rest() {
  std::lock_guard lock(merge_.mutex_);
  std::vector<std::pair<std::uint32_t, std::vector<std::byte>>> pages;
  std::size_t freed = 0;
  for (const auto& [block, kept] : kept_) {
    std::vector<std::byte> page(kPageSize);
    unpack(kept, page);
    pages.emplace_back(block, std::move(page));
    freed += merge_.cost(kept);
  }
  kept_.clear();
  claimed_ = std::numeric_limits<std::uint32_t>::max();
  merge_.release(freed);
  return pages;
}

void PageMerge::base_done() {
  std::lock_guard lock(mutex_);
  for (File& f : files_) {
    // A file whose base copy never came: the restore fails on it
    // (PhysicalRestore::finish_planned); its pages are dropped.
    for (const auto& [block, kept] : f.kept_) counts_.kept_bytes -= cost(kept);
    f.kept_.clear();
    f.claimed_ = std::numeric_limits<std::uint32_t>::max();
  }
  room_.notify_all();
}

void PageMerge::cancel() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  room_.notify_all();
}

PageMerge::Counts PageMerge::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace pgvault
