#include "pgvault/report/report.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_catalog.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

namespace pgvault {

namespace {

constexpr std::int64_t kDay = 86400;
// A scheduled backup is late once its fire time is this far behind.
constexpr std::int64_t kScheduleGrace = 3600;
// Without a schedule, a daily one is assumed: late after a day and two hours.
constexpr std::int64_t kUnscheduledAmber = 26 * 3600;
constexpr std::int64_t kUnscheduledRed = 50 * 3600;
constexpr std::int64_t kVerificationStale = 8 * kDay;

constexpr const char* kKinds[] = {"physical", "incremental", "logical"};

std::optional<double> metric(const std::vector<MetricFamily>& families, std::string_view name,
                             const std::string& sysid, const char* kind = nullptr) {
  for (const MetricFamily& f : families) {
    if (f.name != name) continue;
    for (const MetricSample& s : f.samples) {
      bool system_matches = false, kind_matches = kind == nullptr;
      for (const auto& [label, value] : s.labels) {
        if (label == "system_identifier") system_matches = value == sysid;
        if (label == "kind" && kind != nullptr) kind_matches = value == kind;
      }
      if (system_matches && kind_matches) return s.value;
    }
  }
  return std::nullopt;
}

// "20261201T020000Z-physical[-2]" -> (start, kind); start 0 when the name has no time.
std::pair<std::int64_t, std::string> parse_backup_name(const std::string& name) {
  std::pair<std::int64_t, std::string> out{0, ""};
  if (name.size() < 16 || name[8] != 'T' || name[15] != 'Z') return out;
  const std::string iso = name.substr(0, 4) + "-" + name.substr(4, 2) + "-" + name.substr(6, 2) +
                          "T" + name.substr(9, 2) + ":" + name.substr(11, 2) + ":" +
                          name.substr(13, 2) + "Z";
  try {
    out.first = parse_utc_timestamp(iso);
  } catch (const Error&) {
    return out;
  }
  if (name.size() > 17 && name[16] == '-') {
    const std::string rest = name.substr(17);
    for (const char* kind : kKinds) {
      const std::string k = kind;
      if (rest == k || rest.starts_with(k + "-")) out.second = k;
    }
  }
  return out;
}

std::string describe_compression(const BackupMeta& b) {
  if (b.compression == "none" || b.compression.empty()) return "none";
  std::string s = b.compression;
  if (b.compression_level != 0) s += " level " + std::to_string(b.compression_level);
  if (!b.compressed_by.empty() && b.compressed_by != "none") s += " (" + b.compressed_by + ")";
  return s;
}

void attach_verification(ReportRun& run, const VerificationListing& verifications) {
  if (const VerificationRecord* v = verifications.find(run.system_identifier, run.name)) {
    run.verification = v->passed ? "passed" : "failed";
    run.verified_at = v->verified_at;
    run.verified_by = v->verified_by;
    run.restore_tested = v->restore_test;
    if (!v->passed && run.error.empty()) run.error = "verification: " + v->error;
  }
}

std::vector<ReportRun> runs_of(const std::string& sysid, const RepositoryState& state,
                               const ReportPeriod& period) {
  std::vector<ReportRun> runs;
  auto in_period = [&](std::int64_t t) { return t >= period.since && t < period.until; };
  for (const BackupMeta& b : state.backups.complete) {
    if (b.system_identifier != sysid) continue;
    ReportRun r;
    r.system_identifier = sysid;
    r.name = b.name;
    r.kind = b.kind;
    r.trigger = b.trigger;
    r.initiated_by = b.initiated_by;
    r.status = "completed";
    r.started_at = b.started_at;
    try {
      r.started_unix = parse_utc_timestamp(b.started_at);
    } catch (const Error&) {
      r.started_unix = parse_backup_name(b.name).first;
    }
    if (!in_period(r.started_unix)) continue;
    r.completed_at = b.completed_at;
    try {
      r.duration_seconds = std::max(0.0, utc_seconds(b.completed_at) - utc_seconds(b.started_at));
    } catch (const Error&) {
    }
    r.source_bytes = b.source_bytes;
    r.stored_bytes = b.stored_bytes;
    r.compression = describe_compression(b);
    r.encryption = b.encryption.empty() ? "none" : b.encryption;
    r.checksum = b.digest();
    attach_verification(r, state.verifications);
    runs.push_back(std::move(r));
  }
  if (auto it = state.incomplete.find(sysid); it != state.incomplete.end()) {
    for (const std::string& name : it->second) {
      const auto [start, kind] = parse_backup_name(name);
      if (start != 0 && !in_period(start)) continue;
      ReportRun r;
      r.system_identifier = sysid;
      r.name = name;
      r.kind = kind;
      r.status = "incomplete";
      r.started_unix = start;
      if (start != 0) r.started_at = iso_utc(start);
      r.error = "objects but no backup.json: the backup failed, was cancelled or is running";
      runs.push_back(std::move(r));
    }
  }
  for (const UnreadableBackup& d : state.backups.unreadable) {
    if (d.system_identifier != sysid) continue;
    const auto [start, kind] = parse_backup_name(d.name);
    // A damaged backup without a time in its name is shown in every period.
    if (start != 0 && !in_period(start)) continue;
    ReportRun r;
    r.system_identifier = sysid;
    r.name = d.name;
    r.kind = kind;
    r.status = "damaged";
    r.started_unix = start;
    if (start != 0) r.started_at = iso_utc(start);
    r.error = d.error;
    attach_verification(r, state.verifications);
    runs.push_back(std::move(r));
  }
  std::stable_sort(runs.begin(), runs.end(), [](const ReportRun& a, const ReportRun& b) {
    return std::tie(a.started_unix, a.name) < std::tie(b.started_unix, b.name);
  });
  return runs;
}

// Whether schedule fires in [day_start, day_start + 1 day) at a time
// full_schedule does not take (a time both fire at takes the full backup only).
bool expects_backup_on(const Schedule& schedule, std::int64_t day_start, std::int64_t until,
                       const Schedule* full_schedule) {
  const UtcZone utc;
  const std::int64_t end = std::min(day_start + kDay, until);
  std::int64_t t = day_start - 1;
  // An interval schedule fires thousands of times a day; a few hundred tries decide.
  for (int tries = 0; tries < 500; ++tries) {
    t = schedule.next_after(t, utc);
    if (t >= end) return false;
    if (full_schedule == nullptr || full_schedule->next_after(t - 1, utc) != t) return true;
  }
  return true;
}

std::string format_age(double seconds) {
  char buf[64];
  if (seconds < 2 * 3600)
    std::snprintf(buf, sizeof buf, "%.0f min", seconds / 60);
  else if (seconds < 2 * kDay)
    std::snprintf(buf, sizeof buf, "%.0f h", seconds / 3600);
  else
    std::snprintf(buf, sizeof buf, "%.1f days", seconds / kDay);
  return buf;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Fire times of the schedules in (after, before], at most `limit`, merged.
int fire_times_between(const std::vector<const Schedule*>& schedules, std::int64_t after,
                       std::int64_t before, int limit) {
  const UtcZone utc;
  std::set<std::int64_t> fires;
  for (const Schedule* s : schedules) {
    std::int64_t t = after;
    for (int i = 0; i < limit; ++i) {
      t = s->next_after(t, utc);
      if (t > before) break;
      fires.insert(t);
    }
  }
  return static_cast<int>(std::min<std::size_t>(fires.size(), limit));
}

}  // namespace

std::string iso_utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string human_utc(std::int64_t unix_seconds) {
  const std::string iso = iso_utc(unix_seconds);
  return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

std::int64_t utc_day_start(std::int64_t unix_seconds) {
  const std::int64_t r = unix_seconds % kDay;
  return unix_seconds - (r < 0 ? r + kDay : r);
}

std::int64_t parse_report_duration(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorKind::invalid_argument,
                 "invalid duration " + pgvault::quoted(quote_untrusted(text)) +
                     " (allowed: a positive whole number and a unit: h hours, d days, w weeks; "
                     "e.g. 90d)");
  };
  if (text.size() < 2 || text.size() > 8) throw bad();
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (!all_digits(digits)) throw bad();
  const std::int64_t n = std::stoll(std::string(digits));
  std::int64_t unit = 0;
  switch (text.back()) {
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = kDay;
      break;
    case 'w':
      unit = 7 * kDay;
      break;
    default:
      throw bad();
  }
  if (n <= 0 || n > 100 * 366) throw bad();
  return n * unit;
}

std::int64_t parse_report_time(std::string_view text) {
  try {
    if (text.size() == 10) return parse_utc_timestamp(std::string(text) + "T00:00:00Z");
    return parse_utc_timestamp(text);
  } catch (const Error&) {
    throw Error(ErrorKind::invalid_argument,
                "invalid time " + pgvault::quoted(quote_untrusted(text)) +
                    " (allowed: a UTC date YYYY-MM-DD, meaning 00:00 UTC, or "
                    "YYYY-MM-DDTHH:MM:SSZ)");
  }
}

ReportPeriod report_period(std::string_view since, std::string_view until, double now_unix) {
  ReportPeriod period;
  // [since, until) is half-open, so "now" ends after the current second.
  period.until = until.empty() ? static_cast<std::int64_t>(std::floor(now_unix)) + 1
                               : parse_report_time(until);
  if (!since.empty() && (since.back() == 'h' || since.back() == 'd' || since.back() == 'w') &&
      all_digits(since.substr(0, since.size() - 1))) {
    period.since = period.until - parse_report_duration(since);
  } else {
    try {
      period.since = parse_report_time(since);
    } catch (const Error&) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid --since " + pgvault::quoted(quote_untrusted(since)) +
                      " (allowed: a duration back from --until such as 90d, 12h or 2w, or a "
                      "UTC time YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
    }
  }
  if (period.since >= period.until)
    throw Error(ErrorKind::invalid_argument, "--since " + pgvault::quoted(quote_untrusted(since)) +
                                                 " is not before --until (" +
                                                 iso_utc(period.until) + ")");
  return period;
}

