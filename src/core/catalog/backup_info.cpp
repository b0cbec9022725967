#include "pgvault/catalog/backup_info.hpp"

#include "pgvault/error.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <nlohmann/json.hpp>

namespace pgvault {
namespace {

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z", fractions included.
std::optional<double> timestamp_seconds(const std::string& iso) {
  if (iso.empty()) return std::nullopt;
  try {
    double seconds = static_cast<double>(parse_utc_timestamp(iso));
    const auto dot = iso.find('.');
    if (dot != std::string::npos) {
      double scale = 0.1;
      for (std::size_t i = dot + 1; i < iso.size() && iso[i] >= '0' && iso[i] <= '9'; ++i) {
        seconds += (iso[i] - '0') * scale;
        scale /= 10;
      }
    }
    return seconds;
  } catch (const Error&) {
    return std::nullopt;
  }
}

nlohmann::ordered_json or_null(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

template <typename T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::optional<double> backup_duration_seconds(const BackupMeta& meta) {
  const auto start = timestamp_seconds(meta.started_at);
  const auto end = timestamp_seconds(meta.completed_at);
  if (!start || !end || *end < *start) return std::nullopt;
  return *end - *start;
}

std::optional<double> compression_ratio(const BackupMeta& meta) {
  if (meta.stored_bytes == 0) return std::nullopt;
  return static_cast<double>(meta.source_bytes) / static_cast<double>(meta.stored_bytes);
}

BackupWalInfo backup_wal_segments(const BackupMeta& meta, std::uint64_t wal_segment_size) {
  BackupWalInfo wal;
  wal.segment_size = wal_segment_size;
  if (meta.start_lsn.empty() || meta.stop_lsn.empty() || meta.timeline == 0) return wal;
  const Lsn start = parse_lsn(meta.start_lsn);
  Lsn stop = parse_lsn(meta.stop_lsn);
  // The stop LSN is where the next record would go: when it is a segment's
  // first byte, the backup's WAL ends in the segment before.
  if (stop.value > start.value) stop.value -= 1;
  wal.first_segment =
      wal_segment_name(meta.timeline, wal_segment_of(start, wal_segment_size), wal_segment_size);
  wal.last_segment =
      wal_segment_name(meta.timeline, wal_segment_of(stop, wal_segment_size), wal_segment_size);
  return wal;
}

std::string backup_info_json(const BackupInfo& info) {
  const BackupMeta& m = info.meta;
  nlohmann::ordered_json j;
  j["name"] = m.name;
  j["kind"] = m.kind;
  j["parent"] = or_null(m.parent);
  if (m.kind == "incremental") {
    j["chain"] = info.chain_error.empty() ? nlohmann::ordered_json(info.chain) : nullptr;
    j["chain_error"] = or_null(info.chain_error);
  } else {
    j["chain"] = nullptr;
    j["chain_error"] = nullptr;
  }
  j["system_identifier"] = m.system_identifier;
  j["pg_version"] = m.pg_version;
  j["database"] = or_null(m.database);
  j["label"] = or_null(m.label);
  j["trigger"] = or_null(m.trigger);
  j["initiated_by"] = or_null(m.initiated_by);
  j["started_at"] = or_null(m.started_at);
  j["completed_at"] = or_null(m.completed_at);
  j["duration_seconds"] = or_null(backup_duration_seconds(m));
  j["timeline"] = m.is_physical() ? nlohmann::ordered_json(m.timeline) : nullptr;
  j["start_lsn"] = or_null(m.start_lsn);
  j["stop_lsn"] = or_null(m.stop_lsn);
  j["source_bytes"] = m.source_bytes;
  j["stored_bytes"] = m.stored_bytes;
  j["compression_ratio"] = or_null(compression_ratio(m));
  j["compression"] = {
      {"algorithm", m.compression},
      {"level", m.compression == "none" ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(m.compression_level)},
      {"compressed_by", m.compressed_by}};
  j["encryption"] = {{"algorithm", m.encryption},
                     {"key_fingerprint", or_null(m.key_fingerprint)},
                     {"key_derivation", or_null(m.key_derivation)}};
  j["digest"] = m.digest();
  nlohmann::ordered_json objects = nlohmann::ordered_json::array();
  for (const ObjectEntry& o : m.objects)
    objects.push_back({{"name", o.name}, {"size", o.size}, {"sha256", o.sha256}});
  j["objects"] = std::move(objects);
  if (info.verification) {
    const VerificationRecord& v = *info.verification;
    j["verification"] = {{"status", v.passed ? "passed" : "failed"},
                         {"verified_at", v.verified_at},
                         {"verified_by", v.verified_by},
                         {"restore_test", v.restore_test},
                         {"error", or_null(v.error)}};
  } else if (!info.verification_error.empty()) {
    j["verification"] = {{"status", "unreadable"}, {"error", info.verification_error}};
  } else {
    j["verification"] = nullptr;
  }
  if (info.wal) {
    const BackupWalInfo& w = *info.wal;
    nlohmann::ordered_json wal;
    wal["segment_size"] = w.segment_size;
    wal["included"] = {{"first", or_null(w.first_segment)}, {"last", or_null(w.last_segment)}};
    if (w.archive) {
      wal["archive"] = {{"any", w.archive->any},
                        {"continuous_to", or_null(w.archive->continuous_to)},
                        {"to_timeline", w.archive->to_timeline == 0
                                            ? nlohmann::ordered_json(nullptr)
                                            : nlohmann::ordered_json(w.archive->to_timeline)},
                        {"first_missing", or_null(w.archive->first_missing)},
                        {"problem", or_null(w.archive->problem)}};
    } else {
      wal["archive"] = nullptr;
    }
    j["wal"] = std::move(wal);
  } else {
    j["wal"] = nullptr;
  }
  return j.dump(2);
}

}  // namespace pgvault
