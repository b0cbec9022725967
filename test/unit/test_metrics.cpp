// Repository metrics (catalog/metrics.hpp) and verification records
// (catalog/verification_record.hpp) on a hand-built repository.
#include "doubles/forwarding_storage.hpp"
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/metrics.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

using namespace pgvault;

namespace {

constexpr const char* kSys = "7291450313927315981";
constexpr const char* kOtherSys = "7300000000000000001";

BackupMeta backup(const std::string& name, const std::string& kind, const std::string& started,
                  const std::string& completed, std::uint64_t source, std::uint64_t stored,
                  const std::string& sysid = kSys) {
  BackupMeta m;
  m.name = name;
  m.kind = kind;
  if (kind == "incremental") {
    m.format_version = BackupMeta::kIncrementalFormatVersion;
    m.parent = "20261201T000000Z-physical";
  }
  m.trigger = "manual";
  m.system_identifier = sysid;
  m.pg_version = 150004;
  m.started_at = started;
  m.completed_at = completed;
  m.source_bytes = source;
  m.stored_bytes = stored;
  m.objects = {{"base.tar", stored, std::string(64, 'a')}};
  return m;
}

void put_backup(Repository& repo, const BackupMeta& m) {
  for (const auto& o : m.objects)
    repo.storage().write_all(Repository::object_path(m.system_identifier, m.name, o.name), "x");
  repo.write_meta(m);
}

VerificationRecord record(const BackupMeta& b, const std::string& at, bool passed,
                          const std::string& error = "") {
  VerificationRecord r;
  r.backup = b.name;
  r.system_identifier = b.system_identifier;
  r.kind = b.kind;
  r.verified_at = at;
  r.passed = passed;
  r.error = error;
  r.verified_by = "pgvault verify";
  r.objects = 1;
  r.bytes_read = b.stored_bytes;
  return r;
}

// name{labels} -> value, from the families (each sample once).
std::map<std::string, double> samples(const std::vector<MetricFamily>& families) {
  std::map<std::string, double> out;
  for (const MetricFamily& f : families) {
    for (const MetricSample& s : f.samples) {
      std::string key = f.name + "{";
      for (std::size_t i = 0; i < s.labels.size(); ++i)
        key += (i ? "," : "") + s.labels[i].first + "=" + s.labels[i].second;
      key += "}";
      EXPECT_FALSE(out.contains(key)) << key << " twice";
      out[key] = s.value;
    }
  }
  return out;
}

std::string k(const std::string& name, const std::string& kind, const std::string& sysid = kSys) {
  return name + "{system_identifier=" + sysid + (kind.empty() ? "" : ",kind=" + kind) + "}";
}

// A store that refuses every write, as read-only credentials do.
class ReadOnlyStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::unique_ptr<ObjectWriter> open_write(const std::string& p) override {
    throw Error(ErrorKind::storage, "PUT " + p + ": 403 AccessDenied");
  }
  void remove(const std::string& p) override {
    throw Error(ErrorKind::storage, "DELETE " + p + ": 403 AccessDenied");
  }
};

}  // namespace

// ---- verification records -----------------------------------------------------------

TEST(VerificationRecord, JsonRoundTripAndPath) {
  const BackupMeta b = backup("20261201T000000Z-physical", "physical", "2026-12-01T00:00:00Z",
                              "2026-12-01T00:01:00Z", 100, 50);
  VerificationRecord r =
      record(b, "2026-12-02T10:00:00.250Z", false, "object base.tar: SHA-256 mismatch");
  r.restore_test = true;
  const VerificationRecord back = VerificationRecord::from_json(r.to_json());
  EXPECT_EQ(back.format_version, 1);
  EXPECT_EQ(back.backup, r.backup);
  EXPECT_EQ(back.system_identifier, kSys);
  EXPECT_EQ(back.kind, "physical");
  EXPECT_EQ(back.verified_at, r.verified_at);
  EXPECT_FALSE(back.passed);
  EXPECT_EQ(back.error, r.error);
  EXPECT_TRUE(back.restore_test);
  EXPECT_EQ(back.bytes_read, 50u);
  EXPECT_EQ(nlohmann::json::parse(r.to_json())["status"], "failed");
  EXPECT_EQ(verification_record_path(kSys, b.name),
            std::string(kSys) + "/verifications/20261201T000000Z-physical.json");
  EXPECT_THROW(verification_record_path(kSys, "../x"), Error);
  EXPECT_THROW(verification_record_path("a/b", b.name), Error);
}