std::string_view day_status_name(DayStatus status) {
  switch (status) {
    case DayStatus::completed:
      return "completed";
    case DayStatus::failures_only:
      return "failures only";
    case DayStatus::missed:
      return "missed";
    case DayStatus::nothing:
      return "nothing";
  }
  return "nothing";
}

std::string_view colour_name(Colour c) {
  switch (c) {
    case Colour::green:
      return "green";
    case Colour::amber:
      return "amber";
    case Colour::red:
      return "red";
  }
  return "red";
}

CalendarRow classify_days(const std::vector<ReportRun>& runs, const std::string& kind,
                          const ReportPeriod& period, const Schedule* schedule,
                          const Schedule* full_schedule) {
  CalendarRow row;
  row.kind = kind;
  if (schedule != nullptr) row.schedule = schedule->text();
  if (period.until <= period.since) return row;
  const std::int64_t first = utc_day_start(period.since);
  for (std::int64_t day = first; day < period.until; day += kDay) {
    CalendarDay d;
    d.day_start = day;
    d.date = iso_utc(day).substr(0, 10);
    for (const ReportRun& r : runs) {
      if (r.kind != kind || r.started_unix < day || r.started_unix >= day + kDay) continue;
      if (r.failed())
        ++d.failed;
      else
        ++d.completed;
    }
    if (d.completed > 0)
      d.status = DayStatus::completed;
    else if (d.failed > 0)
      d.status = DayStatus::failures_only;
    else if (schedule != nullptr &&
             expects_backup_on(*schedule, std::max(day, period.since), period.until, full_schedule))
      d.status = DayStatus::missed;
    row.days.push_back(std::move(d));
  }
  return row;
}

