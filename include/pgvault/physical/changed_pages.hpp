// Which pages of a relation file an incremental backup stores.
//
// A page is stored when it may differ from the parent backup's copy:
//  * its pd_lsn >= the parent's start LSN (changed since the parent's
//    checkpoint; pages changed later are also fixed by WAL replay, which starts
//    at this backup's own checkpoint and replays full-page images);
//  * it is all zeroes (a new page: it has no LSN to compare, and storing it is
//    cheap once compressed);
//  * its block is at or beyond the parent's size of the file (an extension;
//    never rely on an LSN for a block the parent did not have);
//  * its header is not sane (PageIsVerifiedExtended's checks) and checksums
//    cannot be verified: its LSN cannot be trusted, so the page is stored.
// Otherwise (a sane page older than the parent's start) it is skipped: the
// parent, or the chain below it, has it.
//
// With data checksums on (and for files basebackup.c verifies), a page that
// fails its checksum or whose header is not sane is read again through the
// caller's callback up to max_rereads times: PostgreSQL may be writing the
// block while it is read (a torn read sees half of each version). A page
// still failing is reported as corruption naming the file and the block; the
// caller decides to fail the backup, never to skip the page silently.
// Pages whose data checksums verify are stored or skipped by the rules above.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace pgvault {

struct ChangedPagePolicy {
  Lsn parent_start_lsn;
  std::uint32_t parent_file_blocks = 0;  // the parent's size of this file in blocks
  bool verify_checksums = false;         // cluster has checksums and the file is checksummed
  unsigned max_rereads = 10;
};

enum class PageDecision {
  include,   // store the page
  skip,      // the parent chain has it
  corrupt,   // failed verification after every re-read: see PageSelection::corruption
  vanished,  // the re-read found no block there any more (the file shrank)
};

enum class IncludeReason { none, changed, all_zero, beyond_parent, untrusted_header };
const char* include_reason_text(IncludeReason reason);

struct PageCorruption {
  std::string file;                 // as the caller named it
  std::uint32_t block_in_file = 0;  // as basebackup.c's warning names it
  std::uint32_t block = 0;          // block within the fork (the checksum's block number)
  PageState state = PageState::valid;
  std::uint16_t stored_checksum = 0;
  std::uint16_t computed_checksum = 0;
  unsigned reads = 0;  // how many times the page was read
  // basebackup.c's wording, e.g. checksum verification failed in file
  // "base/5/16385.1", block 5 (block 131077 of the relation fork): calculated
  // 1A2B but expected 3C4D (read 11 times); the fork's block only for segments > 0.
  // 3C4D (read 11 times)
  std::string message() const;
};

struct PageSelection {
  PageDecision decision = PageDecision::skip;
  IncludeReason reason = IncludeReason::none;
  unsigned rereads = 0;
  PageCorruption corruption;  // when decision == corrupt
};

// Reads the block again into `page` (kPageSize bytes). Returns false when the
// block no longer exists (the file was truncated meanwhile).
using PageReread = std::function<bool(std::span<std::byte> page)>;

// Decides for one page. `page` is the block as read (kPageSize bytes, else
// Error(invalid_argument)); re-reads replace its content, so on include it
// holds the bytes to store. block_in_file is the block within the segment
// file, segment the file's segment number.
PageSelection select_page(std::span<std::byte> page, std::string_view file, std::uint32_t segment,
                          std::uint32_t block_in_file, const ChangedPagePolicy& policy,
                          const PageReread& reread);

}  // namespace pgvault
