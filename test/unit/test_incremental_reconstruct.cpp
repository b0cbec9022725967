// Rebuilding a relation file from a full backup and a chain of incrementals
// (include/pgvault/physical/incremental_file.hpp), with incrementals taken by
// the page selection of changed_pages.hpp from a simulated relation file whose
// pages carry LSNs and checksums.
#include "pgvault/error.hpp"
#include "pgvault/physical/changed_pages.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>

using namespace pgvault;
using pgvault::test::expect_error;

namespace {

using Page = std::vector<std::byte>;

// A sane page with an LSN, a payload and its checksum for `block`.
Page make_page(std::uint64_t lsn, std::uint32_t block, std::uint32_t payload) {
  Page page(kPageSize, std::byte{0});
  auto put = [&](std::size_t off, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      page[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  };
  put(0, lsn >> 32, 4);
  put(4, lsn & 0xFFFFFFFFu, 4);
  put(12, 24, 2);
  put(14, 8184, 2);
  put(16, 8192, 2);
  put(18, 8192 | 4, 2);
  put(8184, payload, 4);
  put(8188, block, 4);
  put(8, page_checksum(page, block), 2);
  return page;
}

// One relation segment file as PostgreSQL changes it.
struct SimFile {
  std::vector<Page> pages;
  FileIdentity identity{1, 100, 1};
  std::uint64_t* lsn;

  void modify(std::uint32_t block, std::uint32_t payload) {
    pages.at(block) = make_page(++*lsn, block, payload);
  }
  void extend(std::uint32_t count, bool zero = false) {
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto block = static_cast<std::uint32_t>(pages.size());
      pages.push_back(zero ? Page(kPageSize, std::byte{0})
                           : make_page(++*lsn, block, 7000 + block));
    }
  }
  void truncate(std::uint32_t blocks) { pages.resize(blocks); }
  std::string bytes() const {
    std::string s;
    for (const auto& p : pages) s.append(reinterpret_cast<const char*>(p.data()), p.size());
    return s;
  }
};

struct Backup {
  Lsn start;
  std::uint32_t file_blocks = 0;
  FileIdentity identity;
  std::string stored;    // incremental bytes (or the full copy)
  std::string expected;  // the file as it was
  bool whole = false;
  std::size_t pages_stored = 0;
};

// Takes an incremental of `file` against `parent` (nullopt: the parent had no copy).
Backup take_incremental(const SimFile& file, std::uint64_t& lsn,
                        const std::optional<Backup>& parent, bool honour_whole_rule = true) {
  Backup b;
  b.start = Lsn{++lsn};  // the backup's checkpoint
  b.file_blocks = static_cast<std::uint32_t>(file.pages.size());
  b.identity = file.identity;
  b.expected = file.bytes();
  std::optional<ParentFileState> parent_state;
  if (parent) parent_state = ParentFileState{parent->file_blocks, parent->identity};
  b.whole = honour_whole_rule && whole_file_reason(RelationFork::main, parent_state, b.file_blocks,
                                                   b.identity) != WholeFileReason::none;
  ChangedPagePolicy policy;
  policy.parent_start_lsn = parent ? parent->start : Lsn{0};
  policy.parent_file_blocks = parent ? parent->file_blocks : 0;
  policy.verify_checksums = true;
  std::vector<std::uint32_t> blocks;
  for (std::uint32_t block = 0; block < b.file_blocks; ++block) {
    Page page = file.pages[block];
    const auto s = select_page(page, "base/5/16385", 0, block, policy, nullptr);
    EXPECT_NE(s.decision, PageDecision::corrupt);
    if (b.whole || s.decision == PageDecision::include) blocks.push_back(block);
  }
  StringSink sink;
  IncrementalFileWriter writer(
      sink, {b.whole, b.file_blocks, static_cast<std::uint32_t>(blocks.size())}, blocks);
  for (auto block : blocks) writer.write_page(block, file.pages[block]);
  writer.finish();
  b.stored = sink.str();
  b.pages_stored = blocks.size();
  return b;
}

Backup take_full(const SimFile& file, std::uint64_t& lsn) {
  Backup b;
  b.start = Lsn{++lsn};
  b.file_blocks = static_cast<std::uint32_t>(file.pages.size());
  b.identity = file.identity;
  b.stored = b.expected = file.bytes();
  return b;
}

// Records every write; a block written twice fails the test.
class MemoryOutput final : public PageOutput {
 public:
  explicit MemoryOutput(std::string initial = {}) : data_(std::move(initial)) {}
  void write_page(std::uint32_t block, std::span<const std::byte> page) override {
    EXPECT_EQ(++writes_[block], 1) << "block " << block << " written twice";
    const std::size_t offset = std::size_t{block} * kPageSize;
    if (data_.size() < offset + kPageSize) data_.resize(offset + kPageSize, '\0');
    data_.replace(offset, kPageSize, reinterpret_cast<const char*>(page.data()), page.size());
  }
  void set_block_count(std::uint32_t blocks) override {
    data_.resize(std::size_t{blocks} * kPageSize, '\0');
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
  std::map<std::uint32_t, int> writes_;
};

// Reconstructs from `chain` (newest first) and the full copy (nullptr: none),
// feeding everything in `chunk`-byte pieces; returns the file.
std::string rebuild(const std::vector<const Backup*>& chain, const Backup* full,
                    std::size_t chunk = 5000, std::size_t* incrementals_read = nullptr,
                    std::string initial = {}) {
  MemoryOutput out(std::move(initial));
  FileReconstruction r("base/5/16385", out);
  std::size_t read = 0;
  for (const Backup* b : chain) {
    if (!r.needs_older()) break;
    r.begin_incremental("inc");
    const auto bytes = as_bytes(b->stored);
    for (std::size_t off = 0; off < bytes.size(); off += chunk)
      r.feed_incremental(bytes.subspan(off, std::min(chunk, bytes.size() - off)));
    r.end_incremental();
    ++read;
  }
  if (full && r.needs_older()) {
    const auto bytes = as_bytes(full->stored);
    for (std::size_t off = 0; off < bytes.size(); off += chunk)
      r.feed_full_copy(bytes.subspan(off, std::min(chunk, bytes.size() - off)));
  }
  r.finish();
  if (incrementals_read) *incrementals_read = read;
  return out.data();
}

}  // namespace

TEST(IncrementalReconstruct, ChangedPagesOnly) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(20);
  const Backup full = take_full(f, lsn);
  f.modify(3, 1);
  f.modify(17, 2);
  const Backup inc = take_incremental(f, lsn, full);
  EXPECT_FALSE(inc.whole);
  EXPECT_EQ(inc.pages_stored, 2u);
  EXPECT_EQ(rebuild({&inc}, &full), inc.expected);
  EXPECT_EQ(rebuild({&inc}, &full, 1), inc.expected);
  EXPECT_EQ(rebuild({&inc}, &full, 1 << 20), inc.expected);
}