Headline build_headline(const std::string& sysid, const RepositoryState& state,
                        const std::vector<MetricFamily>& metrics,
                        const std::vector<ReportRun>& period_runs,
                        const std::vector<CalendarRow>& calendar, const ReportSchedules& schedules,
                        double now_unix) {
  Headline h;
  auto add = [&](HeadlineItem item) {
    h.colour = std::max(h.colour, item.colour);
    h.items.push_back(std::move(item));
  };
  auto schedule_of = [&](const char* kind) -> const Schedule* {
    auto it = schedules.find(kind);
    return it == schedules.end() ? nullptr : &it->second;
  };
  auto name_completed_at = [&](const std::vector<const char*>& kinds, double completion) {
    for (const BackupMeta& b : state.backups.complete) {
      if (b.system_identifier != sysid) continue;
      if (std::find_if(kinds.begin(), kinds.end(), [&](const char* k) { return b.kind == k; }) ==
          kinds.end())
        continue;
      try {
        if (utc_seconds(b.completed_at) == completion) return b.name;
      } catch (const Error&) {
      }
    }
    return std::string();
  };
  // Newest backup: the last completion of these kinds, judged against their schedules.
  auto newest = [&](const char* label, std::vector<const char*> kinds, bool required) {
    std::optional<double> completion, since;
    for (const char* kind : kinds) {
      const auto c =
          metric(metrics, "pgvault_backup_last_completion_timestamp_seconds", sysid, kind);
      if (c && (!completion || *c > *completion)) {
        completion = c;
        since = metric(metrics, "pgvault_backup_since_last_completion_seconds", sysid, kind);
      }
    }
    std::vector<const Schedule*> kind_schedules;
    for (const char* kind : kinds)
      if (const Schedule* s = schedule_of(kind)) kind_schedules.push_back(s);
    HeadlineItem item{label, "", Colour::green, ""};
    if (!completion) {
      if (!required && kind_schedules.empty()) return;
      item.value = "none in the repository";
      item.colour = Colour::red;
      item.reason = "the repository holds no complete backup of this kind";
      add(std::move(item));
      return;
    }
    const double age = since.value_or(std::max(0.0, now_unix - *completion));
    item.value = name_completed_at(kinds, *completion) + ", completed " +
                 human_utc(static_cast<std::int64_t>(*completion)) + " (" + format_age(age) +
                 " ago)";
    if (!kind_schedules.empty()) {
      std::string texts;
      for (const Schedule* s : kind_schedules) texts += (texts.empty() ? "" : ", ") + s->text();
      const int missed =
          fire_times_between(kind_schedules, static_cast<std::int64_t>(*completion),
                             static_cast<std::int64_t>(now_unix) - kScheduleGrace, 2);
      if (missed >= 1) {
        item.colour = missed >= 2 ? Colour::red : Colour::amber;
        item.reason = std::string(missed >= 2 ? "two or more" : "one") + " scheduled run" +
                      (missed >= 2 ? "s" : "") + " (" + texts +
                      ", UTC) passed without a newer backup";
      }
    } else if (age > kUnscheduledAmber) {
      item.colour = age > kUnscheduledRed ? Colour::red : Colour::amber;
      item.reason = "older than " +
                    format_age(age > kUnscheduledRed ? kUnscheduledRed : kUnscheduledAmber) +
                    " (no schedule given: a daily backup is expected)";
    }
    add(std::move(item));
  };
  newest("Newest restorable backup (physical)", {"physical", "incremental"}, true);
  newest("Newest logical backup", {"logical"}, false);

  {
    HeadlineItem item{"Verification", "", Colour::green, ""};
    std::optional<double> newest_at, newest_status;
    std::uint64_t failed = 0;
    const char* newest_kind = nullptr;
    for (const char* kind : kKinds) {
      failed += static_cast<std::uint64_t>(
          metric(metrics, "pgvault_verification_failed_backups", sysid, kind).value_or(0));
      const auto at = metric(metrics, "pgvault_verification_last_timestamp_seconds", sysid, kind);
      if (at && (!newest_at || *at > *newest_at)) {
        newest_at = at;
        newest_kind = kind;
        newest_status = metric(metrics, "pgvault_verification_last_status", sysid, kind);
      }
    }
    std::size_t backups = 0, verified = 0, restore_tested = 0;
    for (const BackupMeta& b : state.backups.complete) {
      if (b.system_identifier != sysid) continue;
      ++backups;
      if (const VerificationRecord* v = state.verifications.find(sysid, b.name)) {
        ++verified;
        if (v->restore_test && v->passed) ++restore_tested;
      }
    }
    const auto unreadable = static_cast<std::uint64_t>(
        metric(metrics, "pgvault_verification_unreadable_records", sysid).value_or(0));
    item.value = std::to_string(verified) + " of " + plural(backups, "backup", "backups") +
                 " verified (" + std::to_string(restore_tested) + " restore-tested)";
    if (newest_at) {
      item.value += "; newest: " + std::string(newest_kind) + ", " +
                    (newest_status.value_or(0) == 1 ? "passed " : "FAILED ") +
                    human_utc(static_cast<std::int64_t>(*newest_at));
    }
    if (failed > 0 || (newest_status && *newest_status == 0)) {
      item.colour = Colour::red;
      item.reason =
          plural(failed, "backup failed its", "backups failed their") + " last verification";
    } else if (!newest_at && backups > 0) {
      item.colour = Colour::amber;
      item.reason = "no backup has been verified";
    } else if (newest_at && now_unix - *newest_at > kVerificationStale) {
      item.colour = Colour::amber;
      item.reason = "the newest verification is older than " + format_age(kVerificationStale);
    } else if (unreadable > 0) {
      item.colour = Colour::amber;
      item.reason =
          plural(unreadable, "verification record cannot", "verification records cannot") +
          " be read";
    }
    add(std::move(item));
  }

  {
    HeadlineItem item{"Recoverable window (archived WAL)", "", Colour::green, ""};
    const WalCatalog* catalog = nullptr;
    for (const WalCatalog& c : state.wal)
      if (c.system_identifier == sysid) catalog = &c;
    if (catalog == nullptr) {
      item.value = "no archived WAL: a restore reaches the end of a backup, no later";
    } else {
      std::string windows;
      if (const auto tli = catalog->latest_timeline()) {
        for (const RecoverableWindow& w :
             catalog->recoverable_windows(state.backups.complete, *tli)) {
          windows +=
              (windows.empty() ? "" : "; ") + std::string("from ") + human_utc(w.from_unix) +
              " (backup " + w.backup + ") to " +
              (w.to_unix ? human_utc(*w.to_unix) : std::string("LSN ") + format_lsn(w.to_lsn)) +
              " on timeline " + std::to_string(w.timeline);
        }
      }
      item.value =
          windows.empty() ? "none: no physical backup has its WAL archived without a gap" : windows;
      const auto missing = metric(metrics, "pgvault_wal_missing_segments", sysid).value_or(0);
      if (windows.empty()) {
        item.colour = Colour::amber;
        item.reason = "archived WAL exists but no backup can be rolled forward with it";
      } else if (missing > 0) {
        item.colour = Colour::amber;
        item.reason =
            plural(static_cast<std::size_t>(missing), "WAL segment is", "WAL segments are") +
            " missing between archived ones";
      }
    }
    add(std::move(item));
  }

  {
    HeadlineItem item{"Runs in the period", "", Colour::green, ""};
    std::size_t completed = 0, incomplete = 0, damaged = 0, failed = 0, missed = 0;
    for (const ReportRun& r : period_runs) {
      if (r.completed_run()) ++completed;
      if (r.status == "incomplete") ++incomplete;
      if (r.status == "damaged") ++damaged;
      if (r.failed() && r.status != "incomplete" && r.status != "damaged") ++failed;
    }
    for (const CalendarRow& row : calendar)
      for (const CalendarDay& d : row.days) missed += d.status == DayStatus::missed;
    item.value = std::to_string(completed) + " completed, " + std::to_string(incomplete) +
                 " incomplete (failed, cancelled or running), " + std::to_string(damaged) +
                 " damaged, " + std::to_string(failed) + " failed, cancelled or skipped; " +
                 plural(missed, "scheduled day", "scheduled days") + " without a backup";
    std::vector<std::string> why;
    if (failed > 0)
      why.push_back(plural(failed, "run failed, was cancelled or skipped",
                           "runs failed, were cancelled or skipped"));
    if (incomplete > 0)
      why.push_back(plural(incomplete, "run did not complete", "runs did not complete"));
    if (damaged > 0)
      why.push_back(plural(damaged, "backup.json cannot", "backup.json files cannot") + " be used");
    if (missed > 0)
      why.push_back(plural(missed, "scheduled day has", "scheduled days have") + " no backup");
    for (const std::string& w : why) item.reason += (item.reason.empty() ? "" : "; ") + w;
    if (!why.empty()) item.colour = Colour::amber;
    add(std::move(item));
  }

  {
    HeadlineItem item{"Retention", "", Colour::green, ""};
    std::size_t count = 0;
    std::string oldest;
    for (const BackupMeta& b : state.backups.complete) {
      if (b.system_identifier != sysid) continue;
      if (count++ == 0) oldest = b.completed_at;
    }
    item.value = plural(count, "complete backup", "complete backups") + " kept";
    if (!oldest.empty()) {
      try {
        const std::int64_t t = parse_utc_timestamp(oldest);
        item.value += ", the oldest completed " + human_utc(t) + " (" +
                      format_age(std::max(0.0, now_unix - static_cast<double>(t))) + " ago)";
      } catch (const Error&) {
      }
    }
    add(std::move(item));
  }

  {
    HeadlineItem item{"Bytes stored", "", Colour::green, ""};
    double backups = 0;
    for (const char* kind : kKinds)
      backups += metric(metrics, "pgvault_repository_backup_stored_bytes", sysid, kind).value_or(0);
    const double wal = metric(metrics, "pgvault_wal_archived_stored_bytes", sysid).value_or(0);
    item.value = human_size(static_cast<std::uint64_t>(backups)) + " in backups, " +
                 human_size(static_cast<std::uint64_t>(wal)) + " of archived WAL";
    add(std::move(item));
  }
  return h;
}

