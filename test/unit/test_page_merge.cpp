#include "pgvault/error.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/restore/page_merge.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

using namespace pgvault;

namespace {

std::vector<std::byte> page_of(char c) {
  return std::vector<std::byte>(kPageSize, static_cast<std::byte>(c));
}

// Does not compress: kept as it is, 8 kB of the budget.
std::vector<std::byte> random_page(unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> p(kPageSize);
  for (auto& b : p) b = static_cast<std::byte>(rng());
  return p;
}

// A base copy's run of `count` blocks, every page filled with 'f'.
std::vector<std::byte> run_of(std::uint32_t count) {
  return std::vector<std::byte>(std::size_t{count} * kPageSize, std::byte{'f'});
}

char page_at(const std::vector<std::byte>& run, std::uint32_t index) {
  return static_cast<char>(run[std::size_t{index} * kPageSize + 100]);
}

using Parts = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

Parts claim(PageMerge::File& f, std::uint32_t first, std::vector<std::byte>& run) {
  Parts parts;
  f.claim(first, run, [&](std::uint32_t p, std::uint32_t n) { parts.emplace_back(p, n); });
  return parts;
}

constexpr auto kShortWait = std::chrono::milliseconds(100);
constexpr auto kLongWait = std::chrono::seconds(20);

}  // namespace

// Kept pages go into the base copy's run that covers them, the run is queued
// whole; a page offered after its run was claimed is its owner's to write;
// the pages kept beyond the base copy come back from rest(), after which
// every offer is the owner's.
TEST(PageMerge, KeptPagesAreWrittenInTheBaseCopysRun) {
  PageMerge merge(1 << 20);
  PageMerge::File& f = merge.add();
  EXPECT_TRUE(f.offer(2, page_of('x'), false));
  EXPECT_TRUE(f.offer(5, random_page(1), true));
  EXPECT_TRUE(f.offer(9, page_of('z'), false));
  EXPECT_GT(merge.counts().kept_bytes, 0u);

  std::vector<std::byte> run = run_of(8);
  EXPECT_EQ(claim(f, 0, run), (Parts{{0, 8}}));
  EXPECT_EQ(page_at(run, 1), 'f');
  EXPECT_EQ(page_at(run, 2), 'x');
  const std::vector<std::byte> five = random_page(1);
  EXPECT_EQ(std::memcmp(run.data() + 5 * kPageSize, five.data(), kPageSize), 0);

  EXPECT_FALSE(f.offer(3, page_of('l'), true)) << "its run is queued: the owner writes it after";
  const auto rest = f.rest();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].first, 9u);
  EXPECT_EQ(rest[0].second, page_of('z'));
  EXPECT_FALSE(f.offer(12, page_of('m'), true));
  EXPECT_EQ(merge.counts().kept_bytes, 0u);
  EXPECT_GT(merge.counts().peak_bytes, kPageSize);
  EXPECT_EQ(merge.counts().merged_pages, 3u);
  EXPECT_EQ(merge.counts().written_by_owners, 2u);
}

// Over the budget, an offer that may not wait (the newest backup's) is left
// out: the base copy's runs go around it, in parts.
TEST(PageMerge, AnOfferOverTheBudgetThatMayNotWaitIsLeftOut) {
  PageMerge merge(1);
  PageMerge::File& f = merge.add();
  EXPECT_FALSE(f.offer(3, page_of('n'), false));
  EXPECT_FALSE(f.offer(7, page_of('n'), false));
  EXPECT_FALSE(f.offer(8, page_of('n'), false));
  std::vector<std::byte> run = run_of(8);
  EXPECT_EQ(claim(f, 0, run), (Parts{{0, 3}, {4, 3}}));
  run = run_of(4);
  EXPECT_EQ(claim(f, 8, run), (Parts{{9, 3}}));
  run = run_of(2);
  EXPECT_EQ(claim(f, 12, run), (Parts{{12, 2}}));
  EXPECT_EQ(merge.counts().written_by_owners, 3u);
}

// An offer that may wait, over the budget, waits until the base copy's runs
// pass its block (then its owner writes it) or until a run frees room (then
// it is kept).
TEST(PageMerge, AWaitingOfferGoesOnWhenARunPassesItOrFreesRoom) {
  {
    PageMerge merge(1);
    PageMerge::File& f = merge.add();
    auto offer = std::async(std::launch::async, [&] { return f.offer(3, page_of('w'), true); });
    EXPECT_EQ(offer.wait_for(kShortWait), std::future_status::timeout);
    std::vector<std::byte> run = run_of(2);
    claim(f, 0, run);  // blocks 0 and 1: not yet
    EXPECT_EQ(offer.wait_for(kShortWait), std::future_status::timeout);
    run = run_of(4);
    claim(f, 2, run);  // blocks 2 to 5
    ASSERT_EQ(offer.wait_for(kLongWait), std::future_status::ready);
    EXPECT_FALSE(offer.get());
  }
  {
    const std::vector<std::byte> one = random_page(7), two = random_page(8);
    PageMerge merge(kPageSize + 200);  // one page that does not compress
    PageMerge::File& f = merge.add();
    EXPECT_TRUE(f.offer(1, one, false));
    auto offer = std::async(std::launch::async, [&] { return f.offer(6, two, true); });
    EXPECT_EQ(offer.wait_for(kShortWait), std::future_status::timeout);
    std::vector<std::byte> run = run_of(2);
    claim(f, 0, run);  // takes block 1 out of the budget
    ASSERT_EQ(offer.wait_for(kLongWait), std::future_status::ready);
    EXPECT_TRUE(offer.get());
    run = run_of(8);
    claim(f, 2, run);
    EXPECT_EQ(std::memcmp(run.data() + 4 * kPageSize, two.data(), kPageSize), 0);
  }
}

