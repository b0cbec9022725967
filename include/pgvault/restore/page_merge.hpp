// Newer pages merged into a base copy's runs, so that a chain restore writes
// each rebuilt file in long runs, around the page cache, as the restore of a
// full backup does (restore/chain_plan.hpp, restore/planned_entry.hpp).
//
// Why: a base copy that leaves out every block a newer backup owns writes
// short runs (after six incrementals of 1 % each, about 16 pages between two
// newer ones); short direct writes cost this kind of guest more than they
// save, and buffered ones the kernel's copy into fresh page-cache pages
// (a 3 GB chain of 7 at 1.46 x the full alone, at `dd`'s buffered floor).
// Here the backup that owns a block hands its page over, and the base copy
// writes it inside its own run.
//
// Contract:
//  * A File is one rebuilt file whose base copy is read on a thread that
//    never waits for this class (the full backup's). Each of its blocks has
//    one owner (chain_plan.hpp); the owners offer their pages, the base copy
//    claims its runs in ascending block order.
//  * offer(block, page, may_wait) returns true when the page is kept: the
//    base copy writes it; the owner writes nothing. false: the owner writes
//    the page itself, through the same PageWriteQueue as the base copy, and
//    either order is right:
//      - the base copy already queued the run holding the block (it was
//        claimed): the owner's write is queued after that run, so the newer
//        page is the one left on disk;
//      - the pages kept have reached the budget and !may_wait: the block is
//        left out, and the base copy's runs skip it.
//    With may_wait, an offer over the budget waits until there is room or
//    the base copy has claimed the block (Error(cancelled) after cancel()).
//  * claim(first, run, write_parts): the base copy's run of pages
//    [first, first + run.size() / page): every kept page of it is copied in
//    (and leaves the budget); write_parts is called with the parts of the
//    run that are not left out, as (first block, count) pairs, while the
//    File is locked, so the owner's later writes of those blocks are queued
//    after them.
//  * rest(): when the base copy ends, the pages kept beyond it (blocks the
//    base copy did not reach), ascending, for it to write; every later offer
//    returns false. base_done() does that for every File at once (the base
//    copy's thread ended, however), so that no offer waits for a run that
//    will not come.
//  * Pages are kept LZ4-compressed (raw when that is not smaller); the budget
//    counts their bytes and a fixed overhead per page.
#pragma once
#include "pgvault/pg_free.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pgvault {

class PageMerge {
 public:
  explicit PageMerge(std::size_t budget_bytes) : budget_(budget_bytes) {}
  PageMerge(const PageMerge&) = delete;
  PageMerge& operator=(const PageMerge&) = delete;

  class File {
   public:
    explicit File(PageMerge& merge) : merge_(merge) {}
    bool offer(std::uint32_t block, std::span<const std::byte> page, bool may_wait);
    void claim(std::uint32_t first, std::span<std::byte> run,
               const std::function<void(std::uint32_t first, std::uint32_t count)>& write_parts);
    std::vector<std::pair<std::uint32_t, std::vector<std::byte>>> rest();

   private:
    friend class PageMerge;
    PageMerge& merge_;
    std::uint32_t claimed_ = 0;  // blocks below it are in runs already queued
    std::map<std::uint32_t, std::string> kept_;
    std::set<std::uint32_t> left_out_;
  };

  // A File that lives as long as this PageMerge.
  File& add();
  void base_done();
  void cancel();

  struct Counts {
    std::size_t kept_bytes = 0;  // what the budget holds now
    std::size_t peak_bytes = 0;  // the most it held
    std::uint64_t merged_pages = 0;
    std::uint64_t written_by_owners = 0;  // left out or late
  };
  Counts counts() const;

 private:
  std::size_t cost(const std::string& kept) const;
  void release(std::size_t bytes);  // mutex_ held

  const std::size_t budget_;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::deque<File> files_;
  Counts counts_;
  bool cancelled_ = false;
};

}  // namespace pgvault
