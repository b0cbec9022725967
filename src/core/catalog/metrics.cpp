#include "pgvault/catalog/metrics.hpp"

#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_read.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

namespace pgvault {

namespace {

// The kinds a backup.json may name, in output order.
constexpr std::array<const char*, 3> kKinds = {"incremental", "logical", "physical"};

using Labels = std::vector<std::pair<std::string, std::string>>;

// Families in output order: name, type, help.
struct FamilyDefinition {
  const char* name;
  const char* type;
  const char* help;
};
constexpr FamilyDefinition kFamilies[] = {
    {"pgvault_backup_last_completion_timestamp_seconds", "gauge",
     "When the newest complete backup of this kind in the repository completed (Unix time)"},
    {"pgvault_backup_since_last_completion_seconds", "gauge",
     "Seconds since the newest complete backup of this kind in the repository completed"},
    {"pgvault_backup_last_duration_seconds", "gauge",
     "How long the newest complete backup of this kind took, from start to completion"},
    {"pgvault_backup_last_source_size_bytes", "gauge",
     "Bytes of database files (physical) or of the database (logical) the newest complete "
     "backup of this kind read"},
    {"pgvault_backup_last_stored_size_bytes", "gauge",
     "Bytes the newest complete backup of this kind stores in the repository"},
    {"pgvault_repository_backups", "gauge", "Complete backups of this kind in the repository"},
    {"pgvault_repository_backup_stored_bytes", "gauge",
     "Bytes the complete backups of this kind store in the repository"},
    {"pgvault_repository_incomplete_backups", "gauge",
     "Backup directories without backup.json: failed, cancelled or still running backups"},
    {"pgvault_repository_damaged_backups", "gauge",
     "Backups whose backup.json cannot be used (not restorable, never removed by cleanup)"},
    {"pgvault_verification_last_timestamp_seconds", "gauge",
     "When the newest verification of a backup of this kind in the repository finished (Unix "
     "time)"},
    {"pgvault_verification_since_last_seconds", "gauge",
     "Seconds since the newest verification of a backup of this kind in the repository"},
    {"pgvault_verification_last_status", "gauge",
     "1 when the newest verification of a backup of this kind passed, 0 when it failed"},
    {"pgvault_verification_failed_backups", "gauge",
     "Backups of this kind in the repository whose last verification failed"},
    {"pgvault_verification_unreadable_records", "gauge",
     "Verification records in the repository that cannot be read"},
    {"pgvault_wal_archived_segments", "gauge", "WAL segments archived in the repository"},
    {"pgvault_wal_archived_stored_bytes", "gauge",
     "Bytes the archived WAL (segments, partial, backup and history files) stores in the "
     "repository"},
    {"pgvault_wal_missing_segments", "gauge",
     "WAL segments missing between a timeline's first and last archived segment (gaps)"},
    {"pgvault_wal_last_archived_timestamp_seconds", "gauge",
     "When the newest archived WAL segment was stored (Unix time, as the store reports it)"},
    {"pgvault_wal_since_last_archived_seconds", "gauge",
     "Seconds since the newest archived WAL segment was stored"},
};

class Builder {
 public:
  Builder() {
    for (const FamilyDefinition& d : kFamilies) families_.push_back({d.name, d.type, d.help, {}});
  }
  void add(std::string_view name, Labels labels, double value) {
    for (MetricFamily& f : families_) {
      if (f.name == name) {
        f.samples.push_back({std::move(labels), value});
        return;
      }
    }
    throw Error(ErrorKind::internal, "metric " + std::string(name) + " is not defined");
  }
  std::vector<MetricFamily> finish() {
    std::vector<MetricFamily> out;
    for (MetricFamily& f : families_) {
      if (f.samples.empty()) continue;
      std::stable_sort(
          f.samples.begin(), f.samples.end(),
          [](const MetricSample& a, const MetricSample& b) { return a.labels < b.labels; });
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::vector<MetricFamily> families_;
};

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) throw Error(ErrorKind::internal, "cannot format a metric value");
  return std::string(buf, end);
}

// completed_at, or nullopt when it is missing or malformed (not from pgvault).
std::optional<double> completion_of(const BackupMeta& b) {
  try {
    return utc_seconds(b.completed_at);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

double utc_seconds(std::string_view iso_utc) {
  const std::int64_t whole = parse_utc_timestamp(iso_utc);
  double fraction = 0;
  const auto dot = iso_utc.find('.');
  if (dot != std::string_view::npos) {
    double scale = 0.1;
    for (std::size_t i = dot + 1; i < iso_utc.size() && iso_utc[i] >= '0' && iso_utc[i] <= '9';
         ++i, scale /= 10)
      fraction += (iso_utc[i] - '0') * scale;
  }
  return static_cast<double>(whole) + fraction;
}

std::vector<MetricFamily> repository_metrics(const RepositoryState& state, double now_unix) {
  Builder m;
  std::set<std::string> systems;
  for (const BackupMeta& b : state.backups.complete) systems.insert(b.system_identifier);
  for (const UnreadableBackup& d : state.backups.unreadable) systems.insert(d.system_identifier);
  for (const auto& [sysid, names] : state.incomplete) systems.insert(sysid);
  for (const WalCatalog& c : state.wal) systems.insert(c.system_identifier);

  for (const std::string& sysid : systems) {
    const Labels system = {{"system_identifier", sysid}};
    for (const char* kind : kKinds) {
      const Labels labels = {{"system_identifier", sysid}, {"kind", kind}};
      const BackupMeta* newest = nullptr;
      std::optional<double> newest_completion;
      std::uint64_t count = 0, stored = 0, failed_verifications = 0;
      const VerificationRecord* newest_verification = nullptr;
      double newest_verification_at = 0;
      for (const BackupMeta& b : state.backups.complete) {
        if (b.system_identifier != sysid || b.kind != kind) continue;
        ++count;
        stored += b.stored_bytes;
        const std::optional<double> completed = completion_of(b);
        if (completed && (!newest_completion || *completed >= *newest_completion)) {
          newest = &b;
          newest_completion = completed;
        }
        // Records of backups no longer in the repository do not count.
        if (const VerificationRecord* v = state.verifications.find(sysid, b.name)) {
          if (!v->passed) ++failed_verifications;
          const double at = utc_seconds(v->verified_at);  // checked by from_json
          if (newest_verification == nullptr || at >= newest_verification_at) {
            newest_verification = v;
            newest_verification_at = at;
          }
        }
      }
      if (newest != nullptr) {
        m.add("pgvault_backup_last_completion_timestamp_seconds", labels, *newest_completion);
        m.add("pgvault_backup_since_last_completion_seconds", labels,
              std::max(0.0, now_unix - *newest_completion));
        try {
          m.add("pgvault_backup_last_duration_seconds", labels,
                std::max(0.0, *newest_completion - utc_seconds(newest->started_at)));
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::internal) throw;  // started_at unknown: no duration
        }
        m.add("pgvault_backup_last_source_size_bytes", labels,
              static_cast<double>(newest->source_bytes));
        m.add("pgvault_backup_last_stored_size_bytes", labels,
              static_cast<double>(newest->stored_bytes));
      }
      m.add("pgvault_repository_backups", labels, static_cast<double>(count));
      m.add("pgvault_repository_backup_stored_bytes", labels, static_cast<double>(stored));
      if (newest_verification != nullptr) {
        m.add("pgvault_verification_last_timestamp_seconds", labels, newest_verification_at);
        m.add("pgvault_verification_since_last_seconds", labels,
              std::max(0.0, now_unix - newest_verification_at));
        m.add("pgvault_verification_last_status", labels, newest_verification->passed ? 1 : 0);
      }
      m.add("pgvault_verification_failed_backups", labels,
            static_cast<double>(failed_verifications));
    }
    auto incomplete = state.incomplete.find(sysid);
    m.add(
        "pgvault_repository_incomplete_backups", system,
        incomplete == state.incomplete.end() ? 0 : static_cast<double>(incomplete->second.size()));
    m.add("pgvault_repository_damaged_backups", system,
          static_cast<double>(std::count_if(
              state.backups.unreadable.begin(), state.backups.unreadable.end(),
              [&](const UnreadableBackup& d) { return d.system_identifier == sysid; })));
    m.add("pgvault_verification_unreadable_records", system,
          static_cast<double>(std::count_if(
              state.verifications.unreadable.begin(), state.verifications.unreadable.end(),
              [&](const UnreadableVerification& v) { return v.system_identifier == sysid; })));
  }

  for (const WalCatalog& catalog : state.wal) {
    if (catalog.empty()) continue;
    const Labels system = {{"system_identifier", catalog.system_identifier}};
    std::uint64_t segments = 0, stored = 0, missing = 0;
    std::int64_t newest_mtime = 0;
    for (const auto& [tli, t] : catalog.timelines) {
      segments += t.segments.size();
      for (const WalArchivedObject& o : t.all_objects) stored += o.stored_size;
      if (t.history_object) stored += t.history_object->stored_size;
      for (const WalSegmentRange& gap : t.gaps) missing += gap.count();
      for (const WalArchivedObject& s : t.segments)
        newest_mtime = std::max(newest_mtime, s.mtime_unix);
    }
    m.add("pgvault_wal_archived_segments", system, static_cast<double>(segments));
    m.add("pgvault_wal_archived_stored_bytes", system, static_cast<double>(stored));
    m.add("pgvault_wal_missing_segments", system, static_cast<double>(missing));
    if (newest_mtime > 0) {
      m.add("pgvault_wal_last_archived_timestamp_seconds", system,
            static_cast<double>(newest_mtime));
      m.add("pgvault_wal_since_last_archived_seconds", system,
            std::max(0.0, now_unix - static_cast<double>(newest_mtime)));
    }
  }
  return m.finish();
}

RepositoryState read_repository_state(Repository& repo, const std::string& system_identifier,
                                      const KeyProvider& keys) {
  RepositoryState state;
  state.backups = repo.list_all(system_identifier);
  std::vector<std::string> systems;
  if (!system_identifier.empty())
    systems.push_back(system_identifier);
  else
    systems = repo.system_identifiers();
  for (const std::string& sysid : systems) {
    // Per system: one listing of its "verifications/" only, never the whole repository's.
    VerificationListing records = read_verification_records(repo, sysid);
    state.verifications.records.merge(records.records);
    for (auto& u : records.unreadable) state.verifications.unreadable.push_back(std::move(u));
    std::vector<std::string> incomplete = repo.incomplete_backups(sysid);
    if (!incomplete.empty()) state.incomplete[sysid] = std::move(incomplete);
    try {
      validate_wal_system_identifier(sysid);
    } catch (const Error&) {
      continue;  // not a database system's directory: no pgvault WAL there
    }
    WalCatalog catalog = read_wal_catalog(repo.storage(), sysid, state.backups.complete, keys);
    if (!catalog.empty()) state.wal.push_back(std::move(catalog));
  }
  return state;
}

std::string render_prometheus_text(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& f : families) {
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " + f.type + "\n";
    for (const MetricSample& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += "{";
        for (std::size_t i = 0; i < s.labels.size(); ++i) {
          if (i > 0) out += ",";
          out += s.labels[i].first + "=\"" + escape_label_value(s.labels[i].second) + "\"";
        }
        out += "}";
      }
      out += " " + format_value(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace pgvault
