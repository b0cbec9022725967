// The progress of restore, verify and get (pgvault/progress_meter.hpp): the
// text, the rate and estimate, when a live or periodic line is shown, on a
// clock the test moves.
#include "pgvault/progress_meter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  ProgressMeter::Clock clock() {
    return [this] { return now; };
  }
};

struct Screen {
  std::string text;
  ProgressMeter::Write write() {
    return [this](std::string_view s) { text += s; };
  }
};

constexpr std::uint64_t MB = 1024 * 1024;

}  // namespace

TEST(ProgressText, FiguresAsPeopleReadThem) {
  ProgressFigures f;
  f.done = 4 * MB;
  f.total = 30 * MB;
  f.elapsed_seconds = 2.5;
  f.bytes_per_second = 2 * MB;
  f.remaining_seconds = 13.0;
  EXPECT_EQ(progress_text(f), "4096 kB of 30 MB (13%), 2048 kB/s, elapsed 0:02, ETA 0:13");
  f.remaining_seconds.reset();
  f.bytes_per_second = 0;
  EXPECT_EQ(progress_text(f), "4096 kB of 30 MB (13%), 0 bytes/s, elapsed 0:02");
}

TEST(ProgressText, Durations) {
  EXPECT_EQ(clock_duration(0), "0:00");
  EXPECT_EQ(clock_duration(59.9), "0:59");
  EXPECT_EQ(clock_duration(754), "12:34");
  EXPECT_EQ(clock_duration(3723), "1:02:03");
  EXPECT_EQ(summary_duration(0.42), "0.4 s");
  EXPECT_EQ(summary_duration(12.34), "12.3 s");
  EXPECT_EQ(summary_duration(3723), "1:02:03");
  EXPECT_EQ(summary_duration(0.042, 2), "0.04 s");
  EXPECT_EQ(summary_duration(3723, 2), "1:02:03");
  EXPECT_EQ(byte_rate(10.0 * MB), "10 MB/s");
}

TEST(ProgressMeter, RateAndEstimateFromTheClock) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::none, 100 * MB, s.write(), c.clock());
  c.now += 2s;
  m.update(20 * MB);
  ProgressFigures f = m.figures();
  EXPECT_EQ(f.done, 20 * MB);
  EXPECT_EQ(f.total, 100 * MB);
  EXPECT_DOUBLE_EQ(f.elapsed_seconds, 2.0);
  EXPECT_DOUBLE_EQ(f.bytes_per_second, 10.0 * MB);
  ASSERT_TRUE(f.remaining_seconds.has_value());
  EXPECT_DOUBLE_EQ(*f.remaining_seconds, 8.0);
  EXPECT_EQ(s.text, "") << "ProgressDisplay::none shows nothing";
}

TEST(ProgressMeter, RateFollowsTheLastSecondsNotTheWholeRun) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::none, 1000 * MB, s.write(), c.clock());
  // 30 s at 1 MB/s, then 20 s at 10 MB/s: the rate shown is the recent one.
  for (int i = 1; i <= 30; ++i) {
    c.now += 1s;
    m.update(static_cast<std::uint64_t>(i) * MB);
  }
  for (int i = 1; i <= 20; ++i) {
    c.now += 1s;
    m.update(30 * MB + static_cast<std::uint64_t>(i) * 10 * MB);
  }
  const ProgressFigures f = m.figures();
  EXPECT_NEAR(f.bytes_per_second, 10.0 * MB, 0.01 * MB);
  EXPECT_NEAR(*f.remaining_seconds, (1000.0 - 230.0) / 10.0, 0.1);
  // The summary's rate is the whole run's.
  const ProgressFigures end = m.finish();
  EXPECT_DOUBLE_EQ(end.bytes_per_second, 230.0 * MB / 50.0);
  EXPECT_EQ(ProgressMeter::summary(end), "230 MB read in 50.0 s, 4710 kB/s");
}

TEST(ProgressMeter, NoEstimateBeforeAnyByte) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::none, 10 * MB, s.write(), c.clock());
  c.now += 3s;
  m.update(0);
  EXPECT_FALSE(m.figures().remaining_seconds.has_value());
  EXPECT_DOUBLE_EQ(m.figures().bytes_per_second, 0.0);
}