// When the base copy's thread ends, an offer waiting for its runs is its
// owner's to write; when the restore fails, it stops.
TEST(PageMerge, TheBaseCopysEndOrAFailureWakesAWaitingOffer) {
  PageMerge merge(1);
  PageMerge::File& f = merge.add();
  auto offer = std::async(std::launch::async, [&] { return f.offer(3, page_of('w'), true); });
  EXPECT_EQ(offer.wait_for(kShortWait), std::future_status::timeout);
  merge.base_done();
  ASSERT_EQ(offer.wait_for(kLongWait), std::future_status::ready);
  EXPECT_FALSE(offer.get());

  PageMerge failing(1);
  PageMerge::File& g = failing.add();
  auto stopped = std::async(std::launch::async, [&] { return g.offer(3, page_of('w'), true); });
  EXPECT_EQ(stopped.wait_for(kShortWait), std::future_status::timeout);
  failing.cancel();
  ASSERT_EQ(stopped.wait_for(kLongWait), std::future_status::ready);
  try {
    stopped.get();
    ADD_FAILURE() << "a cancelled merge let an offer through";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::cancelled);
  }
}

// The invariant the restore relies on, with real threads: three owners offer
// their pages (the newest without waiting) while the base copy claims its
// runs; every write, the base copy's parts (queued under the merge's lock,
// as the restore queues them) and the owners' own (after their offer said
// no), goes into one ordered log. Replayed in order, every owned block ends
// with its owner's page and every other block with the base copy's, at any
// budget: all kept, some, or none.
TEST(PageMerge, ConcurrentOwnersAndABaseCopyLeaveEachBlocksOwnerPage) {
  constexpr std::uint32_t kBaseBlocks = 3000, kBlocks = 3040;  // 40 owned blocks past the base
  const auto owner_of = [](std::uint32_t block) -> int {
    if (block >= kBaseBlocks) return block % 2 == 0 ? 0 : 1;
    switch (block % 7) {
      case 0:
        return 0;
      case 3:
        return 1;
      case 5:
        return 2;
      default:
        return -1;  // the base copy's
    }
  };
  const char tag[] = {'N', 'P', 'Q'};
  const auto page = [](std::uint32_t block, char who) {
    std::vector<std::byte> p(kPageSize, static_cast<std::byte>(who));
    std::memcpy(p.data(), &block, sizeof block);
    if (block % 3 == 0) {  // some that do not compress
      p = random_page(block);
      p[100] = static_cast<std::byte>(who);
    }
    return p;
  };
  for (const std::size_t budget : {std::size_t{1}, std::size_t{40} << 10, std::size_t{64} << 20}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    PageMerge merge(budget);
    PageMerge::File& f = merge.add();
    std::mutex log_mutex;
    std::vector<std::pair<std::uint32_t, char>> log;
    const auto logged = [&](std::uint32_t block, char who) {
      std::lock_guard lock(log_mutex);
      log.emplace_back(block, who);
    };
    std::vector<std::thread> owners;
    for (int k = 0; k < 3; ++k)
      owners.emplace_back([&, k] {
        for (std::uint32_t b = 0; b < kBlocks; ++b) {
          if (owner_of(b) != k) continue;
          if (!f.offer(b, page(b, tag[k]), /*may_wait=*/k != 0)) logged(b, tag[k]);
        }
      });
    std::thread base([&] {
      for (std::uint32_t first = 0; first < kBaseBlocks; first += 64) {
        const std::uint32_t count = std::min<std::uint32_t>(64, kBaseBlocks - first);
        std::vector<std::byte> run(std::size_t{count} * kPageSize, std::byte{'B'});
        f.claim(first, run, [&](std::uint32_t part, std::uint32_t n) {
          for (std::uint32_t b = part; b < part + n; ++b)
            logged(b, static_cast<char>(run[std::size_t{b - first} * kPageSize + 100]));
        });
      }
      for (const auto& [b, p] : f.rest()) logged(b, static_cast<char>(p[100]));
      merge.base_done();
    });
    base.join();
    for (std::thread& t : owners) t.join();

    std::vector<char> final_page(kBlocks, '\0');
    for (const auto& [b, who] : log) final_page[b] = who;
    for (std::uint32_t b = 0; b < kBlocks; ++b) {
      const int owner = owner_of(b);
      ASSERT_EQ(final_page[b], owner < 0 ? 'B' : tag[owner]) << "block " << b;
    }
    EXPECT_EQ(merge.counts().kept_bytes, 0u);
    if (budget == 1) {
      EXPECT_EQ(merge.counts().merged_pages, 0u);
    }
  }
}
