// The stored format of one incremental relation file
// (include/pgvault/physical/incremental_file.hpp): writer, strict reader.
#include "pgvault/error.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace pgvault;
using pgvault::test::expect_error;

namespace {

std::vector<std::byte> page_of(std::uint32_t block, std::uint8_t version = 0) {
  std::vector<std::byte> page(kPageSize);
  for (std::size_t i = 0; i < kPageSize; ++i)
    page[i] = static_cast<std::byte>((block * 31 + version * 7 + i) & 0xFF);
  return page;
}

std::string encode(const IncrementalFileHeader& h, const std::vector<std::uint32_t>& blocks,
                   std::uint8_t version = 0) {
  StringSink sink;
  IncrementalFileWriter writer(sink, h, blocks);
  for (auto b : blocks) writer.write_page(b, page_of(b, version));
  writer.finish();
  return sink.str();
}

struct Decoded {
  std::optional<IncrementalFileHeader> header;
  std::map<std::uint32_t, std::vector<std::byte>> pages;
  std::vector<std::uint32_t> order;
};

// Feeds `bytes` in pieces of `chunk` bytes.
Decoded decode(const std::string& bytes, std::size_t chunk) {
  Decoded d;
  IncrementalFileReader reader(
      "base/5/16385@inc1", [&](const IncrementalFileHeader& h) { d.header = h; },
      [&](std::uint32_t block, std::span<const std::byte> page) {
        d.pages[block].assign(page.begin(), page.end());
        d.order.push_back(block);
      });
  const auto all = as_bytes(bytes);
  for (std::size_t off = 0; off < all.size(); off += chunk)
    reader.feed(all.subspan(off, std::min(chunk, all.size() - off)));
  reader.finish();
  return d;
}

void put32(std::string& s, std::size_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace

TEST(IncrementalFile, LayoutIsAsDocumented) {
  const std::string bytes = encode({false, 10, 2}, {3, 7});
  ASSERT_EQ(bytes.size(), IncrementalFileWriter::encoded_size(2));
  EXPECT_EQ(bytes.size(), 16u + 2 * 4 + 2 * 8192);
  EXPECT_EQ(bytes.substr(0, 4), "PGVI");
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x01\x00\x00\x00", 4)) << "version 1, no flags";
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x0a\x00\x00\x00\x02\x00\x00\x00", 8));
  EXPECT_EQ(bytes.substr(16, 8), std::string("\x03\x00\x00\x00\x07\x00\x00\x00", 8));
  const auto p3 = page_of(3);
  EXPECT_EQ(bytes.substr(24, 8192), std::string(reinterpret_cast<const char*>(p3.data()), 8192));
  const std::string whole = encode({true, 2, 2}, {0, 1});
  EXPECT_EQ(whole.substr(6, 2), std::string("\x01\x00", 2));
}

TEST(IncrementalFile, RoundTripsWhateverTheChunking) {
  const std::vector<std::uint32_t> blocks = {0, 1, 5, 99, 130000};
  const std::string bytes = encode({false, 131072, 5}, blocks, 3);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{4096}, std::size_t{8192},
                            std::size_t{8193}, bytes.size()}) {
    const Decoded d = decode(bytes, chunk);
    ASSERT_TRUE(d.header);
    EXPECT_FALSE(d.header->whole_file);
    EXPECT_EQ(d.header->file_blocks, 131072u);
    EXPECT_EQ(d.header->block_count, 5u);
    EXPECT_EQ(d.order, blocks) << "chunk " << chunk;
    for (auto b : blocks) EXPECT_EQ(d.pages.at(b), page_of(b, 3));
  }
  const Decoded empty = decode(encode({false, 0, 0}, {}), 7);
  EXPECT_EQ(empty.header->file_blocks, 0u);
  EXPECT_TRUE(empty.pages.empty());
  const Decoded nothing_changed = decode(encode({false, 50, 0}, {}), 7);
  EXPECT_EQ(nothing_changed.header->file_blocks, 50u);
}