namespace {

void merge_history(std::vector<ReportRun>& runs, const DatabaseHistory& history,
                   const ReportPeriod& period) {
  for (const ReportRun& h : history.runs) {
    if (h.started_unix < period.since || h.started_unix >= period.until) continue;
    auto same = std::find_if(runs.begin(), runs.end(),
                             [&](const ReportRun& r) { return r.name == h.name; });
    if (same == runs.end()) {
      runs.push_back(h);
      continue;
    }
    same->source = "repository, vault.history";
    if (same->status == "incomplete" && h.status != "completed") {
      same->status = h.status;
      if (!h.error.empty()) same->error = h.error;
      if (same->trigger.empty()) same->trigger = h.trigger;
      if (same->initiated_by.empty()) same->initiated_by = h.initiated_by;
    }
  }
  std::stable_sort(runs.begin(), runs.end(), [](const ReportRun& a, const ReportRun& b) {
    return std::tie(a.started_unix, a.name) < std::tie(b.started_unix, b.name);
  });
}

}  // namespace

Report build_report(const RepositoryState& state, const RestoreListing& restores,
                    const ReportPeriod& period, const ReportSchedules& schedules, double now_unix,
                    const DatabaseHistory* history) {
  Report report;
  report.period = period;
  report.generated_unix = static_cast<std::int64_t>(now_unix);
  report.schedules = schedules;
  const std::vector<MetricFamily> metrics = repository_metrics(state, now_unix);
  // Days after now cannot have missed a backup yet.
  const ReportPeriod known{period.since,
                           std::min(period.until, static_cast<std::int64_t>(now_unix))};

  std::set<std::string> systems;
  for (const BackupMeta& b : state.backups.complete) systems.insert(b.system_identifier);
  for (const UnreadableBackup& d : state.backups.unreadable) systems.insert(d.system_identifier);
  for (const auto& [sysid, names] : state.incomplete) systems.insert(sysid);
  for (const WalCatalog& c : state.wal) systems.insert(c.system_identifier);
  for (const RestoreRecord& r : restores.records) systems.insert(r.system_identifier);
  if (history != nullptr) {
    report.history = history->description;
    systems.insert(history->system_identifier);
  }

  for (const std::string& sysid : systems) {
    ReportSystem s;
    s.system_identifier = sysid;
    s.runs = runs_of(sysid, state, period);
    if (history != nullptr && history->system_identifier == sysid)
      merge_history(s.runs, *history, period);
    for (const char* kind : kKinds) {
      auto it = schedules.find(kind);
      const Schedule* schedule = it == schedules.end() ? nullptr : &it->second;
      const bool has_runs = std::any_of(s.runs.begin(), s.runs.end(),
                                        [&](const ReportRun& r) { return r.kind == kind; });
      if (!has_runs && schedule == nullptr) continue;
      const Schedule* full = nullptr;
      if (std::string_view(kind) == "incremental") {
        auto f = schedules.find("physical");
        if (f != schedules.end()) full = &f->second;
      }
      s.calendar.push_back(classify_days(s.runs, kind, known, schedule, full));
    }
    for (const RestoreRecord& r : restores.records) {
      if (r.system_identifier != sysid) continue;
      const std::int64_t t = parse_utc_timestamp(r.started_at);  // checked by from_json
      if (t >= period.since && t < period.until) s.restores.push_back(r);
    }
    for (const UnreadableRestoreRecord& u : restores.unreadable)
      if (u.system_identifier == sysid)
        s.unreadable_restore_records.push_back(u.key + ": " + u.error);
    s.headline = build_headline(sysid, state, metrics, s.runs, s.calendar, schedules, now_unix);
    {
      HeadlineItem item{"Restores in the period", "", Colour::green, ""};
      std::size_t failed = 0, tests = 0;
      for (const RestoreRecord& r : s.restores) {
        failed += !r.succeeded;
        tests += r.restore == "restore test";
      }
      item.value = plural(s.restores.size(), "restore recorded", "restores recorded") + " (" +
                   plural(tests, "restore test", "restore tests") + "), " + std::to_string(failed) +
                   " failed";
      if (failed > 0) {
        item.colour = Colour::amber;
        item.reason = plural(failed, "restore failed", "restores failed");
      }
      if (!s.unreadable_restore_records.empty()) {
        item.colour = Colour::amber;
        item.reason += (item.reason.empty() ? "" : "; ") +
                       plural(s.unreadable_restore_records.size(), "restore record cannot",
                              "restore records cannot") +
                       " be read";
      }
      s.headline.colour = std::max(s.headline.colour, item.colour);
      s.headline.items.push_back(std::move(item));
    }
    report.systems.push_back(std::move(s));
  }
  return report;
}