TEST(ProgressMeter, LiveLineRedrawnInPlaceAtMostFiveTimesASecond) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::live, 10 * MB, s.write(), c.clock());
  m.update(0);
  EXPECT_EQ(s.text, "\r0 bytes of 10 MB (0%), 0 bytes/s, elapsed 0:00");
  s.text.clear();
  // Chunks every 10 ms for one second: 100 updates, 5 redraws.
  int draws = 0;
  for (int i = 1; i <= 100; ++i) {
    c.now += 10ms;
    m.update(static_cast<std::uint64_t>(i) * 50 * 1024);
    draws += s.text.empty() ? 0 : 1;
    if (!s.text.empty()) {
      EXPECT_EQ(s.text.front(), '\r');
      EXPECT_EQ(s.text.find('\n'), std::string::npos) << "a live line never ends a line";
    }
    s.text.clear();
  }
  EXPECT_EQ(draws, 5);
  // A line of the command's own output: the live line is wiped first, then
  // drawn again at the next update.
  m.say([&] { s.text += "restoring 16384.tar...\n"; });
  const std::string blank(
      std::string("5000 kB of 10 MB (48%), 5000 kB/s, elapsed 0:01, ETA 0:02").size(), ' ');
  EXPECT_EQ(s.text, "\r" + blank + "\rrestoring 16384.tar...\n");
  s.text.clear();
  c.now += 1ms;
  m.update(5000 * 1024);
  EXPECT_EQ(s.text.substr(0, 10), "\r5000 kB o");
  // finish() leaves the terminal's line empty.
  s.text.clear();
  m.finish();
  EXPECT_EQ(s.text.front(), '\r');
  EXPECT_EQ(s.text.back(), '\r');
  EXPECT_EQ(s.text.find_first_not_of(" \r"), std::string::npos);
  s.text.clear();
  m.update(6 * MB);
  EXPECT_EQ(s.text, "") << "nothing after finish()";
}

TEST(ProgressMeter, LiveLineCutToTheTerminalAndPaddedOverALongerOne) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::live, 100ULL * 1024 * MB, s.write(), c.clock(), 30);
  m.update(0);
  EXPECT_EQ(s.text, "\r0 bytes of 100 GB (0%), 0 byt");
  EXPECT_EQ(s.text.size(), 1u + 29u);
  s.text.clear();
  ProgressMeter wide(ProgressDisplay::live, 20000, s.write(), c.clock(), 200);
  c.now += 1s;
  wide.update(5000);  // "5000 bytes of 20 kB (25%), 5000 bytes/s, elapsed 0:01, ETA 0:03"
  s.text.clear();
  c.now += 1s;
  wide.update(20000);  // "20 kB of 20 kB (100%), 10000 bytes/s, ...": shorter, the rest blanked
  const std::string line = s.text.substr(1);
  EXPECT_EQ(line.back(), ' ');
  EXPECT_EQ(line.substr(0, 22), "20 kB of 20 kB (100%),");
}

TEST(ProgressMeter, PeriodicLinesEveryFiveSecondsAndNoneForAShortRead) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::periodic, 100 * MB, s.write(), c.clock());
  for (int i = 1; i <= 49; ++i) {  // 4.9 s
    c.now += 100ms;
    m.update(static_cast<std::uint64_t>(i) * MB);
  }
  EXPECT_EQ(s.text, "") << "no line before the first interval";
  c.now += 100ms;
  m.update(50 * MB);
  EXPECT_EQ(s.text, "progress: 50 MB of 100 MB (50%), 10 MB/s, elapsed 0:05, ETA 0:05\n");
  s.text.clear();
  c.now += 4s;
  m.tick();
  EXPECT_EQ(s.text, "");
  c.now += 1s;
  m.tick();  // no bytes for 5 s: the line says so
  EXPECT_EQ(s.text.substr(0, 33), "progress: 50 MB of 100 MB (50%), ");
  EXPECT_EQ(s.text.find('\r'), std::string::npos);
  s.text.clear();
  m.say([&] { s.text += "a line\n"; });
  EXPECT_EQ(s.text, "a line\n") << "nothing to wipe in a log";
}

TEST(ProgressMeter, TotalShrinksForObjectsNotRead) {
  FakeClock c;
  Screen s;
  ProgressMeter m(ProgressDisplay::none, 10 * MB, s.write(), c.clock());
  m.reduce_total(4 * MB);
  c.now += 1s;
  m.update(6 * MB);
  EXPECT_EQ(m.figures().total, 6 * MB);
  EXPECT_DOUBLE_EQ(*m.figures().remaining_seconds, 0.0);
  m.reduce_total(100 * MB);  // never below what was read
  EXPECT_EQ(m.figures().total, 6 * MB);
}

TEST(ProgressMeter, UpdatesFromSeveralThreads) {
  Screen s;
  std::mutex screen;
  ProgressMeter m(
      ProgressDisplay::live, 4000,
      [&](std::string_view t) {
        std::lock_guard lock(screen);
        s.text += t;
      },
      std::chrono::steady_clock::now);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < 1000; ++i) {
        m.update(i * 4 + static_cast<std::uint64_t>(t));
        if (i % 100 == 0) m.say([] {});
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(m.figures().done, 3999u);
}
