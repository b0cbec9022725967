#include "pgvault/error.hpp"
#include "pgvault/restore/page_write_queue.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;

namespace {

constexpr std::size_t kBuf = 4 * 8192;

std::shared_ptr<QueuedFile> open_file(const std::string& path, int flags = O_WRONLY | O_CREAT) {
  return std::make_shared<QueuedFile>(path, flags);
}

PageAlignedBytes filled(PageWriteQueue& q, char c, std::size_t bytes) {
  PageAlignedBytes b = q.take_buffer();
  EXPECT_EQ(b.size(), q.buffer_bytes());
  std::memset(b.data(), c, bytes);
  return b;
}

}  // namespace

// Writes, a truncation and a close land in queue order, whatever their
// offsets: the later write of an offset wins, the size cuts what lies beyond.
TEST(PageWriteQueue, OperationsLandInQueueOrder) {
  TempDir dir;
  const std::string path = dir.str() + "/rel";
  PageWriteQueue q(2, kBuf);
  auto f = open_file(path);
  q.write(f, 0, filled(q, 'a', kBuf), kBuf);
  q.write(f, 2 * kBuf, filled(q, 'c', kBuf), kBuf);  // a hole between
  q.write(f, 8192, filled(q, 'b', 8192), 8192);      // over part of the first run
  q.set_size(f, 2 * kBuf + 100);
  q.close(f);
  f.reset();
  q.drain();
  std::string want(kBuf, 'a');
  std::memset(want.data() + 8192, 'b', 8192);
  want += std::string(kBuf, '\0') + std::string(100, 'c');
  EXPECT_EQ(slurp(path), want);
}

// Runs long enough to start their write-back, short pages between them and a
// close that starts the rest: the write-back is a hint, the bytes are the
// queued ones in queue order.
TEST(PageWriteQueue, RunsWithWriteBackLandAsQueued) {
  TempDir dir;
  const std::string path = dir.str() + "/rel";
  constexpr std::size_t kRun = 160 * 1024;  // two of them pass the 256 kB mark
  PageWriteQueue q(3, kRun);
  auto f = open_file(path);
  q.write(f, 8192, filled(q, 'r', kRun), kRun);
  q.write(f, 0, filled(q, 'p', 8192), 8192);
  q.write(f, 8192 + kRun, filled(q, 's', kRun), kRun);
  q.write(f, 8192 + 2 * kRun, filled(q, 't', 8192), 8192);
  q.close(f);
  f.reset();
  q.drain();
  EXPECT_EQ(slurp(path), std::string(8192, 'p') + std::string(kRun, 'r') + std::string(kRun, 's') +
                             std::string(8192, 't'));
}

// Only `buffers` buffers exist: a third take waits until the writer hands
// one back, so memory stays bounded however far the decoder runs ahead.
TEST(PageWriteQueue, BuffersAreBounded) {
  TempDir dir;
  PageWriteQueue q(2, kBuf);
  PageAlignedBytes one = q.take_buffer();
  PageAlignedBytes two = q.take_buffer();
  auto third = std::async(std::launch::async, [&] { return q.take_buffer(); });
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  auto f = open_file(dir.str() + "/rel");
  q.write(f, 0, std::move(one), 8192);
  EXPECT_EQ(third.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(third.get().size(), kBuf);
  q.close(f);
  q.drain();
}

// The writer's first failure is thrown by drain() and by every later call,
// naming the file; what was queued after it is not written.
TEST(PageWriteQueue, FailureIsReportedAndStopsTheWrites) {
  TempDir dir;
  const std::string bad_path = dir.str() + "/read-only";
  ::close(
      ::open(bad_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));  // exists, read-only below
  const std::string good_path = dir.str() + "/after";
  PageWriteQueue q(2, kBuf);
  auto bad = open_file(bad_path, O_RDONLY);
  auto good = open_file(good_path);
  q.write(bad, 0, filled(q, 'x', 8192), 8192);
  try {
    q.drain();
    ADD_FAILURE() << "a write into a read-only descriptor was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not write 8192 bytes at offset 0 of \"" + bad_path),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(q.take_buffer(), Error);
  EXPECT_THROW(q.set_size(good, 8192), Error);
  EXPECT_THROW(q.close(good), Error);
  good.reset();
  EXPECT_EQ(slurp(good_path), "");
}

// The queue's thread opens a file at its first operation: a file that cannot
// be opened is the queue's failure, named, and nothing queued after it is
// written; a file only closed is never created.
TEST(PageWriteQueue, OpenFailureIsTheQueuesFailure) {
  TempDir dir;
  const std::string missing = dir.str() + "/no-such-directory/rel";
  const std::string after = dir.str() + "/after";
  const std::string never = dir.str() + "/never";
  PageWriteQueue q(2, kBuf);
  auto untouched = open_file(never);
  q.close(untouched);
  q.drain();
  EXPECT_FALSE(std::filesystem::exists(never));
  auto bad = open_file(missing);
  auto good = open_file(after);
  q.set_size(bad, 8192);
  // The failure comes back from the next call after it, or from drain().
  try {
    q.write(good, 0, filled(q, 'g', 8192), 8192);
    q.drain();
    ADD_FAILURE() << "an open that failed was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not open \"" + missing + "\""), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(after));
}