TEST(IncrementalReconstruct, TruncationAndExtension) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(30);
  const Backup full = take_full(f, lsn);
  f.truncate(12);  // VACUUM truncates the file in place
  const Backup shrunk = take_incremental(f, lsn, full);
  EXPECT_TRUE(shrunk.whole) << "a file smaller than the parent's copy is stored whole";
  EXPECT_EQ(rebuild({&shrunk}, &full), shrunk.expected);
  EXPECT_EQ(rebuild({&shrunk}, &full).size(), 12 * kPageSize);
  // Restoring over an existing longer file: the output is cut to 12 blocks.
  EXPECT_EQ(rebuild({&shrunk}, &full, 5000, nullptr, std::string(40 * kPageSize, 'z')),
            shrunk.expected);

  f.extend(5);
  f.extend(2, /*zero=*/true);  // smgrextend's zero pages
  const Backup grown = take_incremental(f, lsn, shrunk);
  EXPECT_FALSE(grown.whole);
  EXPECT_EQ(grown.pages_stored, 7u) << "the new blocks only";
  EXPECT_EQ(rebuild({&grown, &shrunk}, &full), grown.expected);
  EXPECT_EQ(rebuild({&grown, &shrunk}, &full).size(), 19 * kPageSize);
}

TEST(IncrementalReconstruct, ExtensionBeyondTheFullWithOldLsnsIsStillStored) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(4);
  const Backup full = take_full(f, lsn);
  // Pages appended whose LSN predates the parent's start (copied pages):
  // beyond the parent's size they are stored anyway.
  f.pages.push_back(make_page(5, 4, 99));
  const Backup inc = take_incremental(f, lsn, full);
  EXPECT_EQ(inc.pages_stored, 1u);
  EXPECT_EQ(rebuild({&inc}, &full), inc.expected);
}