std::vector<const ReportRun*> report_runs(const Report& report) {
  std::vector<const ReportRun*> out;
  for (const ReportSystem& s : report.systems)
    for (const ReportRun& r : s.runs) out.push_back(&r);
  return out;
}

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

namespace {

constexpr const char* kCsvColumns[] = {"system_identifier",
                                       "name",
                                       "kind",
                                       "trigger",
                                       "initiated_by",
                                       "status",
                                       "started_at",
                                       "completed_at",
                                       "duration_seconds",
                                       "source_bytes",
                                       "stored_bytes",
                                       "compression",
                                       "encryption",
                                       "checksum_sha256",
                                       "verification",
                                       "verified_at",
                                       "verified_by",
                                       "restore_tested",
                                       "error",
                                       "source"};

std::vector<std::string> run_fields(const ReportRun& r) {
  std::string duration;
  if (r.duration_seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *r.duration_seconds);
    duration = buf;
  }
  const bool completed = r.completed_run();
  return {r.system_identifier,
          r.name,
          r.kind,
          r.trigger,
          r.initiated_by,
          r.status,
          r.started_at,
          r.completed_at,
          duration,
          completed ? std::to_string(r.source_bytes) : "",
          completed ? std::to_string(r.stored_bytes) : "",
          r.compression,
          r.encryption,
          r.checksum,
          r.verification,
          r.verified_at,
          r.verified_by,
          r.verification.empty() ? "" : (r.restore_tested ? "yes" : "no"),
          r.error,
          r.source};
}

}  // namespace

