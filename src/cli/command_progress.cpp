#include "command_progress.hpp"

#include "pgvault/config/setting_value.hpp"
#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <iostream>
#include <streambuf>
#include <thread>

#include <sys/ioctl.h>
#include <unistd.h>

namespace pgvault::cli {
namespace {

class NullBuffer final : public std::streambuf {
 protected:
  int overflow(int c) override { return traits_type::not_eof(c); }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

NullBuffer& null_buffer() {
  static NullBuffer buffer;
  return buffer;
}

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

void ProgressOptions::add_to(CLI::App* cmd) {
  auto* quiet_flag = cmd->add_flag("--quiet,-q", quiet,
                                   "Print nothing but errors (no progress, no summary, no "
                                   "warnings)");
  auto* on = cmd->add_flag("--progress", progress,
                           "Show the live progress line (bytes of the total, %, rate, elapsed, "
                           "ETA) on standard error even when it is not a terminal (default: on "
                           "a terminal; otherwise a plain progress line every 5 s)");
  auto* off = cmd->add_flag("--no-progress", no_progress,
                            "No progress while reading (the per-archive lines and the summary "
                            "stay)");
  on->excludes(off);
  quiet_flag->excludes(on);
  cmd->add_option("--max-rate", max_rate,
                  "Read the repository at most this fast, in stored bytes per second (e.g. "
                  "50MB, 512kB; units B, kB, MB, GB), to spare a busy object store or disk; "
                  "default unlimited")
      ->type_name("RATE");
}

ProgressDisplay ProgressOptions::display() const {
  if (quiet || no_progress) return ProgressDisplay::none;
  if (progress || ::isatty(STDERR_FILENO) == 1) return ProgressDisplay::live;
  return ProgressDisplay::periodic;
}

std::uint64_t ProgressOptions::max_rate_bytes() const {
  if (max_rate.empty()) return 0;
  std::uint64_t rate = 0;
  try {
    rate = parse_size_setting("max_rate", max_rate);
  } catch (const Error&) {
    rate = 0;
  }
  if (rate < 1024)
    throw Error(ErrorKind::invalid_argument,
                "--max-rate " + pgvault::quoted(quote_untrusted(max_rate)) +
                    " is not a rate: give bytes per second of at least 1kB, with a unit B, kB, "
                    "MB or GB (e.g. 50MB)");
  return rate;
}

QuietStdout::QuietStdout(bool quiet) {
  if (quiet) saved_ = std::cout.rdbuf(&null_buffer());
}

QuietStdout::~QuietStdout() {
  if (saved_ != nullptr) std::cout.rdbuf(saved_);
}

std::ostream& null_stream() {
  static std::ostream stream(&null_buffer());
  return stream;
}

CommandProgress::CommandProgress(const ProgressOptions& options, std::uint64_t total)
    : meter_(
          options.display(), total, [](std::string_view text) { std::cerr << text << std::flush; },
          std::chrono::steady_clock::now, terminal_width()),
      max_rate_(options.max_rate_bytes()),
      start_(std::chrono::steady_clock::now()) {}

CommandProgress::~CommandProgress() {
  // A failure: the live line must not stay under the error message.
  if (!finished_) meter_.finish();
}

void CommandProgress::on_read(std::uint64_t done) {
  meter_.update(done);
  if (max_rate_ == 0) return;
  const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(done) /
                                                              static_cast<double>(max_rate_)));
  // Ahead of the rate: wait, in short steps that keep the progress moving.
  for (auto now = std::chrono::steady_clock::now(); now < due;
       now = std::chrono::steady_clock::now()) {
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(due - now, std::chrono::milliseconds(100)));
    meter_.tick();
  }
}

void CommandProgress::say(std::ostream& out, std::string_view line) {
  meter_.say([&] { out << line << "\n" << std::flush; });
}

std::string CommandProgress::finish() {
  finished_ = true;
  return ProgressMeter::summary(meter_.finish());
}

}  // namespace pgvault::cli
