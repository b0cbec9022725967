// Anomalies: a backup that completed but is much smaller, larger or slower
// than the recent backups of its kind — a zero-byte or suddenly halved dump
// is how a broken backup often first shows. Pure decision; the job worker
// (src/pg/history.cpp) feeds it vault.backups rows and queues the alert.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgvault::alert {

// What one completed backup measured.
struct BackupFigures {
  std::string name;
  std::int64_t duration_seconds = 0;          // started to completed
  std::optional<std::uint64_t> source_bytes;  // database files read / dump size
  std::optional<std::uint64_t> stored_bytes;  // bytes in the repository
};

// The rules (README.md, Alerts: fixed, not settings). Each figure is
// compared with the median of the same figure over up to `history` earlier
// backups, and only with at least `min_history` of them.
struct AnomalyRules {
  std::size_t history = 5;
  std::size_t min_history = 3;
  double smaller_ratio =
      0.5;  // below half the median: smaller (0 bytes always, if the median is not)
  double larger_ratio = 2.0;                    // above twice the median: larger
  std::uint64_t min_size_change = 1024 * 1024;  // and at least 1 MiB apart (tiny databases)
  double slower_ratio = 2.0;                    // longer than twice the median duration
  std::int64_t min_duration_change = 300;       // and at least 5 minutes longer
};

// The anomalies of `current` against `previous` (earlier completed backups
// it is comparable with, newest first; the caller chooses: same kind, and a
// logical one of the same database and selection). kind is vault.history's
// ("physical", "incremental", "logical"): an incremental's stored size
// follows the day's writes, so only its being larger counts.
// nullopt: nothing unusual (or too little history). Otherwise one sentence:
// "logical backup \"x\" stores 0 bytes, while the median of the last 5 is 2.1 MB; ..."
std::optional<std::string> backup_anomaly(const std::string& kind, const BackupFigures& current,
                                          const std::vector<BackupFigures>& previous,
                                          const AnomalyRules& rules = {});

}  // namespace pgvault::alert
