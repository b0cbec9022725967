// Which backup supplies each block of a rebuilt file (chain_plan.hpp).
#include "pgvault/restore/chain_plan.hpp"

#include <algorithm>
#include <iterator>

namespace pgvault {

ChainPlan::ChainPlan(std::vector<std::vector<ChangedBlocksRecord>> lists, std::size_t chain_size)
    : needed_(chain_size, false) {
  // Each list is sorted by path (parse_changed_blocks checks it): one cursor per backup.
  std::vector<std::size_t> at(lists.size(), 0);
  if (lists.empty()) return;
  for (ChangedBlocksRecord& newest : lists.front()) {
    RebuiltFilePlan plan;
    plan.file_blocks = newest.file_blocks;
    std::size_t k = 0;
    for (; k < lists.size(); ++k) {
      std::vector<ChangedBlocksRecord>& list = lists[k];
      std::size_t& i = at[k];
      while (i < list.size() && list[i].path < newest.path) ++i;
      if (i == list.size() || list[i].path != newest.path) break;  // k stored it whole
      ChangedBlocksRecord& line = list[i];                         // k == 0: newest itself
      std::vector<std::uint32_t> owned;
      auto end = std::lower_bound(line.blocks.begin(), line.blocks.end(), plan.file_blocks);
      std::set_difference(line.blocks.begin(), end, plan.from_incrementals.begin(),
                          plan.from_incrementals.end(), std::back_inserter(owned));
      needed_[k] = true;
      if (!owned.empty()) {
        std::vector<std::uint32_t> merged;
        merged.reserve(plan.from_incrementals.size() + owned.size());
        std::merge(plan.from_incrementals.begin(), plan.from_incrementals.end(), owned.begin(),
                   owned.end(), std::back_inserter(merged));
        plan.from_incrementals = std::move(merged);
      }
      plan.listed_file_blocks.push_back(line.file_blocks);
      plan.listed.push_back(std::move(line.blocks));
      plan.owned.push_back(std::move(owned));
    }
    plan.base = k;
    if (plan.base < chain_size && plan.base_pages() > 0) needed_[plan.base] = true;
    files_.emplace(std::move(newest.path), std::move(plan));
  }
}

const RebuiltFilePlan* ChainPlan::find(const std::string& path) const {
  const auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace pgvault
