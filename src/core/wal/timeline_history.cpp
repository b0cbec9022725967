#include "pgvault/wal/timeline_history.hpp"

#include "pgvault/error.hpp"

#include <cctype>

namespace pgvault {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

TimelineHistory::TimelineHistory(TimelineId timeline) : timeline_(timeline) {
  if (timeline == 0)
    throw Error(ErrorKind::invalid_argument, "timeline 0 does not exist (timelines start at 1)");
}

TimelineHistory TimelineHistory::parse(TimelineId timeline, std::string_view text) {
  TimelineHistory h(timeline);
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;

    auto bad = [&](const std::string& why) -> Error {
      return Error(ErrorKind::corrupt, "history file of timeline " + std::to_string(timeline) +
                                           ", line " + std::to_string(line_no) + " (\"" +
                                           quote_untrusted(trim_end(line)) + "\"): " + why);
    };
    std::string_view rest = skip_blanks(line);
    if (rest.empty() || rest.front() == '#') continue;

    std::uint64_t tli = 0;
    std::size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      tli = tli * 10 + static_cast<std::uint64_t>(rest[digits] - '0');
      if (tli > UINT32_MAX) throw bad("the timeline ID is too large");
      ++digits;
    }
    if (digits == 0) throw bad("expected a numeric timeline ID");
    rest = rest.substr(digits);
    if (rest.empty() || !is_blank(rest.front()))
      throw bad("expected a tab and a write-ahead log switchpoint location after the timeline ID");
    rest = skip_blanks(rest);
    std::size_t lsn_end = 0;
    while (lsn_end < rest.size() && !is_blank(rest[lsn_end])) ++lsn_end;
    Lsn switchpoint;
    try {
      switchpoint = parse_lsn(rest.substr(0, lsn_end));
    } catch (const Error&) {
      throw bad("expected a write-ahead log switchpoint location (X/Y) after the timeline ID");
    }
    const auto id = static_cast<TimelineId>(tli);
    if (id == 0) throw bad("timeline 0 does not exist");
    if (!h.entries_.empty() && id <= h.entries_.back().timeline)
      throw bad("timeline IDs must increase (" + std::to_string(id) + " follows " +
                std::to_string(h.entries_.back().timeline) + ")");
    if (id >= timeline)
      throw bad("timeline " + std::to_string(id) + " cannot be an ancestor of timeline " +
                std::to_string(timeline) + " (ancestors have smaller IDs)");
    if (!h.entries_.empty() && switchpoint < h.entries_.back().switchpoint)
      throw bad("switchpoints must not decrease (" + format_lsn(switchpoint) + " follows " +
                format_lsn(h.entries_.back().switchpoint) + ")");
    h.entries_.push_back(
        {id, switchpoint, std::string(trim_end(skip_blanks(rest.substr(lsn_end))))});
  }
  return h;
}

std::vector<TimelineId> TimelineHistory::ancestry() const {
  std::vector<TimelineId> out;
  for (const auto& e : entries_) out.push_back(e.timeline);
  out.push_back(timeline_);
  return out;
}

bool TimelineHistory::contains(TimelineId timeline) const {
  if (timeline == timeline_) return true;
  for (const auto& e : entries_)
    if (e.timeline == timeline) return true;
  return false;
}

namespace {

[[noreturn]] void not_on_path(TimelineId timeline, TimelineId target) {
  throw Error(ErrorKind::invalid_argument, "timeline " + std::to_string(timeline) +
                                               " is not an ancestor of timeline " +
                                               std::to_string(target));
}

}  // namespace

Lsn TimelineHistory::begin_of(TimelineId timeline) const {
  Lsn begin{0};
  for (const auto& e : entries_) {
    if (e.timeline == timeline) return begin;
    begin = e.switchpoint;
  }
  if (timeline == timeline_) return begin;
  not_on_path(timeline, timeline_);
}

std::optional<Lsn> TimelineHistory::end_of(TimelineId timeline) const {
  for (const auto& e : entries_)
    if (e.timeline == timeline) return e.switchpoint;
  if (timeline == timeline_) return std::nullopt;
  not_on_path(timeline, timeline_);
}

TimelineId TimelineHistory::timeline_of(Lsn lsn) const {
  for (const auto& e : entries_)
    if (lsn < e.switchpoint) return e.timeline;
  return timeline_;
}

TimelineHistory::Reachability TimelineHistory::reaches(TimelineId backup_timeline,
                                                       Lsn backup_lsn) const {
  const std::string target = "timeline " + std::to_string(timeline_);
  const std::string backup = "a backup on timeline " + std::to_string(backup_timeline) +
                             " consistent at " + format_lsn(backup_lsn);
  if (!contains(backup_timeline)) {
    std::string path;
    for (TimelineId t : ancestry()) path += (path.empty() ? "" : ", ") + std::to_string(t);
    return {false, backup + " cannot reach " + target + ": timeline " +
                       std::to_string(backup_timeline) + " is not one of its ancestors (" + path +
                       ")"};
  }
  std::optional<Lsn> end = end_of(backup_timeline);
  if (end && backup_lsn > *end) {
    const TimelineId child = timeline_of(*end);
    return {false, backup + " cannot reach " + target + ": timeline " + std::to_string(child) +
                       " forked from timeline " + std::to_string(backup_timeline) + " at " +
                       format_lsn(*end) + ", before the backup was consistent; use a backup of " +
                       "timeline " + std::to_string(backup_timeline) + " that ends by " +
                       format_lsn(*end) + ", or one taken later on the path to " + target};
  }
  return {true, {}};
}

void TimelineHistory::check_reaches(TimelineId backup_timeline, Lsn backup_lsn) const {
  Reachability r = reaches(backup_timeline, backup_lsn);
  if (!r.reachable) throw Error(ErrorKind::invalid_argument, r.reason);
}

}  // namespace pgvault
