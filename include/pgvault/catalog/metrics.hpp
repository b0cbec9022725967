// Metrics a monitoring stack scrapes, computed from the repository alone
// (`pgvault metrics`, node_exporter's textfile collector) and rendered in
// the Prometheus text exposition format (version 0.0.4, which OpenMetrics
// parsers read too).
//
// Contract:
//  - Every figure is in base units (seconds, bytes) and named as Prometheus'
//    naming practice and the backup exporters people already run
//    (pgbackrest_exporter's pgbackrest_backup_since_last_completion_seconds,
//    ..._last_duration_seconds, ..._size_bytes) name theirs: "pgvault_"
//    prefix, "_seconds" / "_bytes" unit suffix, "_timestamp_seconds" for Unix
//    times, "_total" for counters only.
//  - Labels: system_identifier (the database system, as in the repository's
//    layout) and, for per-backup figures, kind ("physical", "incremental",
//    "logical").
//  - Families come in the order of kMetricFamilies, each sample sorted by its
//    labels; a family with no sample is left out. A "last" figure of a kind
//    exists when the repository holds a complete backup of that kind; the
//    counts are there (0) for every kind of every system the repository
//    knows. Nothing read from the repository throws here: damaged backups
//    and unreadable verification records are counted.
//  - vault.metrics (SQL) gives the figures it can know with the same names
//    and meanings from vault.backups and the archiver's state (README.md).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"  // KeyProvider
#include "pgvault/wal/wal_catalog.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvault {

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;  // in output order
  double value = 0;
};

struct MetricFamily {
  std::string name;
  std::string type;  // "gauge" or "counter"
  std::string help;
  std::vector<MetricSample> samples;
};

// What the repository holds, read once (see collect_repository_metrics).
struct RepositoryState {
  RepositoryListing backups;
  // Names of the backup directories with objects but no backup.json
  // (failed, cancelled or running backups), by system identifier.
  std::map<std::string, std::vector<std::string>> incomplete;
  VerificationListing verifications;
  std::vector<WalCatalog> wal;  // per system that has archived WAL
};

// The metrics of state at now_unix (seconds since the epoch, UTC).
std::vector<MetricFamily> repository_metrics(const RepositoryState& state, double now_unix);

// Reads state from the repository: the backups of system_identifier (empty:
// every system), their verification records and archived WAL (history files
// read with keys).
RepositoryState read_repository_state(Repository& repo, const std::string& system_identifier,
                                      const KeyProvider& keys);

// The families as Prometheus text: "# HELP", "# TYPE" and one line per
// sample; label values escaped (\\, \", \n).
std::string render_prometheus_text(const std::vector<MetricFamily>& families);

// Seconds since the epoch of an ISO 8601 UTC time as backup.json writes it
// ("2026-11-24T06:15:30.123Z"), with its fraction. Throws like
// parse_utc_timestamp.
double utc_seconds(std::string_view iso_utc);

}  // namespace pgvault
