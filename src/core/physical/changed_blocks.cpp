#include "pgvault/physical/changed_blocks.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/physical/path_lines.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/text.hpp"

#include <algorithm>

namespace pgvault {

namespace {

void append_ranges(std::string& text, const std::vector<std::uint32_t>& blocks) {
  if (blocks.empty()) {
    text += '-';
    return;
  }
  for (std::size_t i = 0; i < blocks.size();) {
    std::size_t j = i;
    while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1) ++j;
    if (i > 0) text += ',';
    text += std::to_string(blocks[i]);
    if (j > i) text += '-' + std::to_string(blocks[j]);
    i = j + 1;
  }
}

// "0-2,7": ascending ranges, each below file_blocks.
std::vector<std::uint32_t> parse_ranges(std::string_view ranges, std::uint32_t file_blocks,
                                        const PathLineError& fail) {
  std::vector<std::uint32_t> blocks;
  while (true) {
    const std::size_t comma = ranges.find(',');
    const std::string_view range = ranges.substr(0, comma);
    const std::size_t dash = range.find('-');
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    if (!parse_unsigned_decimal(range.substr(0, dash), first) ||
        (dash != std::string_view::npos &&
         (!parse_unsigned_decimal(range.substr(dash + 1), last) || last <= first)))
      fail("malformed block range \"" + quote_untrusted(range) + "\"");
    if (dash == std::string_view::npos) last = first;
    if (!blocks.empty() && first <= blocks.back() + 1)
      fail("block range \"" + std::string(range) + "\" overlaps or follows on the one before");
    if (last >= file_blocks)
      fail("block range \"" + std::string(range) + "\" goes beyond the file's " +
           std::to_string(file_blocks) + " blocks");
    for (std::uint32_t b = first;; ++b) {
      blocks.push_back(b);
      if (b == last) break;
    }
    if (comma == std::string_view::npos) return blocks;
    ranges.remove_prefix(comma + 1);
  }
}

}  // namespace

void write_changed_blocks(Sink& out, std::vector<ChangedBlocksRecord> records) {
  std::sort(
      records.begin(), records.end(),
      [](const ChangedBlocksRecord& a, const ChangedBlocksRecord& b) { return a.path < b.path; });
  PathLinesWriter lines(out, kChangedBlocksObject);
  std::string fields;
  for (const ChangedBlocksRecord& r : records) {
    const auto bad = [&](const std::string& what) {
      throw Error(ErrorKind::invalid_argument,
                  std::string(kChangedBlocksObject) + ": \"" + r.path + "\": " + what);
    };
    if (r.file_blocks > kBlocksPerSegment) bad("more blocks than a segment file has");
    for (std::size_t b = 0; b < r.blocks.size(); ++b) {
      if (r.blocks[b] >= r.file_blocks || (b > 0 && r.blocks[b] <= r.blocks[b - 1]))
        bad("block " + std::to_string(r.blocks[b]) + " is out of order or beyond the file");
    }
    fields = std::to_string(r.file_blocks) + ' ';
    append_ranges(fields, r.blocks);
    lines.add(fields, r.path);
  }
  lines.finish();
}

std::vector<ChangedBlocksRecord> parse_changed_blocks(std::string_view text,
                                                      const std::string& object) {
  std::vector<ChangedBlocksRecord> records;
  parse_path_lines(
      text, object, "<file blocks> <ascending block ranges or -> <path>", 2,
      [&](std::span<const std::string_view> fields, std::string_view path,
          const PathLineError& fail) {
        ChangedBlocksRecord r;
        if (!parse_unsigned_decimal(fields[0], r.file_blocks) || r.file_blocks > kBlocksPerSegment)
          fail("malformed or too large file blocks \"" + quote_untrusted(fields[0]) + "\"");
        if (fields[1] != "-") r.blocks = parse_ranges(fields[1], r.file_blocks, fail);
        r.path = std::string(path);
        records.push_back(std::move(r));
      });
  return records;
}

ObjectEntry store_changed_blocks(Storage& storage, const std::string& directory,
                                 std::vector<ChangedBlocksRecord> records,
                                 const EncryptionKey* key) {
  return store_path_lines(storage, directory, kChangedBlocksObject, key,
                          [&](Sink& out) { write_changed_blocks(out, std::move(records)); });
}

}  // namespace pgvault
