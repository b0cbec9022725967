// WAL summaries stored on the server, and what an incremental backup reads
// of them: which blocks the WAL from the parent's start to its own start
// changed (issue 16; src/core/wal/README.md, "WAL summaries").
//
// Files: <dir>/<TTTTTTTT><SSSSSSSSSSSSSSSS><EEEEEEEEEEEEEEEE>.summary, the
// timeline and the range's start and end LSN in upper-case hex (the names of
// PostgreSQL 17's pg_wal/summaries). <dir> is pg_wal/pgvault_summaries: no
// backup copies pg_wal, and the summaries stay beside the WAL they describe.
//
// A range [start, end) means: the summary holds every record of the timeline
// whose start LSN lies in it. end is the end of the last record read, start
// the end of the record before the first one (or the first record's start
// when reading began afresh), so consecutive summaries of one reader meet
// exactly and any gap between two is WAL nobody summarized.
//
// Format (version 1, little-endian):
//   "PGVWSUM\0" (8 bytes), version u32, timeline u32, start u64, end u64,
//   forks u32, then per fork: tablespace u32, database u32, relation u32,
//     fork u8, flags u8 (1 whole, 2 truncated), truncated_to u32 (0 when not
//     truncated), blocks u32, then the block numbers u32 strictly increasing;
//   copied databases u32, then per database: tablespace u32, database u32;
//   CRC-32C u32 of every byte before it.
// decode_wal_summary refuses with Error(corrupt) anything else: another
// magic or version, a length that does not add up, a bad CRC, blocks out of
// order, a fork above 3, a header that disagrees with the file's name. A
// reader treats such a file as missing: a summary is never trusted blindly,
// and without one the incremental reads every page.
//
// Writing is atomic for readers (a temporary name, then rename); a file cut
// short by a crash fails its CRC and counts as missing.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_summary.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

inline constexpr std::string_view kWalSummaryDirectory = "pg_wal/pgvault_summaries";

struct WalSummaryRange {
  TimelineId timeline = 0;
  Lsn start;
  Lsn end;
  auto operator<=>(const WalSummaryRange&) const = default;
};

std::string describe(const WalSummaryRange& range);  // "timeline 1, 0/1000028..0/2000000"
std::string wal_summary_file_name(const WalSummaryRange& range);
// nullopt for any other name (another suffix, lower-case hex, end <= start).
std::optional<WalSummaryRange> parse_wal_summary_file_name(std::string_view name);

// Throws Error(invalid_argument) for an unfinished summary or end <= start.
std::string encode_wal_summary(const WalSummaryRange& range, const WalSummary& summary);
// A finished summary; see the contract above.
WalSummary decode_wal_summary(std::string_view bytes, const WalSummaryRange& named);

// Creates dir when missing. Throws Error(io) when it cannot write.
void write_wal_summary(const std::filesystem::path& dir, const WalSummaryRange& range,
                       const WalSummary& summary);
// The ranges of the files in dir (other names ignored; none when dir is
// missing), ordered by timeline, start, end.
std::vector<WalSummaryRange> list_wal_summaries(const std::filesystem::path& dir);

// The newest stretch of `timeline` that `ranges` cover with no gap: the
// range ending last, extended back through every range that meets or
// overlaps what is covered so far. An incremental whose parent started at or
// after its start reads only the blocks the summaries name. nullopt when no
// range is of that timeline.
std::optional<WalSummaryRange> newest_covered_stretch(const std::vector<WalSummaryRange>& ranges,
                                                      TimelineId timeline);

// What the WAL from `from` to `to` (records starting in [from, to)) on
// `timeline` changed, from the summaries in dir: the union of every readable
// summary meeting that range, when together they leave no part of it
// uncovered. Otherwise no summary and why_not in words (which stretch is
// missing, which file could not be read); never throws for a missing or bad
// file.
struct WalChanges {
  std::optional<WalSummary> summary;
  std::vector<WalSummaryRange> used;
  std::string why_not;
};
WalChanges collect_wal_changes(const std::filesystem::path& dir, TimelineId timeline, Lsn from,
                               Lsn to);

// Housekeeping: removes leftover temporary files, summaries whose range lies
// inside another one's (a later summary of the same WAL replaced them), and,
// when keep > 0, summaries last written more than keep before now. Returns
// how many files it removed; errors are ignored (the next pass retries).
std::size_t remove_old_wal_summaries(const std::filesystem::path& dir, std::chrono::seconds keep,
                                     std::filesystem::file_time_type now);

}  // namespace pgvault