TEST(VerificationRecord, MalformedRecordsAreRefusedWithTheReason) {
  const BackupMeta b = backup("20261201T000000Z-physical", "physical", "2026-12-01T00:00:00Z",
                              "2026-12-01T00:01:00Z", 100, 50);
  const std::string good = record(b, "2026-12-02T10:00:00Z", true).to_json();
  auto with = [&](const std::string& field, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(good);
    j[field] = value;
    return j.dump();
  };
  auto without = [&](const std::string& field) {
    auto j = nlohmann::json::parse(good);
    j.erase(field);
    return j.dump();
  };
  auto message = [](const std::string& text) {
    try {
      VerificationRecord::from_json(text);
    } catch (const Error& e) {
      return std::string(error_kind_name(e.kind())) + ": " + e.what();
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("{not json").find("corrupt: verification record is not valid JSON"),
            std::string::npos);
  EXPECT_EQ(message("[1]"), "corrupt: verification record is not a JSON object");
  EXPECT_EQ(message(with("status", "ok")),
            "corrupt: verification record: \"status\" is missing or not \"passed\" or \"failed\"");
  EXPECT_EQ(message(with("verified_at", "yesterday")),
            "corrupt: verification record: \"verified_at\" is missing or not an ISO 8601 UTC time "
            "(YYYY-MM-DDTHH:MM:SS[.fff]Z)");
  EXPECT_EQ(message(with("objects", -1)),
            "corrupt: verification record: \"objects\" is missing or not a non-negative integer");
  EXPECT_EQ(message(without("backup")),
            "corrupt: verification record: \"backup\" is missing or not a non-empty string");
  EXPECT_EQ(message(with("status", "failed")),
            "corrupt: verification record: \"error\" is missing or not a non-empty string");
  EXPECT_EQ(message(with("error", "x")),
            "corrupt: verification record: \"error\" is missing or not null when the status is "
            "\"passed\"");
  EXPECT_EQ(message(with("format_version", 2)),
            "unsupported: verification record format_version 2 is newer than this pgvault "
            "understands (1); upgrade pgvault to read it");
  EXPECT_EQ(message(with("unknown_later_field", 1)), "accepted");
}

TEST(VerificationRecord, ListingKeepsGoodRecordsAndNamesBadOnes) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  const BackupMeta b = backup("20261201T000000Z-physical", "physical", "2026-12-01T00:00:00Z",
                              "2026-12-01T00:01:00Z", 100, 50);
  put_backup(repo, b);
  write_verification_record(repo, record(b, "2026-12-02T10:00:00Z", true));
  storage->write_all(std::string(kSys) + "/verifications/20261202T000000Z-logical.json", "{}");
  // A record that names another backup than its key is not trusted.
  VerificationRecord other = record(b, "2026-12-02T10:00:00Z", true);
  storage->write_all(std::string(kSys) + "/verifications/20261203T000000Z-physical.json",
                     other.to_json());
  storage->write_all(std::string(kSys) + "/verifications/README", "not a record");

  const VerificationListing listing = read_verification_records(repo, kSys);
  ASSERT_EQ(listing.records.size(), 1u);
  ASSERT_NE(listing.find(kSys, b.name), nullptr);
  EXPECT_TRUE(listing.find(kSys, b.name)->passed);
  ASSERT_EQ(listing.unreadable.size(), 2u);
  EXPECT_EQ(listing.unreadable[0].backup, "20261202T000000Z-logical");
  EXPECT_NE(listing.unreadable[0].error.find("\"format_version\" is missing"), std::string::npos)
      << listing.unreadable[0].error;
  EXPECT_NE(listing.unreadable[1].error.find(
                "verification record describes backup \"20261201T000000Z-physical\""),
            std::string::npos)
      << listing.unreadable[1].error;

  // Removing the backup removes its record.
  repo.remove_backup(kSys, b.name);
  EXPECT_EQ(read_verification_records(repo, kSys).find(kSys, b.name), nullptr);
}

