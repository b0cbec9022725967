// Summarising WAL records into changed blocks (wal_summary.hpp).
#include "pgvault/wal/wal_summary.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"

#include <algorithm>
#include <iterator>
#include <string>

namespace pgvault {

namespace {

constexpr std::uint8_t kSmgrCreate = 0x10;
constexpr std::uint8_t kSmgrTruncate = 0x20;
constexpr std::uint32_t kTruncateHeap = 0x1;
constexpr std::uint32_t kTruncateVm = 0x2;
constexpr std::uint32_t kTruncateFsm = 0x4;
constexpr std::uint8_t kDbaseCreateFileCopy = 0x00;
constexpr std::uint8_t kForkMain = 0, kForkFsm = 1, kForkVm = 2, kMaxFork = 3;

const std::byte* need(const WalRecord& r, std::size_t size, const char* what) {
  if (r.main_data.size() < size)
    throw Error(ErrorKind::corrupt, "WAL record at " + format_lsn(r.lsn) + " (" + what + ") has " +
                                        std::to_string(r.main_data.size()) +
                                        " bytes of data, expected at least " +
                                        std::to_string(size));
  return r.main_data.data();
}

RelFileNode node_at(const std::byte* p) {
  return {load_le<std::uint32_t>(p), load_le<std::uint32_t>(p + 4), load_le<std::uint32_t>(p + 8)};
}

}  // namespace

void WalSummary::add(const WalRecord& r) {
  if (finished_) throw Error(ErrorKind::internal, "WalSummary::add after finish()");
  for (const WalBlockReference& b : r.blocks) {
    auto& blocks = at(b.node, b.fork).blocks;
    if (blocks.empty() || blocks.back() != b.block) blocks.push_back(b.block);
  }
  const std::uint8_t kind = r.info & 0xF0;
  if (r.rmid == kRmgrStorage && kind == kSmgrCreate) {
    const std::byte* p = need(r, 16, "smgr create");
    const std::uint32_t fork = load_le<std::uint32_t>(p + 12);
    if (fork > kMaxFork)
      throw Error(ErrorKind::corrupt,
                  "WAL record at " + format_lsn(r.lsn) + " creates fork " + std::to_string(fork));
    at(node_at(p), static_cast<std::uint8_t>(fork)).whole = true;
  } else if (r.rmid == kRmgrStorage && kind == kSmgrTruncate) {
    const std::byte* p = need(r, 20, "smgr truncate");
    const std::uint32_t blocks = load_le<std::uint32_t>(p);
    const RelFileNode node = node_at(p + 4);
    const std::uint32_t flags = load_le<std::uint32_t>(p + 16);
    if ((flags & kTruncateHeap) != 0) {
      auto& t = at(node, kForkMain).truncated_to;
      t = t ? std::min(*t, blocks) : blocks;
    }
    if ((flags & kTruncateVm) != 0) at(node, kForkVm).whole = true;
    if ((flags & kTruncateFsm) != 0) at(node, kForkFsm).whole = true;
  } else if (r.rmid == kRmgrDatabase && kind == kDbaseCreateFileCopy) {
    const std::byte* p = need(r, 16, "create database by copying files");
    copied_databases_.emplace(load_le<std::uint32_t>(p + 4), load_le<std::uint32_t>(p));
  }
}

void WalSummary::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& [fork, changes] : forks_) {
    std::sort(changes.blocks.begin(), changes.blocks.end());
    changes.blocks.erase(std::unique(changes.blocks.begin(), changes.blocks.end()),
                         changes.blocks.end());
  }
}

void WalSummary::merge(const WalSummary& other) {
  if (!finished_ || !other.finished_)
    throw Error(ErrorKind::internal, "WalSummary::merge of an unfinished summary");
  for (const auto& [fork, theirs] : other.forks_) {
    ForkChanges& ours = forks_[fork];
    std::vector<std::uint32_t> blocks;
    blocks.reserve(ours.blocks.size() + theirs.blocks.size());
    std::set_union(ours.blocks.begin(), ours.blocks.end(), theirs.blocks.begin(),
                   theirs.blocks.end(), std::back_inserter(blocks));
    ours.blocks = std::move(blocks);
    if (theirs.truncated_to)
      ours.truncated_to = ours.truncated_to ? std::min(*ours.truncated_to, *theirs.truncated_to)
                                            : theirs.truncated_to;
    ours.whole = ours.whole || theirs.whole;
  }
  copied_databases_.insert(other.copied_databases_.begin(), other.copied_databases_.end());
}

void WalSummary::restore_fork(const RelationForkId& fork, ForkChanges changes) {
  if (finished_) throw Error(ErrorKind::internal, "WalSummary::restore_fork after finish()");
  forks_[fork] = std::move(changes);
}

void WalSummary::restore_copied_database(std::uint32_t tablespace, std::uint32_t database) {
  if (finished_)
    throw Error(ErrorKind::internal, "WalSummary::restore_copied_database after finish()");
  copied_databases_.emplace(tablespace, database);
}

std::size_t WalSummary::block_count() const {
  std::size_t n = 0;
  for (const auto& [fork, changes] : forks_) n += changes.blocks.size();
  return n;
}

SegmentChanges WalSummary::changes_of(const RelationForkId& fork, std::uint32_t segment) const {
  if (!finished_) throw Error(ErrorKind::internal, "WalSummary::changes_of before finish()");
  SegmentChanges out;
  if (copied_databases_.count({fork.node.tablespace, fork.node.database}) != 0) {
    out.whole = true;
    return out;
  }
  const auto it = forks_.find(fork);
  if (it == forks_.end()) return out;
  const ForkChanges& c = it->second;
  if (c.whole) {
    out.whole = true;
    return out;
  }
  const std::uint64_t first = std::uint64_t{segment} * kRelationSegmentBlocks;
  const std::uint64_t last = first + kRelationSegmentBlocks;
  for (auto b = std::lower_bound(c.blocks.begin(), c.blocks.end(), first);
       b != c.blocks.end() && *b < last; ++b)
    out.blocks.push_back(static_cast<std::uint32_t>(*b - first));
  if (c.truncated_to && *c.truncated_to < last)
    out.from = static_cast<std::uint32_t>(std::max<std::uint64_t>(*c.truncated_to, first) - first);
  return out;
}

}  // namespace pgvault
