#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/file_writer.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBuffer = 64 * 1024;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

struct Written {
  std::map<std::string, ExtractedFile> reported;
};

// Writes each content as file "f<size>" in chunks of `chunk` bytes.
Written write_files(const std::string& dir, const std::vector<std::string>& contents,
                    std::size_t chunk, FileWriterOptions options) {
  Written w;
  FileWriter writer([&](const ExtractedFile& f) { w.reported[f.path] = f; }, options);
  for (const auto& c : contents) {
    const std::string rel = "f" + std::to_string(c.size());
    writer.begin_file(dir + "/" + rel, rel, c.size());
    for (std::size_t i = 0; i < c.size(); i += chunk) {
      writer.append(as_bytes(std::string_view(c).substr(i, chunk)));
    }
    writer.end_file();
  }
  writer.drain();
  return w;
}

std::vector<std::string> sizes_around_alignment() {
  std::vector<std::string> out;
  unsigned seed = 1;
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097},
        kBuffer - 1, kBuffer, kBuffer + 1, kBuffer + 4096, 3 * kBuffer + 17, 5 * kBuffer + 12345}) {
    out.push_back(random_bytes(n, seed++));
  }
  return out;
}

void expect_on_disk(const std::string& dir, const std::vector<std::string>& contents,
                    const Written& w) {
  ASSERT_EQ(w.reported.size(), contents.size());
  for (const auto& c : contents) {
    const std::string rel = "f" + std::to_string(c.size());
    const std::string path = dir + "/" + rel;
    EXPECT_EQ(slurp(path), c) << rel;
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << rel;
    const ExtractedFile& f = w.reported.at(rel);
    EXPECT_EQ(f.size, c.size()) << rel;
    EXPECT_EQ(f.sha256, sha256_hex(c)) << rel;
  }
}

// Each chunking writes every content into a fresh directory, checked on disk.
void expect_whole_in_each_chunking(const std::vector<std::string>& contents,
                                   std::initializer_list<std::size_t> chunks) {
  for (std::size_t chunk : chunks) {
    TempDir d;
    FileWriterOptions o;
    o.buffer_size = kBuffer;
    const Written w = write_files(d.str(), contents, chunk, o);
    expect_on_disk(d.str(), contents, w);
  }
}

}  // namespace

TEST(FileWriter, EverySizeAroundTheAlignmentInAnyChunking) {
  expect_whole_in_each_chunking(sizes_around_alignment(),
                                {std::size_t{1000}, std::size_t{4096}, kBuffer + 3});
}

// Write-back starts as files are written (write_back.hpp): a file of many
// buffers, then one of a few bytes, land whole whatever the chunking.
TEST(FileWriter, LargeFilesStartTheirWriteBackAndLandWhole) {
  const std::vector<std::string> contents{random_bytes(9 * kBuffer + 4321, 77),
                                          random_bytes(3, 78)};
  TempDir d;
  FileWriterOptions o;
  o.buffer_size = kBuffer;
  const Written w = write_files(d.str(), contents, 7777, o);
  expect_on_disk(d.str(), contents, w);
}

namespace {

std::vector<std::string> sizes_around_the_direct_threshold() {
  std::vector<std::string> out;
  unsigned seed = 100;
  const std::size_t min = FileWriter::kDirectMinBytes;
  for (std::size_t n : {min - 1, min, min + 1, min + 4096, 3 * min + 12345}) {
    out.push_back(random_bytes(n, seed++));
  }
  return out;
}

}  // namespace

// Files of kDirectMinBytes or more are written around the page cache, several
// writes in flight and their partial last buffer through it: whatever the
// chunking they land whole, reported with the right digest.
TEST(FileWriter, LargeFilesWrittenDirectLandWhole) {
  expect_whole_in_each_chunking(sizes_around_the_direct_threshold(),
                                {std::size_t{1000}, kBuffer + 3});
}

// The direct path is taken: a large file written with direct_writes leaves
// (nearly) nothing in the page cache, the same file written without them
// stays cached. Fails if FileWriter stops opening large files with O_DIRECT.
TEST(FileWriter, DirectWritesLeaveThePageCacheAlone) {
  TempDir d;
  if (!writes_around_the_cache(d.str()))
    GTEST_SKIP() << d.str() << " keeps no O_DIRECT file out of its page cache";
  const std::vector<std::string> contents{random_bytes(8 * FileWriter::kDirectMinBytes + 100, 5)};
  FileWriterOptions o;
  o.buffer_size = kBuffer;
  const std::string path = d.str() + "/f" + std::to_string(contents[0].size());

  o.direct_writes = false;
  expect_on_disk(d.str(), contents, write_files(d.str(), contents, kBuffer, o));
  const auto [cached_buffered, pages] = cached_pages(path);
  ::unlink(path.c_str());
  o.direct_writes = true;
  expect_on_disk(d.str(), contents, write_files(d.str(), contents, kBuffer, o));
  // expect_on_disk read it back: the check must come first.
  ::unlink(path.c_str());
  const Written w = write_files(d.str(), contents, kBuffer, o);
  const auto [cached_direct, pages_direct] = cached_pages(path);
  EXPECT_EQ(pages, pages_direct);
  EXPECT_GT(cached_buffered, pages * 9 / 10) << "written through the page cache";
  // Only the partial last buffer went through it.
  EXPECT_LE(cached_direct, kBuffer / 4096 + 1) << "of " << pages << " pages";
  EXPECT_EQ(w.reported.at("f" + std::to_string(contents[0].size())).sha256,
            sha256_hex(contents[0]));
}