TEST(VerificationRecord, ReadOnlyStoreGivesAWarningNotAnError) {
  auto storage = make_memory_storage();
  Repository writable(*storage);
  const BackupMeta b = backup("20261201T000000Z-physical", "physical", "2026-12-01T00:00:00Z",
                              "2026-12-01T00:01:00Z", 100, 50);
  put_backup(writable, b);
  ReadOnlyStorage read_only(*storage);
  Repository repo(read_only);
  const auto warning = record_verification(repo, record(b, "2026-12-02T10:00:00Z", true));
  ASSERT_TRUE(warning.has_value());
  EXPECT_EQ(*warning,
            "the outcome of verifying backup \"20261201T000000Z-physical\" was not "
            "recorded in the repository (" +
                std::string(kSys) + "/verifications/20261201T000000Z-physical.json): PUT " + kSys +
                "/verifications/20261201T000000Z-physical.json: 403 AccessDenied");
  EXPECT_FALSE(record_verification(writable, record(b, "2026-12-02T10:00:00Z", true)).has_value());
}

// ---- metrics ------------------------------------------------------------------------

TEST(Metrics, FiguresOfTheNewestBackupOfEachKindCountsAndVerifications) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  const BackupMeta p1 = backup("20261201T000000Z-physical", "physical", "2026-12-01T00:00:00Z",
                               "2026-12-01T00:10:00.500Z", 1000, 400);
  const BackupMeta p2 = backup("20261202T000000Z-physical", "physical", "2026-12-02T00:00:00Z",
                               "2026-12-02T00:02:30.250Z", 2000, 700);
  const BackupMeta i1 = backup("20261202T060000Z-incremental", "incremental",
                               "2026-12-02T06:00:00Z", "2026-12-02T06:00:20Z", 2000, 30);
  const BackupMeta l1 = backup("20261202T010000Z-logical", "logical", "2026-12-02T01:00:00Z",
                               "2026-12-02T01:00:05Z", 300, 90);
  const BackupMeta o1 = backup("20261202T000000Z-physical", "physical", "2026-12-02T00:00:00Z",
                               "2026-12-02T00:01:00Z", 5, 5, kOtherSys);
  for (const auto& b : {p1, p2, i1, l1, o1}) put_backup(repo, b);
  // A failed backup's leftovers and a damaged backup.json.
  storage->write_all(Repository::object_path(kSys, "20261203T000000Z-physical", "base.tar"), "x");
  storage->write_all(Repository::object_path(kSys, "20261203T010000Z-physical", "backup.json"),
                     "{broken");
  write_verification_record(repo, record(p1, "2026-12-03T00:00:00Z", false, "SHA-256 mismatch"));
  write_verification_record(repo, record(p2, "2026-12-02T12:00:00.5Z", true));
  write_verification_record(repo, record(l1, "2026-12-02T13:00:00Z", true));
  // A record of a backup no longer in the repository counts for nothing.
  storage->write_all(verification_record_path(kSys, "20261101T000000Z-physical"),
                     record(backup("20261101T000000Z-physical", "physical", "2026-11-01T00:00:00Z",
                                   "2026-11-01T00:01:00Z", 1, 1),
                            "2026-12-04T00:00:00Z", false, "gone")
                         .to_json());

  const double now = utc_seconds("2026-12-04T00:00:00Z");
  const RepositoryState state = read_repository_state(repo, "", nullptr);
  const auto m = samples(repository_metrics(state, now));

  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_completion_timestamp_seconds", "physical")),
                   utc_seconds("2026-12-02T00:02:30.250Z"));
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_since_last_completion_seconds", "physical")),
                   now - utc_seconds("2026-12-02T00:02:30.250Z"));
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_duration_seconds", "physical")), 150.25);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_source_size_bytes", "physical")), 2000);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_stored_size_bytes", "physical")), 700);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_stored_size_bytes", "incremental")), 30);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_duration_seconds", "logical")), 5);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_backups", "physical")), 2);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_backups", "logical")), 1);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_backup_stored_bytes", "physical")), 1100);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_incomplete_backups", "")), 1);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_damaged_backups", "")), 1);
  // The newest verification of a physical backup is p1's (failed), though p2 is newer.
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_last_timestamp_seconds", "physical")),
                   utc_seconds("2026-12-03T00:00:00Z"));
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_since_last_seconds", "physical")), 86400);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_last_status", "physical")), 0);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_failed_backups", "physical")), 1);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_last_status", "logical")), 1);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_failed_backups", "logical")), 0);
  EXPECT_FALSE(m.contains(k("pgvault_verification_last_status", "incremental")));
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_verification_unreadable_records", "")), 0);
  // Another system: its own series; counts of kinds it has none of are 0.
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_backup_last_stored_size_bytes", "physical", kOtherSys)), 5);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_backups", "logical", kOtherSys)), 0);
  EXPECT_FALSE(m.contains(k("pgvault_backup_last_stored_size_bytes", "logical", kOtherSys)));

  // --system-id: that system's series only.
  const auto only =
      samples(repository_metrics(read_repository_state(repo, kOtherSys, nullptr), now));
  for (const auto& [key, value] : only) EXPECT_NE(key.find(kOtherSys), std::string::npos) << key;
}

