#include "pgvault/error.hpp"
#include "pgvault/physical/read_pacer.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

using namespace pgvault;
using namespace pgvault::test;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t kMiB = 1024 * 1024;
}

TEST(ReadPacer, BeforeAnyReportAssumesAHighRatio) {
  // The first report comes after a second: until then, 1 MiB received is
  // taken for 8 MiB read, so the server cannot race ahead of the limit.
  ReadPacer p(16 * kMiB);  // 16 MiB/s
  EXPECT_EQ(p.estimated_source(kMiB), ReadPacer::kFirstRatio * kMiB);
  EXPECT_EQ(p.delay(kMiB, 0s), std::chrono::nanoseconds(500ms));
  EXPECT_EQ(p.delay(kMiB, 500ms), ReadPacer::Duration::zero());
  EXPECT_EQ(p.delay(kMiB, 2s), ReadPacer::Duration::zero());  // behind: no catching up
}

TEST(ReadPacer, ScalesReceivedBytesByTheReportedCompressionRatio) {
  ReadPacer p(100 * kMiB);
  // The server has read 800 MiB while 100 MiB of compressed stream arrived: 8x.
  p.on_progress(800 * kMiB, 100 * kMiB);
  EXPECT_EQ(p.estimated_source(100 * kMiB), 800 * kMiB);
  EXPECT_EQ(p.estimated_source(110 * kMiB), 880 * kMiB);
  // 880 MiB at 100 MiB/s is due at 8.8 s.
  const auto d = p.delay(110 * kMiB, 3s);
  EXPECT_NEAR(std::chrono::duration<double>(d).count(), 5.8, 1e-6);
  EXPECT_EQ(p.delay(110 * kMiB, 9s), ReadPacer::Duration::zero());
}

TEST(ReadPacer, UncompressedStreamsAreOneToOne) {
  ReadPacer p(kMiB);
  p.on_progress(4 * kMiB, 4 * kMiB + 512);  // tar headers make the stream a little larger
  EXPECT_EQ(p.estimated_source(5 * kMiB + 512), 5 * kMiB);
}

TEST(ReadPacer, FollowsTheLatestReport) {
  ReadPacer p(kMiB);
  p.on_progress(8 * kMiB, kMiB);
  p.on_progress(10 * kMiB, 3 * kMiB);  // the ratio fell from 8x to 3.3x
  EXPECT_EQ(p.estimated_source(3 * kMiB), 10 * kMiB);
  EXPECT_EQ(p.estimated_source(6 * kMiB), 20 * kMiB);
}

TEST(ReadPacer, RefusesAZeroRate) {
  expect_error([] { ReadPacer p(0); }, ErrorKind::invalid_argument, "positive");
}