TEST(IncrementalFile, WriterRefusesMisuse) {
  StringSink sink;
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {false, 10, 3}, {1, 2});
      },
      ErrorKind::invalid_argument, "says 3 blocks, 2 block numbers given");
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {false, 10, 2}, {2, 2});
      },
      ErrorKind::invalid_argument, "strictly increasing, got 2 then 2");
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {false, 10, 2}, {5, 1});
      },
      ErrorKind::invalid_argument, "strictly increasing, got 5 then 1");
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {false, 10, 1}, {10});
      },
      ErrorKind::invalid_argument, "block 10 is beyond the file's 10 blocks");
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {true, 3, 2}, {0, 1});
      },
      ErrorKind::invalid_argument, "a whole file stores all 3 blocks");
  expect_error(
      [&] {
        IncrementalFileWriter(sink, {false, 131073, 0}, {});
      },
      ErrorKind::invalid_argument, "at most 131072 blocks");

  IncrementalFileWriter writer(sink, {false, 10, 2}, {3, 7});
  expect_error([&] { writer.write_page(7, page_of(7)); }, ErrorKind::invalid_argument,
               "block 7 written where block 3 is next");
  std::vector<std::byte> small(100);
  expect_error([&] { writer.write_page(3, small); }, ErrorKind::invalid_argument, "exactly 8192");
  writer.write_page(3, page_of(3));
  expect_error([&] { writer.finish(); }, ErrorKind::invalid_argument, "after 1 of 2 pages");
  writer.write_page(7, page_of(7));
  expect_error([&] { writer.write_page(8, page_of(8)); }, ErrorKind::invalid_argument,
               "after the last listed block");
  writer.finish();
}

TEST(IncrementalFile, ReaderRefusesMalformedInput) {
  const std::string good = encode({false, 10, 2}, {3, 7});
  auto refuse = [](std::string bytes, const std::string& needle) {
    expect_error([&] { decode(bytes, 5); }, ErrorKind::corrupt, needle);
  };
  auto with = [&](std::size_t off, std::uint32_t v) {
    std::string s = good;
    put32(s, off, v);
    return s;
  };
  refuse("XGVI" + good.substr(4), "not an incremental file (wrong magic)");
  refuse(with(4, 2), "format version 2 is not supported");
  refuse(with(4, 1 | (4u << 16)), "unknown flags 4");
  refuse(with(8, 131073), "beyond a segment's 131072");
  refuse(with(8, 1), "2 blocks stored in a file of 1 blocks");
  refuse(with(16, 7), "not strictly increasing (7 then 7)");
  refuse(with(20, 2), "not strictly increasing (3 then 2)");
  refuse(with(20, 10), "block 10 is beyond the file's 10 blocks");
  refuse(with(12, 3), "is beyond the file's 10 blocks");  // the 3rd number is a page's first bytes
  refuse(good.substr(0, 10), "truncated in the header");
  refuse(good.substr(0, 20), "truncated after 1 of 2 block numbers");
  refuse(good.substr(0, good.size() - 1), "truncated after 1 of 2 pages");
  refuse(good + "x", "unexpected bytes after the last page");
  refuse("", "truncated in the header");
  std::string whole = encode({true, 2, 2}, {0, 1});
  put32(whole, 8, 3);
  refuse(whole, "whole file of 3 blocks stores 2");
  whole = encode({true, 2, 2}, {0, 1});
  put32(whole, 16, 1);
  put32(whole, 20, 2);
  refuse(whole, "whole file lists block 1 at position 0");
  whole = encode({false, 3, 2}, {0, 2});
  put32(whole, 4, 1 | (1u << 16));  // flagged whole, yet 2 of 3 blocks
  refuse(whole, "whole file of 3 blocks stores 2");
  expect_error([&] { decode(good.substr(0, 10), 5); }, ErrorKind::corrupt,
               "incremental file \"base/5/16385@inc1\"");
}

TEST(IncrementalFile, WholeFileRule) {
  const FileIdentity id{1, 42, 1000};
  const auto main = RelationFork::main;
  const ParentFileState parent{5, id};
  EXPECT_EQ(whole_file_reason(main, std::nullopt, 5, id), WholeFileReason::no_parent_copy);
  EXPECT_EQ(whole_file_reason(main, parent, 5, id), WholeFileReason::none);
  EXPECT_EQ(whole_file_reason(main, parent, 9, id), WholeFileReason::none) << "extended";
  EXPECT_EQ(whole_file_reason(main, parent, 4, id), WholeFileReason::shrank);
  EXPECT_EQ(whole_file_reason(main, parent, 5, {1, 43, 1000}), WholeFileReason::identity_changed)
      << "another inode";
  EXPECT_EQ(whole_file_reason(main, parent, 5, {1, 42, 2000}), WholeFileReason::identity_changed)
      << "inode re-used, born later";
  EXPECT_EQ(whole_file_reason(main, parent, 5, {2, 42, 1000}), WholeFileReason::identity_changed)
      << "another device";
  EXPECT_EQ(whole_file_reason(RelationFork::vm, parent, 5, id), WholeFileReason::map_fork);
  EXPECT_EQ(whole_file_reason(RelationFork::fsm, parent, 5, id), WholeFileReason::map_fork);
  EXPECT_EQ(whole_file_reason(RelationFork::init, parent, 5, id), WholeFileReason::init_fork);
  EXPECT_STREQ(whole_file_reason_text(WholeFileReason::shrank),
               "smaller than the parent backup's copy");
}