TEST(IncrementalReconstruct, DroppedAndRecreatedUnderTheSamePath) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(10);
  const Backup full = take_full(f, lsn);
  f.modify(2, 5);
  const Backup inc1 = take_incremental(f, lsn, full);
  // DROP DATABASE, then CREATE DATABASE ... STRATEGY FILE_COPY re-uses the
  // oid: the same path, another file, pages copied with their old LSNs.
  SimFile other{{}, {2, 555, 77}, &lsn};
  for (std::uint32_t b = 0; b < 10; ++b) other.pages.push_back(make_page(10 + b, b, 4242 + b));
  f.pages = other.pages;
  f.identity = other.identity;
  const Backup inc2 = take_incremental(f, lsn, inc1);
  EXPECT_TRUE(inc2.whole);
  EXPECT_EQ(inc2.pages_stored, 10u);
  std::size_t read = 0;
  EXPECT_EQ(rebuild({&inc2, &inc1}, &full, 5000, &read), inc2.expected);
  EXPECT_EQ(read, 1u) << "nothing older than a whole-file incremental is read";

  // Why the rule exists: the same change judged by LSN alone loses it.
  const Backup by_lsn_only = take_incremental(f, lsn, inc1, /*honour_whole_rule=*/false);
  EXPECT_EQ(by_lsn_only.pages_stored, 0u);
  EXPECT_NE(rebuild({&by_lsn_only, &inc1}, &full), inc2.expected);
}

TEST(IncrementalReconstruct, FileCreatedAfterTheFull) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(3);
  const Backup inc = take_incremental(f, lsn, std::nullopt);
  EXPECT_TRUE(inc.whole);
  EXPECT_EQ(rebuild({&inc}, nullptr), inc.expected);
  SimFile empty{{}, {}, &lsn};
  const Backup created_empty = take_incremental(empty, lsn, std::nullopt);
  EXPECT_EQ(rebuild({&created_empty}, nullptr), "");
}

TEST(IncrementalReconstruct, ChainOfSeven) {
  std::uint64_t lsn = 1000;
  std::mt19937 rng(16);
  SimFile f{{}, {}, &lsn};
  f.extend(64);
  const Backup full = take_full(f, lsn);
  std::vector<Backup> chain;  // oldest first
  std::set<std::uint32_t> zero_blocks;
  for (int i = 0; i < 7; ++i) {
    std::set<std::uint32_t> expected;  // changed or new since the parent, or all zeroes
    for (int k = 0; k < 6; ++k) {
      const auto block = static_cast<std::uint32_t>(rng() % f.pages.size());
      f.modify(block, static_cast<std::uint32_t>(rng()));
      zero_blocks.erase(block);
      expected.insert(block);
    }
    const auto before = static_cast<std::uint32_t>(f.pages.size());
    if (i == 2) f.extend(8);
    if (i == 4) {
      f.extend(3, true);
      zero_blocks.insert({before, before + 1, before + 2});
    }
    for (auto b = before; b < f.pages.size(); ++b) expected.insert(b);
    expected.insert(zero_blocks.begin(), zero_blocks.end());
    chain.push_back(take_incremental(f, lsn, i == 0 ? full : chain.back()));
    EXPECT_FALSE(chain.back().whole);
    EXPECT_EQ(chain.back().pages_stored, expected.size()) << "incremental " << i + 1;
  }
  // Every backup of the chain restores to its own state.
  for (std::size_t newest = 0; newest < chain.size(); ++newest) {
    std::vector<const Backup*> newest_first;
    for (std::size_t i = newest + 1; i-- > 0;) newest_first.push_back(&chain[i]);
    EXPECT_EQ(rebuild(newest_first, &full), chain[newest].expected) << "incremental " << newest + 1;
  }
}

