// --quiet, --progress/--no-progress and --max-rate of the commands that read
// a backup (restore, verify, get), and the progress they show while reading
// (the core's ProgressMeter): a live line on standard error when it is a
// terminal, a plain "progress: ..." line every few seconds when it is not.
#pragma once

#include "pgvault/progress_meter.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault::cli {

struct ProgressOptions {
  bool quiet = false;
  bool progress = false;     // --progress: the live line even when not a terminal
  bool no_progress = false;  // --no-progress
  std::string max_rate;      // --max-rate, as typed

  void add_to(CLI::App* cmd);
  ProgressDisplay display() const;
  // Bytes per second, 0 = unlimited. Throws Error(invalid_argument).
  std::uint64_t max_rate_bytes() const;
};

// Swaps standard output for nothing while it lives (--quiet: nothing but
// errors; QuietWarnings holds back the warnings).
class QuietStdout {
 public:
  explicit QuietStdout(bool quiet);
  ~QuietStdout();
  QuietStdout(const QuietStdout&) = delete;
  QuietStdout& operator=(const QuietStdout&) = delete;

 private:
  std::streambuf* saved_ = nullptr;
};

// An ostream that drops everything (what --quiet prints to).
std::ostream& null_stream();

// The progress of one command's read of `total` stored bytes, on standard
// error; paces the read to --max-rate.
class CommandProgress {
 public:
  CommandProgress(const ProgressOptions& options, std::uint64_t total);
  ~CommandProgress();
  CommandProgress(const CommandProgress&) = delete;
  CommandProgress& operator=(const CommandProgress&) = delete;

  // After each chunk read (the restore's, verify's or get's reading thread):
  // the bytes read so far; waits here while the read is ahead of --max-rate.
  void on_read(std::uint64_t done);
  // The same, from a reader that knows the total as it goes (verify).
  void on_read(std::uint64_t done, std::uint64_t total) {
    meter_.set_total(total);
    on_read(done);
  }
  void reduce_total(std::uint64_t bytes) { meter_.reduce_total(bytes); }
  // A line of the command's output on `out` (its newline added), clear of the
  // live line.
  void say(std::ostream& out, std::string_view line);
  // Clears the live line; "30 MB read in 12.3 s, 2496 kB/s".
  std::string finish();

 private:
  ProgressMeter meter_;
  std::uint64_t max_rate_;
  std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

}  // namespace pgvault::cli