std::string render_report_csv(const Report& report) {
  std::string out;
  auto line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
    out += "\r\n";
  };
  line(std::vector<std::string>(std::begin(kCsvColumns), std::end(kCsvColumns)));
  for (const ReportRun* r : report_runs(report)) line(run_fields(*r));
  return out;
}

std::string render_report_json(const Report& report) {
  nlohmann::ordered_json j;
  j["repository"] = report.repository;
  j["since"] = iso_utc(report.period.since);
  j["until"] = iso_utc(report.period.until);
  j["generated_at"] = iso_utc(report.generated_unix);
  j["pgvault_version"] = report.pgvault_version;
  j["sources"] = report.history.empty() ? "repository" : "repository, " + report.history;
  auto runs = nlohmann::ordered_json::array();
  for (const ReportRun* r : report_runs(report)) {
    const std::vector<std::string> fields = run_fields(*r);
    nlohmann::ordered_json row;
    for (std::size_t i = 0; i < fields.size(); ++i) row[kCsvColumns[i]] = fields[i];
    runs.push_back(std::move(row));
  }
  j["runs"] = std::move(runs);
  auto restores = nlohmann::ordered_json::array();
  for (const ReportSystem& s : report.systems)
    for (const RestoreRecord& r : s.restores)
      restores.push_back(nlohmann::ordered_json::parse(r.to_json()));
  j["restores"] = std::move(restores);
  // Invalid UTF-8 read from the repository is replaced, never an exception.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace pgvault
