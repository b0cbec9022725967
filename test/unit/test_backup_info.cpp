// pgvault info's JSON (catalog/backup_info.hpp): every member, present with
// null where it does not apply, for a full, an incremental and a logical
// backup; the duration, ratio and the WAL segments a backup holds.
#include "pgvault/catalog/backup_info.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

using namespace pgvault;
using json = nlohmann::ordered_json;

namespace {

BackupMeta full_backup() {
  BackupMeta m;
  m.name = "20261205T101500Z-physical";
  m.kind = "physical";
  m.trigger = "manual";
  m.initiated_by = "postgres";
  m.database = "postgres";
  m.system_identifier = "7301234567890123456";
  m.pg_version = 150005;
  m.timeline = 1;
  m.wal_segment_size = 16 * 1024 * 1024;
  m.start_lsn = "0/2000028";
  m.stop_lsn = "0/3000000";  // a segment's first byte: the WAL ends in the one before
  m.started_at = "2026-12-05T10:15:00.250Z";
  m.completed_at = "2026-12-05T10:15:12.750Z";
  m.compression = "zstd";
  m.compression_level = 3;
  m.compressed_by = "server";
  m.encryption = "aes-256-gcm";
  m.key_fingerprint = "ab12cd34";
  m.key_derivation = "raw";
  m.source_bytes = 30 * 1024 * 1024;
  m.stored_bytes = 4 * 1024 * 1024;
  m.objects = {{"backup_manifest", 1024, std::string(64, 'a')},
               {"base.tar.zst", 4 * 1024 * 1024 - 1024, std::string(64, 'b')}};
  return m;
}

std::vector<std::string> keys(const json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

const std::vector<std::string> kTopLevel = {"name",         "kind",
                                            "parent",       "chain",
                                            "chain_error",  "system_identifier",
                                            "pg_version",   "database",
                                            "label",        "trigger",
                                            "initiated_by", "started_at",
                                            "completed_at", "duration_seconds",
                                            "timeline",     "start_lsn",
                                            "stop_lsn",     "source_bytes",
                                            "stored_bytes", "compression_ratio",
                                            "compression",  "encryption",
                                            "digest",       "objects",
                                            "verification", "wal"};

}  // namespace

TEST(BackupInfoJson, FullPhysicalBackup) {
  BackupInfo info;
  info.meta = full_backup();
  VerificationRecord v;
  v.backup = info.meta.name;
  v.verified_at = "2026-12-05T11:00:00.000Z";
  v.verified_by = "pgvault verify";
  v.passed = true;
  info.verification = v;
  info.wal = backup_wal_segments(info.meta, info.meta.wal_segment_size);
  BackupWalInfo::Archive a;
  a.any = true;
  a.continuous_to = "0/5000000";
  a.to_timeline = 1;
  info.wal->archive = a;

  const json j = json::parse(backup_info_json(info));
  EXPECT_EQ(keys(j), kTopLevel);
  EXPECT_EQ(j["kind"], "physical");
  EXPECT_TRUE(j["parent"].is_null());
  EXPECT_TRUE(j["chain"].is_null());
  EXPECT_EQ(j["pg_version"], 150005);
  EXPECT_NEAR(j["duration_seconds"].get<double>(), 12.5, 1e-3);
  EXPECT_DOUBLE_EQ(j["compression_ratio"].get<double>(), 7.5);
  EXPECT_EQ(j["timeline"], 1);
  EXPECT_TRUE(j["label"].is_null());
  EXPECT_EQ(j["compression"],
            json({{"algorithm", "zstd"}, {"level", 3}, {"compressed_by", "server"}}));
  EXPECT_EQ(j["encryption"], json({{"algorithm", "aes-256-gcm"},
                                   {"key_fingerprint", "ab12cd34"},
                                   {"key_derivation", "raw"}}));
  EXPECT_EQ(j["digest"], info.meta.digest());
  ASSERT_EQ(j["objects"].size(), 2u);
  EXPECT_EQ(j["objects"][1], json({{"name", "base.tar.zst"},
                                   {"size", 4 * 1024 * 1024 - 1024},
                                   {"sha256", std::string(64, 'b')}}));
  EXPECT_EQ(j["verification"], json({{"status", "passed"},
                                     {"verified_at", "2026-12-05T11:00:00.000Z"},
                                     {"verified_by", "pgvault verify"},
                                     {"restore_test", false},
                                     {"error", nullptr}}));
  EXPECT_EQ(j["wal"]["segment_size"], 16 * 1024 * 1024);
  EXPECT_EQ(j["wal"]["included"],
            json({{"first", "000000010000000000000002"}, {"last", "000000010000000000000002"}}));
  EXPECT_EQ(j["wal"]["archive"], json({{"any", true},
                                       {"continuous_to", "0/5000000"},
                                       {"to_timeline", 1},
                                       {"first_missing", nullptr},
                                       {"problem", nullptr}}));
}

TEST(BackupInfoJson, IncrementalWithItsChainOrWhyItIsBroken) {
  BackupInfo info;
  info.meta = full_backup();
  info.meta.kind = "incremental";
  info.meta.parent = "20261205T090000Z-physical";
  info.meta.start_lsn = "0/4000028";
  info.meta.stop_lsn = "0/6000100";
  info.chain = {info.meta.name, info.meta.parent};
  json j = json::parse(backup_info_json(info));
  EXPECT_EQ(keys(j), kTopLevel);
  EXPECT_EQ(j["parent"], "20261205T090000Z-physical");
  EXPECT_EQ(j["chain"], json({info.meta.name, info.meta.parent}));
  EXPECT_TRUE(j["chain_error"].is_null());
  EXPECT_TRUE(j["verification"].is_null());
  EXPECT_TRUE(j["wal"].is_null()) << "no WAL gathered: null, not absent";

  info.chain.clear();
  info.chain_error = "parent backup \"x\" is missing";
  info.verification_error = "not valid JSON";
  j = json::parse(backup_info_json(info));
  EXPECT_TRUE(j["chain"].is_null());
  EXPECT_EQ(j["chain_error"], "parent backup \"x\" is missing");
  EXPECT_EQ(j["verification"], json({{"status", "unreadable"}, {"error", "not valid JSON"}}));
}

TEST(BackupInfoJson, LogicalBackupHasNoTimelineNorWal) {
  BackupInfo info;
  info.meta = full_backup();
  info.meta.kind = "logical";
  info.meta.database = "shop";
  info.meta.timeline = 0;
  info.meta.start_lsn.clear();
  info.meta.stop_lsn.clear();
  info.meta.compression = "none";
  info.meta.compressed_by = "none";
  info.meta.encryption = "none";
  info.meta.key_fingerprint.clear();
  info.meta.key_derivation.clear();
  info.meta.stored_bytes = 0;
  info.meta.completed_at = "not a time";
  const json j = json::parse(backup_info_json(info));
  EXPECT_EQ(keys(j), kTopLevel);
  EXPECT_EQ(j["database"], "shop");
  EXPECT_TRUE(j["timeline"].is_null());
  EXPECT_TRUE(j["start_lsn"].is_null());
  EXPECT_TRUE(j["duration_seconds"].is_null());
  EXPECT_TRUE(j["compression_ratio"].is_null());
  EXPECT_EQ(j["compression"],
            json({{"algorithm", "none"}, {"level", nullptr}, {"compressed_by", "none"}}));
  EXPECT_EQ(
      j["encryption"],
      json({{"algorithm", "none"}, {"key_fingerprint", nullptr}, {"key_derivation", nullptr}}));
  EXPECT_TRUE(j["wal"].is_null());
}

TEST(BackupWalSegments, FromStartToTheSegmentBeforeAnAlignedStop) {
  BackupMeta m = full_backup();
  m.timeline = 3;
  m.start_lsn = "1/FF000028";
  m.stop_lsn = "2/01000010";
  BackupWalInfo w = backup_wal_segments(m, 16 * 1024 * 1024);
  EXPECT_EQ(w.first_segment, "0000000300000001000000FF");
  EXPECT_EQ(w.last_segment, "000000030000000200000001");
  m.stop_lsn = "2/01000000";
  w = backup_wal_segments(m, 16 * 1024 * 1024);
  EXPECT_EQ(w.last_segment, "000000030000000200000000");
  m.stop_lsn.clear();
  w = backup_wal_segments(m, 16 * 1024 * 1024);
  EXPECT_EQ(w.first_segment, "");
}
