#include "pgvault/progress_meter.hpp"

#include "pgvault/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pgvault {

namespace {

using Time = std::chrono::steady_clock::time_point;

double seconds_between(Time from, Time to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string clock_duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60),
                  static_cast<unsigned long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  return buf;
}

std::string summary_duration(double seconds, int decimals) {
  if (seconds >= 60) return clock_duration(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f s", std::clamp(decimals, 0, 6), std::max(0.0, seconds));
  return buf;
}

std::string byte_rate(double bytes_per_second) {
  return human_size(static_cast<std::uint64_t>(std::llround(std::max(0.0, bytes_per_second)))) +
         "/s";
}

std::string progress_text(const ProgressFigures& f) {
  std::string text = human_size(f.done) + " of " + human_size(f.total);
  if (f.total > 0)
    text += " (" + std::to_string(std::min<std::uint64_t>(100, f.done * 100 / f.total)) + "%)";
  text += ", " + byte_rate(f.bytes_per_second) + ", elapsed " + clock_duration(f.elapsed_seconds);
  if (f.remaining_seconds) text += ", ETA " + clock_duration(std::ceil(*f.remaining_seconds));
  return text;
}

ProgressMeter::ProgressMeter(ProgressDisplay display, std::uint64_t total, Write write, Clock clock,
                             std::size_t width)
    : display_(display),
      write_(std::move(write)),
      clock_(std::move(clock)),
      width_(std::max<std::size_t>(width, 20)),
      start_(clock_()),
      total_(total) {
  samples_.emplace_back(start_, 0);
}

void ProgressMeter::set_total(std::uint64_t total) {
  std::lock_guard lock(mutex_);
  total_ = total;
}

void ProgressMeter::reduce_total(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  total_ -= std::min(total_, bytes);
}

ProgressFigures ProgressMeter::figures_locked(Time now) const {
  ProgressFigures f;
  f.done = done_;
  f.total = std::max(total_, done_);
  f.elapsed_seconds = seconds_between(start_, now);
  const auto& [since, done_then] = samples_.front();
  const double window = seconds_between(since, now);
  // A rate over less than a second says little: the average since the start
  // then (which is the same thing early on).
  if (window >= 1.0)
    f.bytes_per_second = static_cast<double>(done_ - done_then) / window;
  else if (f.elapsed_seconds > 0)
    f.bytes_per_second = static_cast<double>(done_) / f.elapsed_seconds;
  if (f.bytes_per_second > 0)
    f.remaining_seconds = static_cast<double>(f.total - f.done) / f.bytes_per_second;
  return f;
}

ProgressFigures ProgressMeter::figures() const {
  std::lock_guard lock(mutex_);
  return figures_locked(clock_());
}

void ProgressMeter::update(std::uint64_t done) {
  std::lock_guard lock(mutex_);
  done_ = std::max(done_, done);
  show_locked();
}

void ProgressMeter::tick() {
  std::lock_guard lock(mutex_);
  show_locked();
}

void ProgressMeter::show_locked() {
  if (finished_) return;
  const Time now = clock_();
  if (now - samples_.back().first >= kLiveInterval) samples_.emplace_back(now, done_);
  while (samples_.size() > 1 && now - samples_[1].first >= kRateWindow) samples_.pop_front();
  if (display_ == ProgressDisplay::none) return;
  // A live line is drawn at once (and again at once after say() cleared
  // it); the first periodic line comes after one interval: a short read
  // prints none.
  const bool periodic = display_ == ProgressDisplay::periodic;
  if (shown_at_ || periodic) {
    const Time last = shown_at_.value_or(start_);
    if (now - last <
        (periodic
             ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPeriodicInterval)
             : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kLiveInterval)))
      return;
  }
  shown_at_ = now;
  std::string text = progress_text(figures_locked(now));
  if (periodic) {
    write_("progress: " + text + "\n");
    return;
  }
  if (text.size() > width_ - 1) text.resize(width_ - 1);
  const std::size_t length = text.size();
  // Spaces over what is left of a longer line before.
  if (length < shown_length_) text.append(shown_length_ - length, ' ');
  write_("\r" + text);
  shown_length_ = length;
}

void ProgressMeter::clear_locked() {
  if (display_ != ProgressDisplay::live || shown_length_ == 0) return;
  write_("\r" + std::string(shown_length_, ' ') + "\r");
  shown_length_ = 0;
  shown_at_.reset();  // drawn again at the next update
}

void ProgressMeter::say(const std::function<void()>& write_line) {
  std::lock_guard lock(mutex_);
  clear_locked();
  write_line();
}

ProgressFigures ProgressMeter::finish() {
  std::lock_guard lock(mutex_);
  clear_locked();
  finished_ = true;
  ProgressFigures f = figures_locked(clock_());
  // The end: the rate of the whole read.
  f.bytes_per_second = f.elapsed_seconds > 0 ? static_cast<double>(f.done) / f.elapsed_seconds : 0;
  f.remaining_seconds = 0.0;
  return f;
}

std::string ProgressMeter::summary(const ProgressFigures& f) {
  return human_size(f.done) + " read in " + summary_duration(f.elapsed_seconds) + ", " +
         byte_rate(f.bytes_per_second);
}

}  // namespace pgvault
