// Progress of a long read (restore, verify, `pgvault get`) for people: the
// bytes done of a known total, percent, rate, elapsed time and an estimate of
// the time left, shown as a live line on a terminal or as plain periodic
// lines in a log, and a one-line summary at the end.
//
// The meter only counts and formats; where the text goes (and whether the
// output is a terminal) is the caller's. Thread-safe: update() and say() may
// come from any thread (the restore reads on its caller's thread and decodes
// on a second one, whose messages pass through say()). The clock is injected
// so that tests drive time.
#pragma once
#include "pgvault/pg_free.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault {

enum class ProgressDisplay {
  none,      // nothing while it runs (--quiet, --no-progress); the summary stays
  live,      // a terminal: one line redrawn in place with \r, at most kLiveInterval apart
  periodic,  // a log: a plain line every kPeriodicInterval
};

// The figures of one moment.
struct ProgressFigures {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  double elapsed_seconds = 0;
  double bytes_per_second = 0;              // over the last kRateWindow (or since the start)
  std::optional<double> remaining_seconds;  // none until a rate is known
};

// "4096 kB of 30 MB (13%), 2048 kB/s, elapsed 0:02, ETA 0:13" (sizes as
// human_size, i.e. pg_size_pretty).
std::string progress_text(const ProgressFigures& f);
// "0:05", "12:34", "1:02:03".
std::string clock_duration(double seconds);
// "0.4 s", "12.3 s" below a minute (decimals: 1; "0.04 s" with 2), then
// clock_duration.
std::string summary_duration(double seconds, int decimals = 1);
// "2048 kB/s"
std::string byte_rate(double bytes_per_second);

class ProgressMeter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // Receives display text as it is to be written: with \r and no newline for
  // the live line, whole lines ending in \n otherwise.
  using Write = std::function<void(std::string_view)>;

  static constexpr std::chrono::milliseconds kLiveInterval{200};
  static constexpr std::chrono::seconds kPeriodicInterval{5};
  static constexpr std::chrono::seconds kRateWindow{10};

  // width: the terminal's columns (the live line is cut to width - 1, so it
  // never wraps, which \r could not undo).
  ProgressMeter(ProgressDisplay display, std::uint64_t total, Write write,
                Clock clock = std::chrono::steady_clock::now, std::size_t width = 80);
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  // Bytes that will not be read after all (objects a restore passes over):
  // the total shrinks by them.
  void reduce_total(std::uint64_t bytes);
  // The total as the reader now knows it.
  void set_total(std::uint64_t total);
  // The bytes done so far (monotonic); shows them when it is time.
  void update(std::uint64_t done);
  // Shows the figures again if it is time (the clock moved, no bytes did).
  void tick();
  // A line of the command's own output (write_line prints it with its
  // newline): the live line is cleared first and drawn again at the next
  // update, so the two never mix on a terminal.
  void say(const std::function<void()>& write_line);
  // Clears the live line; the figures at the end.
  ProgressFigures finish();
  // "30 MB read in 12.3 s, 2496 kB/s" of what finish() returned.
  static std::string summary(const ProgressFigures& f);

  ProgressFigures figures() const;

 private:
  ProgressFigures figures_locked(std::chrono::steady_clock::time_point now) const;
  void show_locked();
  void clear_locked();

  const ProgressDisplay display_;
  const Write write_;
  const Clock clock_;
  const std::size_t width_;
  const std::chrono::steady_clock::time_point start_;

  mutable std::mutex mutex_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::optional<std::chrono::steady_clock::time_point> shown_at_;
  std::size_t shown_length_ = 0;  // live: the characters on the terminal's line now
  bool finished_ = false;
  // (time, done) at most kLiveInterval apart, the last kRateWindow of them.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples_;
};

}  // namespace pgvault
