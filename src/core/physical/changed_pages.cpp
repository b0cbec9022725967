#include "pgvault/physical/changed_pages.hpp"

#include "pgvault/error.hpp"

#include <cstdio>

namespace pgvault {

const char* include_reason_text(IncludeReason reason) {
  switch (reason) {
    case IncludeReason::none:
      return "not included";
    case IncludeReason::changed:
      return "changed since the parent's start LSN";
    case IncludeReason::all_zero:
      return "new (all zeroes)";
    case IncludeReason::beyond_parent:
      return "beyond the parent's size of the file";
    case IncludeReason::untrusted_header:
      return "page header not sane, LSN not trusted";
  }
  return "unknown";
}

std::string PageCorruption::message() const {
  char buffer[160];
  if (state == PageState::checksum_mismatch)
    std::snprintf(buffer, sizeof buffer, "calculated %X but expected %X", computed_checksum,
                  stored_checksum);
  else
    std::snprintf(buffer, sizeof buffer, "%s", page_state_name(state));
  std::string where = "block " + std::to_string(block_in_file);
  if (block != block_in_file)
    where += " (block " + std::to_string(block) + " of the relation fork)";
  return "checksum verification failed in file \"" + file + "\", " + where + ": " + buffer +
         " (read " + std::to_string(reads) + " times)";
}

PageSelection select_page(std::span<std::byte> page, std::string_view file, std::uint32_t segment,
                          std::uint32_t block_in_file, const ChangedPagePolicy& policy,
                          const PageReread& reread) {
  if (page.size() != kPageSize)
    throw Error(ErrorKind::invalid_argument, "a page is exactly " + std::to_string(kPageSize) +
                                                 " bytes, got " + std::to_string(page.size()));
  const std::uint32_t block = fork_block_number(segment, block_in_file);
  PageSelection out;
  auto include = [&](IncludeReason reason) {
    out.decision = PageDecision::include;
    out.reason = reason;
    return out;
  };
  while (true) {
    const PageState state = verify_page(page, block, policy.verify_checksums);
    if (state == PageState::all_zero) return include(IncludeReason::all_zero);
    if (state == PageState::valid) {
      if (block_in_file >= policy.parent_file_blocks) return include(IncludeReason::beyond_parent);
      if (read_page_header(page).lsn() >= policy.parent_start_lsn)
        return include(IncludeReason::changed);
      out.decision = PageDecision::skip;
      return out;
    }
    if (!policy.verify_checksums) return include(IncludeReason::untrusted_header);
    if (out.rereads >= policy.max_rereads || !reread) {
      const PageHeader header = read_page_header(page);
      out.decision = PageDecision::corrupt;
      out.corruption.file = std::string(file);
      out.corruption.block_in_file = block_in_file;
      out.corruption.block = block;
      out.corruption.state = state;
      out.corruption.stored_checksum = header.checksum;
      if (state == PageState::checksum_mismatch)
        out.corruption.computed_checksum = page_checksum(page, block);
      out.corruption.reads = out.rereads + 1;
      return out;
    }
    ++out.rereads;
    if (!reread(page)) {
      out.decision = PageDecision::vanished;
      return out;
    }
  }
}

}  // namespace pgvault