TEST(Metrics, ArchivedWal) {
  const std::string sysid = kSys;
  auto segment = [&](TimelineId tli, WalSegmentNo segno, std::int64_t mtime) {
    const WalFileName f = WalFileName::segment(tli, segno, kDefaultWalSegmentSize);
    return ObjectInfo{wal_object_key(sysid, f, std::string(64, 'b'), Compression::zstd), 1000,
                      mtime};
  };
  // Segments 1, 2 and 5 of timeline 1: 3 and 4 are missing.
  const std::vector<ObjectInfo> listing = {segment(1, 1, 1000), segment(1, 2, 2000),
                                           segment(1, 5, 3000)};
  RepositoryState state;
  state.wal.push_back(build_wal_catalog(listing, sysid, kDefaultWalSegmentSize,
                                        [](const std::string&) -> std::string { return ""; }));
  const auto m = samples(repository_metrics(state, 3600));
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_wal_archived_segments", "")), 3);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_wal_archived_stored_bytes", "")), 3000);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_wal_missing_segments", "")), 2);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_wal_last_archived_timestamp_seconds", "")), 3000);
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_wal_since_last_archived_seconds", "")), 600);
  // A system with WAL and no backup still has its backup counts (0).
  EXPECT_DOUBLE_EQ(m.at(k("pgvault_repository_backups", "physical")), 0);
}

TEST(Metrics, PrometheusTextFormat) {
  std::vector<MetricFamily> families = {
      {"pgvault_a_bytes",
       "gauge",
       "Bytes of a",
       {{{{"system_identifier", "1"}, {"kind", "x\"y\\z\nw"}}, 1234567890}}},
      {"pgvault_b_seconds", "gauge", "Seconds of b", {{{}, 0.25}}},
  };
  EXPECT_EQ(render_prometheus_text(families),
            "# HELP pgvault_a_bytes Bytes of a\n"
            "# TYPE pgvault_a_bytes gauge\n"
            "pgvault_a_bytes{system_identifier=\"1\",kind=\"x\\\"y\\\\z\\nw\"} 1234567890\n"
            "# HELP pgvault_b_seconds Seconds of b\n"
            "# TYPE pgvault_b_seconds gauge\n"
            "pgvault_b_seconds 0.25\n");

  // Stable: families in their defined order, samples sorted; nothing for an empty repository.
  EXPECT_EQ(render_prometheus_text(repository_metrics(RepositoryState{}, 0)), "");
  RepositoryState state;
  state.backups.complete = {
      backup("b", "physical", "2026-12-01T00:00:00Z", "2026-12-01T00:00:01Z", 1, 1, kOtherSys),
      backup("a", "physical", "2026-12-01T00:00:00Z", "2026-12-01T00:00:01Z", 1, 1)};
  const std::string text = render_prometheus_text(repository_metrics(state, 100000));
  EXPECT_EQ(text, render_prometheus_text(repository_metrics(state, 100000)));
  EXPECT_LT(text.find("pgvault_backup_last_completion_timestamp_seconds{system_identifier=\"" +
                      std::string(kSys)),
            text.find("pgvault_backup_last_completion_timestamp_seconds{system_identifier=\"" +
                      std::string(kOtherSys)));
  EXPECT_LT(text.find("# TYPE pgvault_backup_last_completion_timestamp_seconds gauge"),
            text.find("# TYPE pgvault_repository_backups gauge"));
}

TEST(Metrics, UtcSecondsKeepsTheFraction) {
  EXPECT_DOUBLE_EQ(utc_seconds("1970-01-01T00:00:01.5Z"), 1.5);
  EXPECT_DOUBLE_EQ(utc_seconds("1970-01-01T00:01:00Z"), 60);
  EXPECT_THROW(utc_seconds("yesterday"), Error);
}
