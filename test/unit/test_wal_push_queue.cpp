// Parallel WAL archiving (include/pgvault/wal/wal_push_queue.hpp): files
// pushed ahead once and answered from the record, at most `parallel` pushes
// at once, a bounded number of files ahead, a failed push ahead retried and
// reported when the file is asked for, the archiver's order, settings
// changes, and a stop that does not wait forever.
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_page_header.hpp"
#include "pgvault/wal/wal_push_queue.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"
#include "wal_test_segment.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;

namespace {

using wal_test::kSegSize;
using wal_test::segment_bytes;

constexpr std::uint64_t kSysid = wal_test::kSegmentSysid;

std::string segment_name(int n) {
  char buf[25];
  snprintf(buf, sizeof buf, "00000001000000000000%04X", n);
  return buf;
}

std::vector<std::string> segment_names(int from, int to) {
  std::vector<std::string> names;
  for (int n = from; n <= to; ++n) names.push_back(segment_name(n));
  return names;
}

// Waits (bounded) for a condition another thread makes true.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A pusher that counts its calls per file and may fail on given attempts.
class CountingPusher {
 public:
  WalFilePusher pusher() {
    return [this](const std::string& name) {
      int attempt;
      {
        std::lock_guard<std::mutex> lock(mu_);
        attempt = ++calls_[name];
      }
      auto f = failures_.find(name);
      if (f != failures_.end() && attempt <= f->second)
        throw Error(ErrorKind::storage, "boom " + std::to_string(attempt) + " for " + name);
      WalPushResult r;
      r.key = "key/" + name;
      return r;
    };
  }
  int calls(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.contains(name) ? calls_[name] : 0;
  }
  int total() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [name, c] : calls_) n += c;
    return n;
  }
  void fail_first(const std::string& name, int attempts) { failures_[name] = attempts; }

 private:
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::map<std::string, int> failures_;  // set before any call
};

// Asks for files in order, as the archiver does, each time with the files
// still waiting after it.
WalPushBatch batch_for(const std::vector<std::string>& names, std::size_t i, WalFilePusher pusher,
                       const std::string& settings_id = "s") {
  WalPushBatch b;
  b.file = names[i];
  b.ready.assign(names.begin() + static_cast<std::ptrdiff_t>(i) + 1, names.end());
  b.pusher = std::move(pusher);
  b.settings_id = settings_id;
  return b;
}

}  // namespace

TEST(WalPushQueue, SortsAsPostgresArchiverDoes) {
  std::vector<std::string> names = {
      "000000020000000000000003", "00000002.history", "000000010000000000000002.00000028.backup",
      "000000010000000000000002", "00000003.history", "000000010000000000000001.partial"};
  sort_in_archive_order(names);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "00000002.history", "00000003.history", "000000010000000000000001.partial",
                       "000000010000000000000002", "000000010000000000000002.00000028.backup",
                       "000000020000000000000003"}));
}

TEST(WalPushQueue, EveryFileGoesIntoTheStoreOnceAndLaterCallsAreAnsweredFromTheRecord) {
  TempDir dir;
  const auto names = segment_names(1, 12);
  for (const auto& n : names) std::ofstream(dir.path() / n, std::ios::binary) << segment_bytes(n);
  std::unique_ptr<Storage> store = make_memory_storage();  // the double is thread-safe
  std::mutex mu;
  std::map<std::string, int> pushes;
  WalFilePusher pusher = [&](const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++pushes[name];
    }
    WalPushRequest r;
    r.system_identifier = std::to_string(kSysid);
    r.wal_segment_size = kSegSize;
    r.file_name = name;
    r.local_path = (dir.path() / name).string();
    return push_wal_file(*store, r);
  };
  WalPushQueue queue(4);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const WalPushResult r = queue.archive(batch_for(names, i, pusher));
    EXPECT_EQ(r.outcome, WalPushOutcome::stored) << names[i];
    EXPECT_TRUE(r.key.find(names[i] + "-") != std::string::npos) << r.key;
    // Durable when answered: the object is in the store.
    EXPECT_EQ(store->read_all(r.key), segment_bytes(names[i])) << names[i];
  }
  EXPECT_EQ(queue.held_ahead(), 0u);
  for (const auto& n : names) EXPECT_EQ(pushes[n], 1) << n << " pushed more than once";
  EXPECT_EQ(store->list(std::to_string(kSysid) + "/wal/").size(), names.size());
}

TEST(WalPushQueue, NeverMorePushesAtOnceThanTheLimit) {
  constexpr int kParallel = 3;
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0, most = 0, calls = 0;
  // Each push waits (bounded) until the limit is reached, so if the queue
  // ever ran more, `most` would show it.
  WalFilePusher pusher = [&](const std::string& name) {
    std::unique_lock<std::mutex> lock(mu);
    ++calls;
    most = std::max(most, ++in_flight);
    cv.notify_all();
    cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return in_flight >= kParallel; });
    --in_flight;
    WalPushResult r;
    r.key = name;
    return r;
  };
  const auto names = segment_names(1, 30);
  WalPushQueue queue(kParallel);
  for (std::size_t i = 0; i < names.size(); ++i) queue.archive(batch_for(names, i, pusher));
  EXPECT_EQ(most, kParallel);
  EXPECT_EQ(calls, static_cast<int>(names.size()));
}

