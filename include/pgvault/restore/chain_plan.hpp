// Which backup of a chain supplies each block of each file a restore
// rebuilds, decided from the incrementals' changed_blocks lists
// (physical/changed_blocks.hpp) before any archive is read, so that every
// backup of the chain can be decoded at the same time, each writing only the
// blocks it owns.
//
// Contract (the same rules as FileReconstruction, decided up front):
//  - The files rebuilt are those the newest backup lists (its INCREMENTAL.
//    entries); each ends at the newest list's size in blocks.
//  - Going from the newest backup to older ones, a backup owns the blocks its
//    list names that are below that size and that no newer backup owns
//    (newest wins; each block has one owner).
//  - The first backup that does not list the file (an incremental that stored
//    it whole, or the full at the end of the chain) is its base: it owns
//    every block no incremental owns, from its plain entry. Backups older than
//    the base are not needed for the file.
//  - Nothing is checked against the archives here: the restore compares
//    each INCREMENTAL. entry with its backup's line (listed(), file_blocks)
//    and finds blocks no backup supplied when the entries end.
//  - Memory: the lists' block numbers (4 bytes each), and those again for
//    the blocks incrementals own.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/changed_blocks.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pgvault {

struct RebuiltFilePlan {
  std::uint32_t file_blocks = 0;  // the restored size, from the newest list
  std::size_t base = 0;           // chain index of the backup whose plain entry is the base copy
  // For each backup k < base (0 = newest): its list's line for the file, and
  // the blocks of it that backup k writes.
  std::vector<std::uint32_t> listed_file_blocks;
  std::vector<std::vector<std::uint32_t>> listed;
  std::vector<std::vector<std::uint32_t>> owned;
  // Every block an incremental owns, ascending: the base copy skips them.
  std::vector<std::uint32_t> from_incrementals;

  std::uint32_t base_pages() const {
    return file_blocks - static_cast<std::uint32_t>(from_incrementals.size());
  }
};

class ChainPlan {
 public:
  // lists[k]: the changed_blocks records of backup k of the chain, newest
  // first; chain_size: the number of backups, the full one last (so
  // lists.size() < chain_size).
  ChainPlan(std::vector<std::vector<ChangedBlocksRecord>> lists, std::size_t chain_size);

  const RebuiltFilePlan* find(const std::string& path) const;
  const std::map<std::string, RebuiltFilePlan>& files() const { return files_; }
  // Whether backup k's entries for the file are read: every backup below its
  // base (each INCREMENTAL. entry is checked against its list, even one that
  // owns no block), and the base when it has pages to give.
  static bool reads(const RebuiltFilePlan& file, std::size_t k) {
    return k < file.base || (k == file.base && file.base_pages() > 0);
  }
  // Whether backup k is read at all: reads() for some file.
  bool needed(std::size_t k) const { return k < needed_.size() && needed_[k]; }

 private:
  std::map<std::string, RebuiltFilePlan> files_;
  std::vector<bool> needed_;
};

}  // namespace pgvault
