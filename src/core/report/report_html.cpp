// The report as one self-contained page: inline CSS and SVG, no script, no
// fetch of any kind (fonts, images, styles), well-formed XHTML-compatible
// markup so that a test (or an auditor's tool) can parse it as XML.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/report/report.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pgvault {

namespace {

constexpr std::int64_t kDay = 86400;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned min = 0;
  if (b < 0x80) return 1;
  if ((b & 0xe0) == 0xc0)
    n = 2, min = 0x80;
  else if ((b & 0xf0) == 0xe0)
    n = 3, min = 0x800;
  else if ((b & 0xf8) == 0xf0)
    n = 4, min = 0x10000;
  else
    return 0;
  if (i + n > s.size()) return 0;
  unsigned cp = b & (0xff >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD for a byte that is not UTF-8
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters are not allowed in XML: shown as U+FFFD.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
          out += "\xef\xbf\xbd";
        else if (c == 0x7f)
          out += "\xef\xbf\xbd";
        else
          out += c;
    }
  }
  return out;
}

namespace {

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt; color: #1a1a1a; margin: 1.5em; }
h1 { font-size: 18pt; margin: 0 0 .2em 0; }
h2 { font-size: 14pt; border-bottom: 2px solid #444; margin-top: 1.6em; }
h3 { font-size: 11.5pt; margin: 1.2em 0 .3em 0; }
p.source { color: #555; font-size: 9pt; margin: .2em 0 .5em 0; }
table { border-collapse: collapse; }
.headline { border: 3px solid; padding: .4em .8em; margin: .6em 0; }
.headline.green { border-color: #2e7d32; background: #e8f5e9; }
.headline.amber { border-color: #b26a00; background: #fff4e0; }
.headline.red { border-color: #c62828; background: #fdecea; }
.verdict { font-size: 13pt; font-weight: bold; margin: .2em 0 .4em 0; }
.headline th { text-align: left; padding: .2em .8em .2em 0; vertical-align: top; white-space: nowrap; }
.headline td { padding: .2em .8em .2em 0; vertical-align: top; }
.badge { display: inline-block; min-width: 3.6em; text-align: center; font-weight: bold; font-size: 8.5pt; padding: 0 .3em; border-radius: 3px; color: #fff; }
.badge.green { background: #2e7d32; } .badge.amber { background: #b26a00; } .badge.red { background: #c62828; }
.calendar-kind { margin: .3em 0 .6em 0; }
.calendar-kind .kind { font-weight: bold; }
.month { display: flex; flex-wrap: nowrap; align-items: center; margin: 2px 0; }
.month .label { width: 5em; font-size: 9pt; color: #444; }
.day { display: inline-block; width: 1.9em; height: 1.5em; line-height: 1.5em; margin: 1px; text-align: center; font-size: 8pt; border: 1px solid #bbb; }
.day.completed { background: #66bb6a; border-color: #2e7d32; }
.day.failures { background: #ef5350; border-color: #b71c1c; color: #fff; font-weight: bold; }
.day.missed { background: #ffb74d; border-color: #b26a00; font-weight: bold; text-decoration: underline; }
.day.nothing { background: #fafafa; color: #999; }
.day.with-failures { box-shadow: inset 0 -4px 0 #c62828; }
.day.outside { visibility: hidden; }
.legend .day { width: auto; padding: 0 .4em; }
svg.chart { width: 100%; max-width: 900px; height: auto; border: 1px solid #ccc; background: #fff; }
table.runs, table.restores { font-size: 8pt; width: 100%; }
table.runs th, table.runs td, table.restores th, table.restores td { border: 1px solid #ccc; padding: 2px 4px; text-align: left; vertical-align: top; }
table.runs th, table.restores th { background: #eee; }
tr.incomplete td, tr.damaged td, tr.failed td { background: #fdecea; }
td.num { text-align: right; white-space: nowrap; }
td.error { max-width: 24em; word-break: break-word; }
code, .hash { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 8.5pt; word-break: break-all; }
footer { margin-top: 2em; border-top: 1px solid #999; font-size: 9pt; }
footer th { text-align: left; padding-right: 1em; vertical-align: top; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media print { body { margin: 0; } h2 { break-before: auto; } table.runs tr, .headline { break-inside: avoid; } }
)";

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string seconds_text(double s) {
  if (s < 120) return fmt("%.1f s", s);
  if (s < 7200) return fmt("%.1f min", s / 60);
  return fmt("%.2f h", s / 3600);
}

std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + html_escape(value) + "\"";
}

const char* day_class(DayStatus s) {
  switch (s) {
    case DayStatus::completed:
      return "completed";
    case DayStatus::failures_only:
      return "failures";
    case DayStatus::missed:
      return "missed";
    case DayStatus::nothing:
      return "nothing";
  }
  return "nothing";
}

void render_headline(std::string& out, const ReportSystem& s) {
  const std::string colour(colour_name(s.headline.colour));
  out += "<div class=\"headline " + colour + "\"" + attr("id", "headline-" + s.system_identifier) +
         attr("data-colour", colour) + ">\n";
  std::string verdict = colour == "green"   ? "GREEN: backups ran, are verified and restorable"
                        : colour == "amber" ? "AMBER: needs attention"
                                            : "RED: action required";
  out += "<p class=\"verdict\">" + verdict + "</p>\n<table>\n";
  for (const HeadlineItem& item : s.headline.items) {
    const std::string c(colour_name(item.colour));
    out += "<tr class=\"item " + c + "\"" + attr("data-colour", c) + "><th>" +
           html_escape(item.label) + "</th><td><span class=\"badge " + c + "\">" + c +
           "</span></td><td>" + html_escape(item.value);
    if (!item.reason.empty()) out += "<br/><strong>Why: " + html_escape(item.reason) + "</strong>";
    out += "</td></tr>\n";
  }
  out +=
      "</table>\n<p class=\"source\">Source: the repository (backup.json of each backup, "
      "verifications/, restores/ and the archived WAL), the same figures as "
      "<code>pgvault metrics</code>.</p>\n</div>\n";
}

void render_calendar(std::string& out, const ReportSystem& s, const Report& report) {
  out += "<h3>Calendar (UTC days)</h3>\n<div class=\"calendar\"" +
         attr("id", "calendar-" + s.system_identifier) + ">\n";
  out +=
      "<p class=\"legend\"><span class=\"day completed\">completed</span> "
      "<span class=\"day failures\">only failures</span> "
      "<span class=\"day missed\">missed: scheduled, nothing ran</span> "
      "<span class=\"day nothing\">nothing</span> "
      "<span class=\"day completed with-failures\">completed, with failures</span></p>\n";
  if (s.calendar.empty()) out += "<p>No backup in the period and no schedule given.</p>\n";
  for (const CalendarRow& row : s.calendar) {
    out += "<div class=\"calendar-kind\"" + attr("data-kind", row.kind) +
           ">\n<span class=\"kind\">" + html_escape(row.kind) + "</span> <span class=\"source\">";
    const auto from = report.schedule_sources.find(row.kind);
    out += row.schedule.empty()
               ? "no schedule given: days without a backup are not marked missed"
               : "schedule " + html_escape(row.schedule) + " (UTC), from " +
                     html_escape(from == report.schedule_sources.end() ? "the command line"
                                                                       : from->second);
    out += "</span>\n";
    std::string month;
    for (const CalendarDay& d : row.days) {
      const std::string m = d.date.substr(0, 7);
      if (m != month) {
        if (!month.empty()) out += "</div>\n";
        month = m;
        out += "<div class=\"month\"><span class=\"label\">" + m + "</span>";
        // Pad to the day of the month so columns line up across months.
        const int dom = std::stoi(d.date.substr(8, 2));
        for (int i = 1; i < dom; ++i) out += "<span class=\"day outside\"></span>";
      }
      std::string cls = std::string("day ") + day_class(d.status);
      if (d.status == DayStatus::completed && d.failed > 0) cls += " with-failures";
      const std::string title = d.date + ": " + std::string(day_status_name(d.status)) + " (" +
                                std::to_string(d.completed) + " completed, " +
                                std::to_string(d.failed) + " failed)";
      out += "<span" + attr("class", cls) + attr("data-date", d.date) +
             attr("data-status", day_status_name(d.status)) +
             attr("data-completed", std::to_string(d.completed)) +
             attr("data-failed", std::to_string(d.failed)) + attr("title", title) + ">" +
             d.date.substr(8, 2) + "</span>";
    }
    if (!month.empty()) out += "</div>\n";
    out += "</div>\n";
  }
  out +=
      "<p class=\"source\">Source: the repository (complete backups, backup directories "
      "without backup.json, damaged backups)";
  if (!report.history.empty()) out += " and " + html_escape(report.history);
  out += "; missed days from the schedules named above";
  if (report.schedules.empty()) out += " (none given)";
  out += ", because the repository does not record the schedule a backup ran under.</p>\n";
  out += "</div>\n";
}

// One chart: series of (time, value) points over the period, failures as marks on the axis.
struct Series {
  std::string name;
  std::string colour;
  std::vector<std::pair<std::int64_t, double>> points;
  std::vector<std::string> titles;
};

void render_chart(std::string& out, const std::string& id, const std::string& title,
                  const std::vector<Series>& series, const std::vector<const ReportRun*>& failures,
                  const ReportPeriod& period, bool bytes) {
  const double w = 900, h = 260, left = 80, right = 20, top = 30, bottom = 40;
  const double pw = w - left - right, ph = h - top - bottom;
  double max = 0;
  for (const Series& s : series)
    for (const auto& [t, v] : s.points) max = std::max(max, v);
  if (max <= 0) max = 1;
  // A round top: 1, 2 or 5 times a power of 1024 (bytes) or 10 (seconds).
  const double base = bytes ? 1024 : 10;
  double scale = 1;
  while (scale * base <= max) scale *= base;
  double top_value = scale;
  for (double f : {1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0}) {
    top_value = scale * f;
    if (top_value >= max) break;
  }
  const double span = std::max<double>(1, static_cast<double>(period.until - period.since));
  auto x = [&](std::int64_t t) {
    return left + pw * std::clamp((t - period.since) / span, 0.0, 1.0);
  };
  auto y = [&](double v) { return top + ph * (1 - v / top_value); };
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\"" + attr("id", id) +
         " viewBox=\"0 0 900 260\" width=\"900\" height=\"260\" role=\"img\"" +
         attr("aria-label", title) + ">\n<title>" + html_escape(title) + "</title>\n";
  out += "<text x=\"" + fmt("%.0f", left) + "\" y=\"18\" font-size=\"13\" font-weight=\"bold\">" +
         html_escape(title) + "</text>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = top_value * i / 4;
    const std::string label = bytes ? human_size(static_cast<std::uint64_t>(v)) : seconds_text(v);
    out += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", w - right) + "\" y1=\"" +
           fmt("%.1f", y(v)) + "\" y2=\"" + fmt("%.1f", y(v)) +
           "\" stroke=\"#ddd\" stroke-width=\"1\"/>\n<text x=\"" + fmt("%.1f", left - 6) +
           "\" y=\"" + fmt("%.1f", y(v) + 4) + "\" font-size=\"10\" text-anchor=\"end\">" +
           html_escape(label) + "</text>\n";
  }
  // Date ticks: at most 8, on day boundaries.
  const std::int64_t days = std::max<std::int64_t>(1, (period.until - period.since) / kDay);
  const std::int64_t step = std::max<std::int64_t>(1, (days + 7) / 8) * kDay;
  for (std::int64_t t = utc_day_start(period.since) + kDay; t < period.until; t += step) {
    out += "<line x1=\"" + fmt("%.1f", x(t)) + "\" x2=\"" + fmt("%.1f", x(t)) + "\" y1=\"" +
           fmt("%.1f", top) + "\" y2=\"" + fmt("%.1f", top + ph) +
           "\" stroke=\"#eee\" stroke-width=\"1\"/>\n<text x=\"" + fmt("%.1f", x(t)) + "\" y=\"" +
           fmt("%.1f", h - bottom + 16) + "\" font-size=\"10\" text-anchor=\"middle\">" +
           iso_utc(t).substr(0, 10) + "</text>\n";
  }
  out += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", w - right) + "\" y1=\"" +
         fmt("%.1f", top + ph) + "\" y2=\"" + fmt("%.1f", top + ph) +
         "\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  double legend_x = w - right - 10;
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    const Series& s = *it;
    legend_x -= 12 + 7.0 * static_cast<double>(s.name.size()) + 16;
    out += "<rect x=\"" + fmt("%.1f", legend_x) + "\" y=\"9\" width=\"10\" height=\"10\" fill=\"" +
           s.colour + "\"/><text x=\"" + fmt("%.1f", legend_x + 14) +
           "\" y=\"18\" font-size=\"11\">" + html_escape(s.name) + "</text>\n";
    std::string path;
    for (const auto& [t, v] : s.points) path += fmt("%.1f", x(t)) + "," + fmt("%.1f", y(v)) + " ";
    if (s.points.size() > 1)
      out += "<polyline fill=\"none\" stroke=\"" + s.colour + "\" stroke-width=\"1.5\"" +
             attr("points", path) + "/>\n";
    for (std::size_t i = 0; i < s.points.size(); ++i) {
      out += "<circle class=\"point\" cx=\"" + fmt("%.1f", x(s.points[i].first)) + "\" cy=\"" +
             fmt("%.1f", y(s.points[i].second)) + "\" r=\"3\" fill=\"" + s.colour + "\"><title>" +
             html_escape(s.titles[i]) + "</title></circle>\n";
    }
  }
  for (const ReportRun* f : failures) {
    if (f->started_unix == 0) continue;
    const double fx = x(f->started_unix), fy = top + ph;
    out += "<g class=\"failure\"><title>" + html_escape(f->name + ": " + f->status) +
           "</title><line x1=\"" + fmt("%.1f", fx - 5) + "\" y1=\"" + fmt("%.1f", fy - 5) +
           "\" x2=\"" + fmt("%.1f", fx + 5) + "\" y2=\"" + fmt("%.1f", fy + 5) +
           "\" stroke=\"#c62828\" stroke-width=\"2.5\"/><line x1=\"" + fmt("%.1f", fx - 5) +
           "\" y1=\"" + fmt("%.1f", fy + 5) + "\" x2=\"" + fmt("%.1f", fx + 5) + "\" y2=\"" +
           fmt("%.1f", fy - 5) + "\" stroke=\"#c62828\" stroke-width=\"2.5\"/></g>\n";
  }
  out += "<text x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", h - 6) +
         "\" font-size=\"10\" fill=\"#c62828\">\xc3\x97 = a run that did not complete (" +
         std::to_string(failures.size()) + ")</text>\n</svg>\n";
}

void render_charts(std::string& out, const ReportSystem& s, const ReportPeriod& period) {
  Series stored{"stored", "#1565c0", {}, {}}, source{"source", "#9e9e9e", {}, {}};
  Series duration{"duration", "#6a1b9a", {}, {}};
  std::vector<const ReportRun*> failures;
  for (const ReportRun& r : s.runs) {
    if (r.failed()) {
      failures.push_back(&r);
      continue;
    }
    const std::string who = r.name + " (" + r.kind + ")";
    stored.points.emplace_back(r.started_unix, static_cast<double>(r.stored_bytes));
    stored.titles.push_back(who + ": " + human_size(r.stored_bytes) + " stored");
    source.points.emplace_back(r.started_unix, static_cast<double>(r.source_bytes));
    source.titles.push_back(who + ": " + human_size(r.source_bytes) + " read");
    if (r.duration_seconds) {
      duration.points.emplace_back(r.started_unix, *r.duration_seconds);
      duration.titles.push_back(who + ": " + seconds_text(*r.duration_seconds));
    }
  }
  out += "<h3>Size and duration</h3>\n";
  render_chart(out, "chart-size-" + s.system_identifier, "Stored and source size per backup",
               {source, stored}, failures, period, true);
  render_chart(out, "chart-duration-" + s.system_identifier, "Duration per backup", {duration},
               failures, period, false);
  out +=
      "<p class=\"source\">Source: backup.json of each complete backup (started_at, "
      "completed_at, source_bytes, stored_bytes); failures: backup directories without "
      "backup.json and damaged backup.json, placed by the time in their name.</p>\n";
}

void render_runs(std::string& out, const ReportSystem& s, const Report& report) {
  out += "<h3>Every run in the period (" + std::to_string(s.runs.size()) + ")</h3>\n";
  out += "<table class=\"runs\"" + attr("id", "runs-" + s.system_identifier) + ">\n<thead><tr>";
  for (const char* h :
       {"Name", "Kind", "Trigger", "Who", "Status", "Started (UTC)", "Duration", "Source", "Stored",
        "Compression", "Encryption", "Checksum (SHA-256)", "Verified", "Error"})
    out += std::string("<th>") + h + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const ReportRun& r : s.runs) {
    const bool completed = r.completed_run();
    std::string verified = "-";
    if (!r.verification.empty()) {
      verified = r.verification + " " + r.verified_at + " by " + r.verified_by;
      if (r.restore_tested) verified += " (restore-tested)";
    }
    out += "<tr" + attr("class", "run " + r.status) + attr("data-name", r.name) +
           attr("data-status", r.status) + attr("data-kind", r.kind) + ">";
    auto cell = [&](const std::string& v, const char* cls = nullptr) {
      out += std::string("<td") + (cls ? std::string(" class=\"") + cls + "\"" : "") + ">" +
             html_escape(v.empty() ? "-" : v) + "</td>";
    };
    cell(r.name);
    cell(r.kind);
    cell(r.trigger);
    cell(r.initiated_by);
    cell(r.source == "vault.history" ? r.status + " (vault.history)" : r.status);
    cell(r.started_at);
    cell(r.duration_seconds ? seconds_text(*r.duration_seconds) : "", "num");
    cell(completed ? human_size(r.source_bytes) : "", "num");
    cell(completed ? human_size(r.stored_bytes) : "", "num");
    cell(r.compression);
    cell(r.encryption);
    out += "<td class=\"hash\">" + html_escape(r.checksum.empty() ? "-" : r.checksum) + "</td>";
    cell(verified);
    cell(r.error, "error");
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n<p class=\"source\">Source: the repository";
  if (report.history.empty())
    out +=
        ". Runs that failed before writing anything to it (and skipped runs) are known to "
        "the database only: add --dbname to include vault.history.</p>\n";
  else
    out += " and " + html_escape(report.history) +
           " (a run marked (vault.history) is known to the database only).</p>\n";
}

void render_restores(std::string& out, const ReportSystem& s) {
  out += "<h3>Restores and restore tests in the period (" + std::to_string(s.restores.size()) +
         ")</h3>\n";
  out += "<table class=\"restores\"" + attr("id", "restores-" + s.system_identifier) +
         ">\n<thead><tr><th>Started (UTC)</th><th>What</th><th>Backup</th><th>Who</th>"
         "<th>Target</th><th>Recovery target</th><th>Outcome</th><th>Duration</th>"
         "<th>Written</th><th>Error</th></tr></thead>\n<tbody>\n";
  for (const RestoreRecord& r : s.restores) {
    std::string duration;
    try {
      duration = seconds_text(utc_seconds(r.finished_at) - utc_seconds(r.started_at));
    } catch (const Error&) {
    }
    out += "<tr" + attr("class", r.succeeded ? "restore" : "restore failed") +
           attr("data-backup", r.backup) + ">";
    for (const std::string& v :
         {r.started_at, r.restore, r.backup + " (" + r.kind + ")", r.restored_by, r.target,
          r.recovery_target, std::string(r.succeeded ? "succeeded" : "failed"), duration,
          human_size(r.bytes_written), r.error})
      out += "<td>" + html_escape(v.empty() ? "-" : v) + "</td>";
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  for (const std::string& u : s.unreadable_restore_records)
    out += "<p class=\"source\">Unreadable restore record: " + html_escape(u) + "</p>\n";
  out +=
      "<p class=\"source\">Source: the repository's restores/ records, written by "
      "<code>pgvault restore</code> and <code>pgvault verify --restore-test</code>; "
      "restore tests also show in the runs' Verified column (verifications/).</p>\n";
}

}  // namespace

std::string render_report_html(const Report& report) {
  const std::string csv_sha256 = sha256_hex(render_report_csv(report));
  const std::string since = iso_utc(report.period.since), until = iso_utc(report.period.until);
  std::string out;
  out +=
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
      "<meta charset=\"utf-8\"/>\n<title>pgvault backup report " +
      since.substr(0, 10) + " to " + until.substr(0, 10) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n";
  out += "<h1>Backup report</h1>\n<p>Repository <code>" + html_escape(report.repository) +
         "</code>, from " + human_utc(report.period.since) + " to " +
         human_utc(report.period.until) + ".</p>\n";
  if (report.systems.empty()) out += "<p>The repository holds nothing.</p>\n";
  for (const ReportSystem& s : report.systems) {
    out += "<section class=\"system\"" + attr("id", "system-" + s.system_identifier) + ">\n";
    out += "<h2>Database system " + html_escape(s.system_identifier) + "</h2>\n";
    render_headline(out, s);
    render_calendar(out, s, report);
    render_charts(out, s, report.period);
    render_runs(out, s, report);
    render_restores(out, s);
    out += "</section>\n";
  }
  std::string schedules;
  for (const auto& [kind, schedule] : report.schedules)
    schedules += (schedules.empty() ? "" : ", ") + kind + ": " + schedule.text();
  out += "<footer id=\"provenance\">\n<h3>How this report was made</h3>\n<table>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    out += "<tr><th>" + k + "</th><td>" + v + "</td></tr>\n";
  };
  row("Repository", "<code>" + html_escape(report.repository) + "</code>");
  row("Period", html_escape(since) + " to " + html_escape(until) + " (UTC, end excluded)");
  row("Schedules", schedules.empty() ? "none given" : html_escape(schedules) + " (UTC)");
  row("Generated at", html_escape(iso_utc(report.generated_unix)));
  row("By", "pgvault " + html_escape(report.pgvault_version));
  row("Sources",
      "the repository (backup.json, verifications/, restores/, archived WAL)" +
          (report.history.empty() ? std::string(" alone") : " and " + html_escape(report.history)));
  row("SHA-256 of the CSV",
      "<span class=\"hash\" id=\"csv-sha256\">" + csv_sha256 +
          "</span><br/>the table of runs "
          "as <code>pgvault report --format csv --since " +
          since + " --until " + until +
          "</code> (same repository options) writes it; pipe it through <code>sha256sum</code> to "
          "check this copy while the repository is unchanged");
  out += "</table>\n</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace pgvault