TEST(WalPushQueue, HoldsABoundedNumberOfFilesAhead) {
  CountingPusher counting;
  const auto names = segment_names(1, 20);
  WalPushQueue queue(2);
  ASSERT_EQ(queue.max_ahead(), 4u);
  queue.archive(batch_for(names, 0, counting.pusher()));
  EXPECT_EQ(queue.held_ahead(), 4u);
  ASSERT_TRUE(eventually([&] { return counting.total() == 5; }));
  queue.archive(batch_for(names, 1, counting.pusher()));  // from the record
  EXPECT_EQ(counting.calls(names[1]), 1);
  EXPECT_EQ(queue.held_ahead(), 4u);  // names[2..5]
  ASSERT_TRUE(eventually([&] { return counting.total() == 6; }));
  for (std::size_t i = 6; i < names.size(); ++i) EXPECT_EQ(counting.calls(names[i]), 0) << i;
}

TEST(WalPushQueue, AFailedPushAheadIsPushedAgainWhenAskedForAndThatFailureIsReported) {
  CountingPusher counting;
  const std::string a = segment_name(1), b = segment_name(2), c = segment_name(3),
                    d = segment_name(4), e = segment_name(5);
  counting.fail_first(b, 2);  // ahead, and the first time it is asked for
  WalPushQueue queue(2);      // one thread: pushes ahead in order
  WalPushBatch first{a, {b, c}, counting.pusher(), "s"};
  queue.archive(first);
  ASSERT_TRUE(eventually([&] { return counting.calls(c) == 1; }));
  EXPECT_EQ(counting.calls(b), 1);
  // Another call (a repeated file, say) with b still waiting: b is not
  // pushed ahead again, only the new file is.
  WalPushBatch again{d, {b, c, e}, counting.pusher(), "s"};
  queue.archive(again);
  ASSERT_TRUE(eventually([&] { return counting.calls(e) == 1; }));
  EXPECT_EQ(counting.calls(b), 1);
  // Asked for b: pushed again on this thread, and its failure is reported.
  WalPushBatch ask_b{b, {c, e}, counting.pusher(), "s"};
  try {
    queue.archive(ask_b);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("boom 2"), std::string::npos) << err.what();
  }
  EXPECT_EQ(counting.calls(b), 2);
  // PostgreSQL retries b: a third push, which works.
  EXPECT_EQ(queue.archive(ask_b).key, "key/" + b);
  EXPECT_EQ(counting.calls(b), 3);
  // c and e come from their records.
  EXPECT_EQ(queue.archive(WalPushBatch{c, {e}, counting.pusher(), "s"}).key, "key/" + c);
  EXPECT_EQ(queue.archive(WalPushBatch{e, {}, counting.pusher(), "s"}).key, "key/" + e);
  EXPECT_EQ(counting.calls(c), 1);
  EXPECT_EQ(counting.calls(e), 1);
}

TEST(WalPushQueue, AnotherSettingsIdDiscardsWhatWasPushedUnderThePreviousOne) {
  CountingPusher before, after;
  const auto names = segment_names(1, 3);
  WalPushQueue queue(2);
  queue.archive(batch_for(names, 0, before.pusher(), "repo-1"));
  ASSERT_TRUE(eventually([&] { return before.calls(names[2]) == 1; }));
  queue.archive(batch_for(names, 1, after.pusher(), "repo-2"));
  EXPECT_EQ(after.calls(names[1]), 1);  // pushed again, into the new place
  queue.archive(batch_for(names, 2, after.pusher(), "repo-2"));
  EXPECT_EQ(after.calls(names[2]), 1);
}

TEST(WalPushQueue, OneAtATimeStartsNoThreadAndPushesNothingAhead) {
  CountingPusher counting;
  const auto names = segment_names(1, 5);
  WalPushQueue queue(1);
  for (std::size_t i = 0; i < names.size(); ++i) {
    queue.archive(batch_for(names, i, counting.pusher()));
    EXPECT_EQ(counting.total(), static_cast<int>(i) + 1);
    EXPECT_EQ(queue.held_ahead(), 0u);
  }
  EXPECT_THROW(WalPushQueue(0), Error);
}

TEST(WalPushQueue, StopDoesNotWaitForeverForAPushThatHangs) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto started = std::make_shared<std::atomic<bool>>(false);
  WalFilePusher pusher = [release, started](const std::string& name) {
    if (name == segment_name(2)) {
      started->store(true);
      while (!release->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    WalPushResult r;
    r.key = name;
    return r;
  };
  const auto names = segment_names(1, 3);
  {
    WalPushQueue queue(2);
    queue.archive(batch_for(names, 0, pusher));
    ASSERT_TRUE(eventually([&] { return started->load(); }));
    EXPECT_FALSE(queue.stop(std::chrono::milliseconds(20)));
    // Stopped: the asked-for file is still pushed, nothing ahead.
    EXPECT_EQ(queue.archive(batch_for(names, 2, pusher)).key, names[2]);
  }
  release->store(true);  // the detached thread ends on its own
  WalPushQueue idle(3);
  EXPECT_TRUE(idle.stop(std::chrono::milliseconds(0)));
}