TEST(IncrementalReconstruct, ChainOfSevenWithTruncateAndRecreateInTheMiddle) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(16);
  const Backup full = take_full(f, lsn);
  std::vector<Backup> chain;
  for (int i = 0; i < 7; ++i) {
    f.modify(static_cast<std::uint32_t>(i), 100 + i);
    if (i == 3) f.truncate(9);
    if (i == 5) {
      f.identity.inode = 999;  // re-created
      f.extend(1);
    }
    chain.push_back(take_incremental(f, lsn, i == 0 ? full : chain.back()));
  }
  EXPECT_TRUE(chain[3].whole);
  EXPECT_TRUE(chain[5].whole);
  std::vector<const Backup*> newest_first;
  for (std::size_t i = chain.size(); i-- > 0;) newest_first.push_back(&chain[i]);
  std::size_t read = 0;
  EXPECT_EQ(rebuild(newest_first, &full, 3000, &read), chain.back().expected);
  EXPECT_EQ(read, 2u) << "the newest, then the whole one below it";
}

TEST(IncrementalReconstruct, BrokenChainsAreRefused) {
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(5);
  const Backup full = take_full(f, lsn);
  f.modify(1, 1);
  const Backup inc = take_incremental(f, lsn, full);
  expect_error([&] { rebuild({&inc}, nullptr); }, ErrorKind::corrupt,
               "block 0 of \"base/5/16385\" (5 blocks) is in no backup of the chain");
  Backup short_full = full;
  short_full.stored.resize(3 * kPageSize + 100);  // the full copy ends inside block 3
  expect_error([&] { rebuild({&inc}, &short_full); }, ErrorKind::corrupt, "block 3 of");

  MemoryOutput out;
  FileReconstruction r("f", out);
  expect_error([&] { r.finish(); }, ErrorKind::invalid_argument, "at least one incremental");
  expect_error([&] { r.feed_full_copy(as_bytes("x")); }, ErrorKind::invalid_argument,
               "comes after its incrementals");
  expect_error([&] { r.feed_incremental(as_bytes("x")); }, ErrorKind::invalid_argument,
               "no incremental");
  r.begin_incremental("first");
  expect_error([&] { r.begin_incremental("second"); }, ErrorKind::invalid_argument,
               "one at a time");
  r.feed_incremental(as_bytes(inc.stored.substr(0, 30)));
  expect_error([&] { r.end_incremental(); }, ErrorKind::corrupt,
               "incremental file \"first\": truncated");
}

TEST(IncrementalReconstruct, WritesIntoARealFile) {
  pgvault::test::TempDir tmp;
  std::uint64_t lsn = 1000;
  SimFile f{{}, {}, &lsn};
  f.extend(6);
  const Backup full = take_full(f, lsn);
  f.modify(4, 9);
  f.truncate(5);
  const Backup inc = take_incremental(f, lsn, full);
  const auto path = (tmp.path() / "16385").string();
  std::ofstream(path) << std::string(9 * kPageSize, 'q');  // a stale longer file
  FilePageOutput out(path);
  FileReconstruction r("base/5/16385", out);
  r.begin_incremental("inc");
  r.feed_incremental(as_bytes(inc.stored));
  r.end_incremental();
  EXPECT_FALSE(r.needs_older());
  r.finish();
  out.close();
  EXPECT_EQ(pgvault::test::slurp(path), inc.expected);
  EXPECT_EQ(r.pages_written(), 5u);
  EXPECT_EQ(r.file_blocks(), 5u);
  expect_error([&] { FilePageOutput bad((tmp.path() / "no/such/dir").string()); }, ErrorKind::io,
               "could not open");
}