// A queue destroyed with work queued (a failed restore) stops its thread
// and closes the descriptors it still held.
TEST(PageWriteQueue, DestroyedWithWorkQueued) {
  TempDir dir;
  std::weak_ptr<QueuedFile> watch;
  {
    PageWriteQueue q(4, kBuf);
    auto f = open_file(dir.str() + "/rel");
    watch = f;
    for (int i = 0; i < 4; ++i) q.write(f, std::uint64_t(i) * kBuf, filled(q, 'z', kBuf), kBuf);
  }
  EXPECT_TRUE(watch.expired());
}

// With direct writes, a file's page-aligned runs go around the page cache
// and land whole, a short one (below kDirectMinBytes) through the cache; its
// first write that is not aligned (and everything after it) goes through the
// cache; the bytes are the queued ones in queue order
// either way. Fails (every page cached) when the file is opened without
// O_DIRECT. Skipped where the file system keeps no such distinction (tmpfs).
TEST(PageWriteQueue, AlignedRunsAreWrittenAroundThePageCache) {
  TempDir dir;
  if (!writes_around_the_cache(dir.str())) GTEST_SKIP() << "no O_DIRECT here";
  constexpr std::size_t kRun = 256 * 1024;
  const std::string direct_path = dir.str() + "/direct", mixed_path = dir.str() + "/mixed";
  PageWriteQueue q(3, kRun);
  auto direct = open_file(direct_path);
  for (int i = 0; i < 16; ++i)
    q.write(direct, std::uint64_t(i) * kRun, filled(q, 'a' + i, kRun), kRun);
  q.write(direct, 8192, filled(q, 'Z', 8192), 8192);  // over part of the first run, in order
  q.set_size(direct, 16 * kRun - 8192);
  q.close(direct);
  direct.reset();
  auto mixed = open_file(mixed_path);
  q.write(mixed, 0, filled(q, 'm', kRun), kRun);
  q.write(mixed, kRun, filled(q, 'n', 100), 100);  // not aligned: through the cache from here
  q.write(mixed, kRun + 4096, filled(q, 'o', 8192), 8192);
  q.close(mixed);
  mixed.reset();
  q.drain();

  std::string want;
  for (int i = 0; i < 16; ++i) want += std::string(kRun, static_cast<char>('a' + i));
  std::memset(want.data() + 8192, 'Z', 8192);
  want.resize(16 * kRun - 8192);
  const auto [cached, pages] = cached_pages(direct_path);  // before reading it
  EXPECT_EQ(cached, 8192 / 4096) << "of " << pages << " pages: only the short write's";
  EXPECT_EQ(slurp(direct_path), want);
  EXPECT_EQ(slurp(mixed_path), std::string(kRun, 'm') + std::string(100, 'n') +
                                   std::string(4096 - 100, '\0') + std::string(8192, 'o'));

  // Without direct writes the same runs stay in the cache: the check above
  // can tell.
  PageWriteQueue buffered(3, kRun, 64, false);
  const std::string cached_path = dir.str() + "/cached";
  auto f = open_file(cached_path);
  for (int i = 0; i < 4; ++i)
    buffered.write(f, std::uint64_t(i) * kRun, filled(buffered, 'c', kRun), kRun);
  buffered.close(f);
  f.reset();
  buffered.drain();
  EXPECT_EQ(cached_pages(cached_path).first, cached_pages(cached_path).second);
}

// Overlapping runs in any order, on two files, with truncations between:
// whatever the direct writers do at once, each file ends as the queue order
// says (a model applies the same operations in order): every run direct,
// runs of 64 kB or more direct and shorter ones through the cache, or all
// through the cache. Run under ThreadSanitizer too.
TEST(PageWriteQueue, DirectWritesKeepQueueOrderForOverlappingRuns) {
  TempDir dir;
  constexpr std::size_t kPage = 8192, kPages = 24;
  std::mt19937 rng(2026);
  struct Mode {
    bool direct;
    std::size_t direct_min_bytes;
  };
  for (const Mode mode : {Mode{true, 0}, Mode{true, 8 * kPage}, Mode{false, 0}}) {
    const bool direct = mode.direct;
    SCOPED_TRACE("direct " + std::to_string(direct) + ", from " +
                 std::to_string(mode.direct_min_bytes) + " bytes");
    PageWriteQueue q(8, 16 * kPage, 64, direct, mode.direct_min_bytes);
    std::vector<std::string> model(2);
    std::vector<std::shared_ptr<QueuedFile>> files;
    std::vector<std::string> paths;
    for (int i = 0; i < 2; ++i) {
      paths.push_back(dir.str() + "/f" + std::to_string(i) + (direct ? "d" : "b") +
                      std::to_string(mode.direct_min_bytes));
      files.push_back(open_file(paths.back()));
    }
    for (int n = 0; n < 1500; ++n) {
      const std::size_t which = rng() % 2;
      std::string& m = model[which];
      if (rng() % 25 == 0) {
        const std::size_t size = (rng() % kPages) * kPage;
        q.set_size(files[which], size);
        m.resize(size, '\0');
        continue;
      }
      const std::size_t first = rng() % kPages, pages = 1 + rng() % 16;
      const char c = static_cast<char>('A' + rng() % 26);
      q.write(files[which], first * kPage, filled(q, c, pages * kPage), pages * kPage);
      if (m.size() < (first + pages) * kPage) m.resize((first + pages) * kPage, '\0');
      std::memset(m.data() + first * kPage, c, pages * kPage);
    }
    for (int i = 0; i < 2; ++i) q.close(files[i]);
    files.clear();
    q.drain();
    for (int i = 0; i < 2; ++i) EXPECT_EQ(slurp(paths[i]), model[i]) << paths[i];
  }
}
