#include "pgvault/alert/anomaly.hpp"

#include "pgvault/alert/staleness.hpp"  // human_duration
#include "pgvault/text.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace pgvault::alert {

namespace {

template <class T>
std::optional<T> median(std::vector<T> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  if (values.size() % 2 == 1) return values[mid];
  return values[mid - 1] + (values[mid] - values[mid - 1]) / 2;
}

std::string percent(double part, double whole) {
  const double p = whole > 0 ? 100.0 * part / whole : 0;
  return std::to_string(static_cast<long long>(std::llround(p))) + "%";
}

}  // namespace

std::optional<std::string> backup_anomaly(const std::string& kind, const BackupFigures& current,
                                          const std::vector<BackupFigures>& previous,
                                          const AnomalyRules& rules) {
  const std::size_t n = std::min(previous.size(), rules.history);
  if (n < rules.min_history) return std::nullopt;
  const std::vector<BackupFigures> recent(previous.begin(), previous.begin() + n);
  std::vector<std::string> findings;

  auto size_rule = [&](const char* what, std::optional<std::uint64_t> BackupFigures::*field,
                       bool judge_smaller) {
    if (!(current.*field)) return;
    std::vector<std::uint64_t> values;
    for (const BackupFigures& b : recent)
      if (b.*field) values.push_back(*(b.*field));
    if (values.size() < rules.min_history) return;
    const std::uint64_t usual = *median(values);
    const std::uint64_t now = *(current.*field);
    const std::uint64_t diff = now > usual ? now - usual : usual - now;
    const std::string figures = human_size(now) + " against the usual " + human_size(usual);
    if (judge_smaller && now == 0 && usual > 0) {
      findings.push_back(std::string(what) + " 0 bytes against the usual " + human_size(usual));
    } else if (judge_smaller && static_cast<double>(now) < rules.smaller_ratio * usual &&
               diff >= rules.min_size_change) {
      findings.push_back(std::string(what) + " " + figures + ", " + percent(now, usual) + " of it");
    } else if (static_cast<double>(now) > rules.larger_ratio * usual &&
               diff >= rules.min_size_change) {
      findings.push_back(std::string(what) + " " + figures + ", " + percent(now, usual) + " of it");
    }
  };
  size_rule("it stores", &BackupFigures::stored_bytes, kind != "incremental");
  size_rule(kind == "logical" ? "its dump is" : "it read", &BackupFigures::source_bytes, true);

  std::vector<std::int64_t> durations;
  for (const BackupFigures& b : recent) durations.push_back(b.duration_seconds);
  const std::int64_t usual = *median(durations);
  if (static_cast<double>(current.duration_seconds) > rules.slower_ratio * usual &&
      current.duration_seconds - usual >= rules.min_duration_change)
    findings.push_back("it took " + human_duration(current.duration_seconds) +
                       " against the usual " + human_duration(usual) + ", " +
                       percent(current.duration_seconds, usual) + " of it");

  if (findings.empty()) return std::nullopt;
  std::string reason = kind + " backup \"" + current.name + "\" is unusual: ";
  for (std::size_t i = 0; i < findings.size(); ++i) reason += (i ? "; " : "") + findings[i];
  return reason + " (usual: the median of the last " + std::to_string(n) + " comparable backups)";
}

}  // namespace pgvault::alert