// PGVAULT_TEST_INCREMENTAL_PARENT=<a relation file copied after a checkpoint>
// PGVAULT_TEST_INCREMENTAL_PARENT_LSN=<that checkpoint's redo LSN>
// PGVAULT_TEST_INCREMENTAL_CHILD=<the same file later, server stopped; named as
// the relation file, e.g. .../16385_vm, as the fork decides whole files>
// takes an incremental of the child against the parent with data checksums
// verified and rebuilds the child from the parent and it, byte for byte.
TEST(IncrementalReconstruct, RealRelationFileFromTheEnvironment) {
  const char* parent_path = std::getenv("PGVAULT_TEST_INCREMENTAL_PARENT");
  const char* child_path = std::getenv("PGVAULT_TEST_INCREMENTAL_CHILD");
  const char* lsn_text = std::getenv("PGVAULT_TEST_INCREMENTAL_PARENT_LSN");
  if (!parent_path || !child_path || !lsn_text)
    GTEST_SKIP() << "set PGVAULT_TEST_INCREMENTAL_PARENT, _CHILD and _PARENT_LSN";
  const std::string parent = pgvault::test::slurp(parent_path);
  const std::string child = pgvault::test::slurp(child_path);
  ASSERT_EQ(parent.size() % kPageSize, 0u);
  ASSERT_EQ(child.size() % kPageSize, 0u);
  ChangedPagePolicy policy;
  policy.parent_start_lsn = parse_lsn(lsn_text);
  policy.parent_file_blocks = static_cast<std::uint32_t>(parent.size() / kPageSize);
  policy.verify_checksums = true;
  const auto child_blocks = static_cast<std::uint32_t>(child.size() / kPageSize);
  const auto relation =
      parse_relation_file_name(std::filesystem::path(child_path).filename().string());
  ASSERT_TRUE(relation) << "name the child like its relation file, e.g. 16385_vm";
  // Both copies are the same file (no identity to compare); sizes decide.
  const WholeFileReason whole = whole_file_reason(
      relation->fork, ParentFileState{policy.parent_file_blocks, {}}, child_blocks, {});
  std::vector<std::uint32_t> blocks;
  std::map<IncludeReason, int> reasons;
  for (std::uint32_t block = 0; block < child_blocks; ++block) {
    Page copy(kPageSize);
    std::memcpy(copy.data(), child.data() + std::size_t{block} * kPageSize, kPageSize);
    const auto s = select_page(copy, child_path, 0, block, policy, nullptr);
    ASSERT_NE(s.decision, PageDecision::corrupt) << s.corruption.message();
    if (whole != WholeFileReason::none || s.decision == PageDecision::include) {
      blocks.push_back(block);
      ++reasons[s.reason];
    }
  }
  StringSink sink;
  IncrementalFileWriter writer(
      sink, {false, child_blocks, static_cast<std::uint32_t>(blocks.size())}, blocks);
  for (auto block : blocks)
    writer.write_page(block, as_bytes(child).subspan(std::size_t{block} * kPageSize, kPageSize));
  writer.finish();
  MemoryOutput out;
  FileReconstruction r(child_path, out);
  r.begin_incremental("real");
  r.feed_incremental(as_bytes(sink.str()));
  r.end_incremental();
  if (r.needs_older()) r.feed_full_copy(as_bytes(parent));
  r.finish();
  EXPECT_TRUE(out.data() == child) << "the rebuilt file differs from the child";
  std::cout << child_path << ": " << blocks.size() << " of " << child_blocks
            << " blocks stored (changed " << reasons[IncludeReason::changed] << ", new "
            << reasons[IncludeReason::all_zero] << ", beyond the parent "
            << reasons[IncludeReason::beyond_parent] << "; whole: " << whole_file_reason_text(whole)
            << ")\n";
}