TEST(FileWriter, OpenFailureSurfacesAndStopsLaterFiles) {
  TempDir d;
  FileWriter writer(nullptr);
  // The failure may surface at any call after the open, on the writer
  // thread's schedule (even within the failing file); by drain() at the latest.
  expect_error(
      [&] {
        writer.begin_file(d.str() + "/missing/a", "missing/a", 3);
        writer.append(as_bytes(std::string_view("abc")));
        writer.end_file();
        writer.begin_file(d.str() + "/b", "b", 1);
        writer.append(as_bytes(std::string_view("b")));
        writer.end_file();
        writer.drain();
      },
      ErrorKind::io, "could not create file \"" + d.str() + "/missing/a\"");
  expect_error([&] { writer.drain(); }, ErrorKind::io, "missing/a");
  EXPECT_FALSE(fs::exists(d.str() + "/b"));
}

TEST(FileWriter, NeverWritesThroughASymlink) {
  TempDir d;
  TempDir outside;
  fs::create_symlink(outside.str() + "/target", d.str() + "/link");
  FileWriter writer(nullptr);
  // The refusal surfaces at any call after the open, by drain() at the latest.
  EXPECT_THROW(
      {
        writer.begin_file(d.str() + "/link", "link", 1);
        writer.append(as_bytes(std::string_view("x")));
        writer.end_file();
        writer.drain();
      },
      Error);
  EXPECT_FALSE(fs::exists(outside.str() + "/target"));
}

TEST(FileWriter, CallbackErrorStopsLaterFiles) {
  TempDir d;
  FileWriter writer([](const ExtractedFile& f) {
    if (f.path == "a") throw Error(ErrorKind::corrupt, "checksum mismatch for a");
  });
  // The callback's error surfaces at any later call, by drain() at the latest.
  expect_error(
      [&] {
        for (const char* name : {"a", "b", "c"}) {
          writer.begin_file(d.str() + "/" + name, name, 1);
          writer.append(as_bytes(std::string_view("1")));
          writer.end_file();
        }
        writer.drain();
      },
      ErrorKind::corrupt, "checksum mismatch for a");
  EXPECT_FALSE(fs::exists(d.str() + "/b"));
  EXPECT_FALSE(fs::exists(d.str() + "/c"));
}

TEST(FileWriter, DestroyedWithWorkQueuedDoesNotHang) {
  TempDir d;
  // Large enough to be written direct: queued direct writes are dropped too.
  const std::string big = random_bytes(FileWriter::kDirectMinBytes + 4 * kBuffer, 9);
  const std::string big_sha = sha256_hex(big);
  std::mutex m;
  std::vector<ExtractedFile> reported;
  // Destroyed on another thread: a hang fails the test (after a minute, far
  // beyond any load) instead of stalling the run.
  auto destroyed = std::async(std::launch::async, [&] {
    FileWriterOptions o;
    o.buffer_size = kBuffer;
    o.buffers = 2;
    FileWriter writer(
        [&](const ExtractedFile& f) {
          std::lock_guard<std::mutex> lock(m);
          reported.push_back(f);
        },
        o);
    for (int i = 0; i < 8; ++i) {
      const std::string rel = "f" + std::to_string(i);
      writer.begin_file(d.str() + "/" + rel, rel, big.size());
      writer.append(as_bytes(big));
      writer.end_file();
    }
  });  // no drain: the destructor stops both threads
  ASSERT_EQ(destroyed.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  destroyed.get();
  // Whatever was reported before the stop is complete on disk; the rest was
  // dropped, never reported half-written.
  std::lock_guard<std::mutex> lock(m);
  EXPECT_LE(reported.size(), 8u);
  for (const auto& f : reported) {
    EXPECT_EQ(f.size, big.size()) << f.path;
    EXPECT_EQ(f.sha256, big_sha) << f.path;
    EXPECT_EQ(slurp(d.str() + "/" + f.path), big) << f.path;
  }
}
