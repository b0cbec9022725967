// backup.json and the repository layout.
#include "doubles/forwarding_storage.hpp"
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/backup_meta_cache.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <optional>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSys = "7291450313927315981";
constexpr const char* kOtherSys = "7300000000000000001";

BackupMeta sample_meta(const std::string& name = "20261124T061530Z-physical",
                       const std::string& sysid = kSys,
                       const std::string& started = "2026-11-24T06:15:30.123Z") {
  BackupMeta m;
  m.name = name;
  m.kind = "physical";
  m.label = "nightly \"quoted\" label";
  m.trigger = "scheduled";
  m.initiated_by = "postgres";
  m.database = "app";
  m.system_identifier = sysid;
  m.pg_version = 150004;
  m.timeline = 3;
  m.start_lsn = "0/2000028";
  m.stop_lsn = "0/2000100";
  m.started_at = started;
  m.completed_at = "2026-11-24T06:16:01.456Z";
  m.compression = "zstd";
  m.compression_level = 3;
  m.compressed_by = "server";
  m.source_bytes = 5'000'000'000ULL;
  m.stored_bytes = 1'234'567'890ULL;
  m.tablespaces = {{"16385", "/srv/ts1"}, {"16390", "/srv/ts2"}};
  m.objects = {{"base.tar.zst", 1'234'000'000ULL, sha256_hex("base")},
               {"16385.tar.zst", 567'890ULL, sha256_hex("ts")},
               {"backup_manifest", 0, sha256_hex("")}};
  return m;
}

// Puts a complete backup (objects, then backup.json) into the repository.
void put_backup(Repository& repo, const BackupMeta& m) {
  for (const auto& o : m.objects)
    repo.storage().write_all(Repository::object_path(m.system_identifier, m.name, o.name), "obj");
  repo.write_meta(m);
}

std::vector<std::string> names(const std::vector<BackupMeta>& v) {
  std::vector<std::string> out;
  for (const auto& m : v) out.push_back(m.name);
  return out;
}

std::string without_field(const std::string& json_text, const std::string& field) {
  auto j = nlohmann::json::parse(json_text);
  j.erase(field);
  return j.dump();
}

}  // namespace

// ---- backup.json -------------------------------------------------------------------

TEST(BackupMeta, JsonRoundTrip) {
  BackupMeta m = sample_meta();
  std::string text = m.to_json();
  BackupMeta r = BackupMeta::from_json(text);
  EXPECT_EQ(r.format_version, 1) << "full backups keep format_version 1";
  EXPECT_EQ(r.name, m.name);
  EXPECT_EQ(r.kind, m.kind);
  EXPECT_EQ(r.label, m.label);
  EXPECT_EQ(r.trigger, m.trigger);
  EXPECT_EQ(r.initiated_by, m.initiated_by);
  EXPECT_EQ(r.database, m.database);
  EXPECT_EQ(r.system_identifier, m.system_identifier);
  EXPECT_EQ(r.pg_version, 150004);
  EXPECT_EQ(r.timeline, 3u);
  EXPECT_EQ(r.start_lsn, m.start_lsn);
  EXPECT_EQ(r.stop_lsn, m.stop_lsn);
  EXPECT_EQ(r.started_at, m.started_at);
  EXPECT_EQ(r.completed_at, m.completed_at);
  EXPECT_EQ(r.compression, "zstd");
  EXPECT_EQ(r.compression_level, 3);
  EXPECT_EQ(r.compressed_by, "server");
  EXPECT_EQ(r.source_bytes, 5'000'000'000ULL);
  EXPECT_EQ(r.stored_bytes, 1'234'567'890ULL);
  ASSERT_EQ(r.tablespaces.size(), 2u);
  EXPECT_EQ(r.tablespaces[1].oid, "16390");
  EXPECT_EQ(r.tablespaces[1].location, "/srv/ts2");
  ASSERT_EQ(r.objects.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.objects[i].name, m.objects[i].name);
    EXPECT_EQ(r.objects[i].size, m.objects[i].size);
    EXPECT_EQ(r.objects[i].sha256, m.objects[i].sha256);
  }
  EXPECT_EQ(r.to_json(), text) << "serialization must be stable";
  // Human-readable and carries the recomputable digest.
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("digest"), m.digest());
  EXPECT_NE(text.find("\n  \"name\": "), std::string::npos);
}

TEST(BackupMeta, LogicalOptionsRoundTripAndOnlyForLogical) {
  BackupMeta m = sample_meta();
  EXPECT_FALSE(nlohmann::json::parse(m.to_json()).contains("logical"));
  m.kind = "logical";
  m.logical.schema_only = true;
  m.logical.include_tables = {"public.orders", "sales.*"};
  m.logical.exclude_tables = {"public.audit_log"};
  BackupMeta r = BackupMeta::from_json(m.to_json());
  EXPECT_EQ(r.logical, m.logical);
  EXPECT_EQ(m.logical.to_json(),
            R"({"schema_only":true,"data_only":false,"include_tables":["public.orders","sales.*"],)"
            R"("exclude_tables":["public.audit_log"]})");
  EXPECT_EQ(LogicalOptions::from_json(m.logical.to_json()), m.logical);
  EXPECT_EQ(LogicalOptions::from_json(R"({"schema_only":null,"include_tables":null})"),
            LogicalOptions{});
  expect_error([] { LogicalOptions::from_json(R"({"schema_only":"yes"})"); },
               ErrorKind::invalid_argument, "schema_only must be true or false");
  expect_error([] { LogicalOptions::from_json(R"({"tables":[]})"); }, ErrorKind::invalid_argument,
               "unknown option \"tables\"");
  auto j = nlohmann::json::parse(m.to_json());
  j["logical"].erase("data_only");
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "logical.data_only");
}

TEST(BackupMeta, EncryptionRecordsTheFingerprintNeverTheKey) {
  BackupMeta m = sample_meta();
  EXPECT_EQ(BackupMeta::from_json(m.to_json()).encryption, "none");
  m.encryption = "aes-256-gcm";
  m.key_fingerprint = "0123456789abcdef0123456789abcdef";
  m.key_derivation = "scrypt";
  BackupMeta r = BackupMeta::from_json(m.to_json());
  EXPECT_EQ(r.encryption, "aes-256-gcm");
  EXPECT_EQ(r.key_fingerprint, m.key_fingerprint);
  EXPECT_EQ(r.key_derivation, "scrypt");
  auto j = nlohmann::json::parse(m.to_json());
  j["encryption"] = "rot13";
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::unsupported, "rot13");
  j.erase("encryption");  // written before encryption existed
  EXPECT_EQ(BackupMeta::from_json(j.dump()).encryption, "none");
}

TEST(BackupMeta, MissingOrMalformedFieldNamesIt) {
  std::string good = sample_meta().to_json();
  expect_error([&] { BackupMeta::from_json(without_field(good, "started_at")); },
               ErrorKind::corrupt, "backup.json: field 'started_at' is missing or not a string");
  expect_error([&] { BackupMeta::from_json(without_field(good, "system_identifier")); },
               ErrorKind::corrupt, "field 'system_identifier' is missing or not a string");
  expect_error([&] { BackupMeta::from_json(without_field(good, "objects")); }, ErrorKind::corrupt,
               "field 'objects' is missing");
  expect_error([&] { BackupMeta::from_json(without_field(good, "format_version")); },
               ErrorKind::corrupt, "field 'format_version'");

  auto j = nlohmann::json::parse(good);
  j["pg_version"] = "15";
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'pg_version'");
  j = nlohmann::json::parse(good);
  j["source_bytes"] = -5;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'source_bytes'");
  j = nlohmann::json::parse(good);
  j["timeline"] = 1ULL << 40;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'timeline'");
  j = nlohmann::json::parse(good);
  j["objects"][1].erase("sha256");
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt,
               "field 'objects[1].sha256' is missing or not a string");
  j = nlohmann::json::parse(good);
  j["objects"][0]["sha256"] = "NOT-HEX";
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'objects[0].sha256'");
  j = nlohmann::json::parse(good);
  j["objects"][2]["name"] = "../../escape";
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'objects[2].name'");
  j = nlohmann::json::parse(good);
  j["tablespaces"][0].erase("location");
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt,
               "'tablespaces[0].location'");

  expect_error([] { BackupMeta::from_json("{not json"); }, ErrorKind::corrupt,
               "backup.json: not valid JSON");
  expect_error([] { BackupMeta::from_json(""); }, ErrorKind::corrupt, "not valid JSON");
  expect_error([] { BackupMeta::from_json("[1,2]"); }, ErrorKind::corrupt, "not a JSON object");
}

// Recorded since WAL archiving (format_version stays 1: older backup.json
// files have no such field and read as 0, "not recorded").
TEST(BackupMeta, WalSegmentSizeIsOptional) {
  BackupMeta m = sample_meta();
  EXPECT_EQ(nlohmann::json::parse(m.to_json()).count("wal_segment_size"), 0u);
  EXPECT_EQ(BackupMeta::from_json(m.to_json()).wal_segment_size, 0u);
  m.wal_segment_size = 64ull << 20;
  const std::string text = m.to_json();
  EXPECT_EQ(nlohmann::json::parse(text)["wal_segment_size"], 64ull << 20);
  EXPECT_EQ(BackupMeta::from_json(text).wal_segment_size, 64ull << 20);
  EXPECT_EQ(BackupMeta::from_json(text).format_version, 1);
  auto j = nlohmann::json::parse(text);
  j["wal_segment_size"] = 3 << 20;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt,
               "field 'wal_segment_size'");

  BackupOrigin origin;
  origin.wal_segment_size = 16ull << 20;
  EXPECT_EQ(begin_backup_meta(origin, "physical").wal_segment_size, 16ull << 20);
  EXPECT_EQ(begin_backup_meta(origin, "logical").wal_segment_size, 0u) << "WAL is physical";
}

TEST(BackupMeta, NewerFormatIsUnsupported) {
  auto j = nlohmann::json::parse(sample_meta().to_json());
  j["format_version"] = BackupMeta::kNewestFormatVersion + 1;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::unsupported,
               "format_version 4 is newer");
  j["format_version"] = 0;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "format_version");
}

// Issue 16: an incremental names its parent and is format_version 2, so a
// pgvault that knows only 1 lists it as unreadable instead of restoring a part.
TEST(BackupMeta, IncrementalHasParentAndFormatVersion2) {
  BackupMeta m = sample_meta();
  EXPECT_FALSE(nlohmann::json::parse(m.to_json()).contains("parent"));
  m.kind = "incremental";
  m.parent = "20261123T061530Z-physical";
  const std::string text = m.to_json();
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["format_version"], 2);
  EXPECT_EQ(j["parent"], m.parent);
  const BackupMeta r = BackupMeta::from_json(text);
  EXPECT_EQ(r.format_version, 2);
  EXPECT_EQ(r.kind, "incremental");
  EXPECT_EQ(r.parent, m.parent);
  EXPECT_EQ(r.to_json(), text);

  j["parent"] = "../other";
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "field 'parent'");
  j.erase("parent");
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt, "'parent'");
  j["parent"] = m.parent;
  j["format_version"] = 1;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt,
               "an incremental backup needs format_version 2 or newer, not 1");
  // Format 3 (pgvault 0.9) lists the changed blocks in an object of its own.
  j["format_version"] = 3;
  expect_error([&] { BackupMeta::from_json(j.dump()); }, ErrorKind::corrupt,
               "lists its changed blocks in a \"changed_blocks\" object, and 'objects' has none");
  j["objects"].push_back(
      {{"name", "changed_blocks"},
       {"size", 0},
       {"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}});
  EXPECT_EQ(BackupMeta::from_json(j.dump()).format_version, 3);
  j["format_version"] = 2;
  // A full backup read as format 2 (written by a later pgvault) has no parent.
  auto full = nlohmann::json::parse(sample_meta().to_json());
  full["format_version"] = 2;
  full["parent"] = "ignored";
  EXPECT_EQ(BackupMeta::from_json(full.dump()).parent, "");

  // changed_pages: written for an incremental when known, optional on read
  // (backup.json files from before it), a string or corrupt.
  m.changed_pages = "the blocks 2 WAL summaries (0/5000000..0/7000000) name: 9 block references";
  const std::string with = m.to_json();
  EXPECT_EQ(BackupMeta::from_json(with).changed_pages, m.changed_pages);
  EXPECT_EQ(BackupMeta::from_json(text).changed_pages, "") << "absent: not recorded";
  auto bad = nlohmann::json::parse(with);
  bad["changed_pages"] = 7;
  expect_error([&] { BackupMeta::from_json(bad.dump()); }, ErrorKind::corrupt, "changed_pages");
  BackupMeta full_with = sample_meta();
  full_with.changed_pages = "a full reads everything";
  EXPECT_FALSE(nlohmann::json::parse(full_with.to_json()).contains("changed_pages"));

  // begin_backup_meta: an incremental starts at format 3 (it lists its
  // changed blocks), a full keeps writing format 1 and never a parent, even
  // one set by mistake.
  BackupOrigin origin;
  origin.name = "child";
  origin.system_identifier = kSys;
  EXPECT_EQ(begin_backup_meta(origin, "incremental").format_version, 3);
  BackupMeta begun_full = begin_backup_meta(origin, "physical");
  begun_full.parent = "ignored";
  EXPECT_EQ(begun_full.format_version, 1);
  EXPECT_EQ(begun_full.to_json().find("parent"), std::string::npos);
}

TEST(BackupMeta, DigestMatchesSha256sum) {
  BackupMeta m;
  // Listed unsorted on purpose: the digest sorts by name.
  m.objects = {{"base.tar.zst", 9, sha256_hex("base data")},
               {"backup_manifest", 8, sha256_hex("manifest")},
               {"16385.tar.zst", 15, sha256_hex("tablespace data")}};
  // Computed with coreutils over files holding those contents:
  //   LC_ALL=C sha256sum $(LC_ALL=C ls) | sha256sum
  EXPECT_EQ(m.digest(), "5eb8c4c743244d2dbc1b2779889c23dea4c77767844a0f4f4a6b9903bf4b8692");
  std::string lines = sha256_hex("tablespace data") + "  16385.tar.zst\n" + sha256_hex("manifest") +
                      "  backup_manifest\n" + sha256_hex("base data") + "  base.tar.zst\n";
  EXPECT_EQ(m.digest(), sha256_hex(lines));
  m.objects[0].sha256[0] = m.objects[0].sha256[0] == '0' ? '1' : '0';
  EXPECT_NE(m.digest(), "5eb8c4c743244d2dbc1b2779889c23dea4c77767844a0f4f4a6b9903bf4b8692");
}

TEST(BackupMeta, FindObject) {
  BackupMeta m = sample_meta();
  ASSERT_NE(m.find_object("16385.tar.zst"), nullptr);
  EXPECT_EQ(m.find_object("16385.tar.zst")->size, 567'890u);
  EXPECT_EQ(m.find_object("nope"), nullptr);
}

TEST(Timestamps, NowAndCompact) {
  std::string now = utc_timestamp_now();
  EXPECT_TRUE(std::regex_match(now, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << now;
  EXPECT_GE(now, "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(compact_timestamp("2026-11-24T06:15:30.123Z"), "20261124T061530Z");
  EXPECT_EQ(compact_timestamp("2026-01-02T03:04:05Z"), "20260102T030405Z");
  EXPECT_EQ(compact_timestamp(now).size(), 16u);
  for (const char* bad : {"", "2026-11-24", "2026-11-24T06:15:30.123", "2026-11-24 06:15:30Z",
                          "2026-11-24T06:15:30.Z", "2026-11-24T06:15:30+01:00"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { compact_timestamp(bad); }, ErrorKind::invalid_argument,
                 "invalid UTC timestamp");
  }
}

// ---- repository ------------------------------------------------------------------------

TEST(Repository, Layout) {
  EXPECT_EQ(Repository::backup_dir(kSys, "b1"), std::string(kSys) + "/backups/b1/");
  EXPECT_EQ(Repository::object_path(kSys, "b1", "base.tar.zst"),
            std::string(kSys) + "/backups/b1/base.tar.zst");
  EXPECT_STREQ(Repository::kMetaFile, "backup.json");
}

TEST(Repository, ValidateBackupName) {
  for (const std::string& good : std::vector<std::string>{"20261124T061530Z-physical", "a",
                                                          "A.b_c-1", "x..y", std::string(128, 'n')})
    EXPECT_NO_THROW(Repository::validate_backup_name(good)) << good;
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "..", "a/b", "a b", "semi;colon", "caf\xc3\xa9",
                                std::string(129, 'n'), std::string("nul\0x", 5)}) {
    SCOPED_TRACE(bad);
    expect_error([&] { Repository::validate_backup_name(bad); }, ErrorKind::invalid_argument,
                 "invalid backup name");
  }
}

TEST(Repository, ListCompleteIncompleteAndSystems) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  EXPECT_TRUE(repo.list_backups().empty());
  EXPECT_TRUE(repo.system_identifiers().empty());

  // Written newest first: the listing sorts by started_at.
  put_backup(repo, sample_meta("b-new", kSys, "2026-11-25T02:00:00.000Z"));
  put_backup(repo, sample_meta("b-old", kSys, "2026-11-23T02:00:00.000Z"));
  put_backup(repo, sample_meta("a-mid", kSys, "2026-11-24T02:00:00.000Z"));
  // Objects without backup.json: a crashed or running backup.
  storage->write_all(Repository::object_path(kSys, "inc", "base.tar.zst"), "partial");
  storage->write_all(std::string(kSys) + "/wal/00000001/000000010000000000000001.zst", "wal");

  EXPECT_EQ(names(repo.list_backups(kSys)), (std::vector<std::string>{"b-old", "a-mid", "b-new"}));
  EXPECT_EQ(names(repo.list_backups()), (std::vector<std::string>{"b-old", "a-mid", "b-new"}));
  EXPECT_EQ(repo.incomplete_backups(kSys), std::vector<std::string>{"inc"});
  EXPECT_EQ(repo.system_identifiers(), std::vector<std::string>{kSys});
  EXPECT_TRUE(repo.backup_exists(kSys, "b-new"));
  EXPECT_FALSE(repo.backup_exists(kSys, "inc"));
  EXPECT_TRUE(repo.list_backups(kOtherSys).empty());
  EXPECT_TRUE(repo.unreadable_backups().empty());

  BackupMeta m = repo.read_meta(kSys, "a-mid");
  EXPECT_EQ(m.started_at, "2026-11-24T02:00:00.000Z");
  EXPECT_EQ(m.objects.size(), 3u);
  expect_error([&] { repo.read_meta(kSys, "inc"); }, ErrorKind::not_found, "backup \"inc\"");
  expect_error([&] { repo.read_meta("../x", "b"); }, ErrorKind::invalid_argument);
  expect_error([&] { repo.incomplete_backups(""); }, ErrorKind::invalid_argument);
}

TEST(Repository, CorruptBackupJsonIsReportedNotHidden) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  put_backup(repo, sample_meta("good", kSys));
  storage->write_all(Repository::object_path(kSys, "bad", "base.tar.zst"), "data");
  storage->write_all(Repository::object_path(kSys, "bad", "backup.json"), "{\"format_version\": 1");
  // backup.json naming a different backup (copied directory, tampering).
  put_backup(repo, sample_meta("orig", kSys));
  storage->write_all(Repository::object_path(kSys, "copy", "backup.json"),
                     storage->read_all(Repository::object_path(kSys, "orig", "backup.json")));

  EXPECT_EQ(names(repo.list_backups(kSys)), (std::vector<std::string>{"good", "orig"}));
  EXPECT_TRUE(repo.incomplete_backups(kSys).empty()) << "must not be offered for cleanup";
  auto unreadable = repo.unreadable_backups(kSys);
  ASSERT_EQ(unreadable.size(), 2u);
  EXPECT_EQ(unreadable[0].name, "bad");
  EXPECT_EQ(unreadable[0].system_identifier, kSys);
  EXPECT_NE(unreadable[0].error.find("not valid JSON"), std::string::npos) << unreadable[0].error;
  EXPECT_EQ(unreadable[1].name, "copy");
  expect_error([&] { repo.resolve("bad"); }, ErrorKind::corrupt, "backup \"bad\"");
  expect_error([&] { repo.read_meta(kSys, "copy"); }, ErrorKind::corrupt,
               "describes backup \"orig\"");
}

// Delegates to a memory storage; each backup.json read is held by an
// OverlapGate, and one backup's can fail.
struct MemoryStorageOwner {
  std::unique_ptr<Storage> inner = make_memory_storage();
};
class SlowMetaStorage : public MemoryStorageOwner, public ForwardingStorage {
 public:
  SlowMetaStorage() : ForwardingStorage(*inner) {}
  OverlapGate gate;
  std::string failing;  // a path whose read fails with Error(storage)

  std::unique_ptr<ObjectReader> open_read(const std::string& p) override {
    if (!p.ends_with("/backup.json")) return inner->open_read(p);
    gate.enter();
    gate.leave();
    if (p == failing) throw Error(ErrorKind::storage, "S3: HTTP GET " + p + " failed: 503");
    return inner->open_read(p);
  }
};

TEST(Repository, ListingReadsBackupJsonsSideBySideAndKeepsTheirOrder) {
  SlowMetaStorage storage;
  Repository repo(storage);
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    char started[32];
    std::snprintf(started, sizeof started, "2026-11-%02dT02:00:00.000Z", 30 - i);
    const std::string name = "b-" + std::to_string(i);
    put_backup(repo, sample_meta(name, kSys, started));
    expected.insert(expected.begin(), name);  // the newer, the later
  }
  storage.inner->write_all(Repository::object_path(kSys, "bad", "backup.json"), "{");
  const RepositoryListing listing = repo.list_all(kSys);
  EXPECT_EQ(names(listing.complete), expected);
  ASSERT_EQ(listing.unreadable.size(), 1u);
  EXPECT_EQ(listing.unreadable[0].name, "bad");
  EXPECT_GE(storage.gate.max_in_flight(), 2) << "backup.json objects were read one at a time";

  // A store that fails to answer is the listing's failure, not an unreadable backup.
  storage.failing = Repository::object_path(kSys, "b-7", "backup.json");
  expect_error([&] { (void)repo.list_all(kSys); }, ErrorKind::storage, "b-7/backup.json failed");
}

// Counts the backup.json objects read from a file repository (by list_all's
// readers, several at once: a plain int lost counts).
class CountingMetaReads : public ForwardingStorage {
 public:
  explicit CountingMetaReads(std::unique_ptr<Storage> inner)
      : ForwardingStorage(*inner), owned_(std::move(inner)) {}
  std::atomic<int> reads = 0;
  std::unique_ptr<ObjectReader> open_read(const std::string& p) override {
    if (p.ends_with("/backup.json")) ++reads;
    return inner_.open_read(p);
  }

 private:
  std::unique_ptr<Storage> owned_;
};

// backup_meta_cache.hpp: a listing reads only the backup.json objects that
// are new or changed since this process last listed the repository.
TEST(Repository, ListingRereadsOnlyNewOrChangedBackupJson) {
  TempDir tmp;
  const std::string url = "file://" + tmp.path().string();
  CountingMetaReads storage(open_repository(url, {}));
  Repository repo(storage);
  const fs::path backups = tmp.path() / kSys / "backups";
  // Modified a minute ago: settled (a fresh object is read every time).
  const auto settle = [&](const std::string& name) {
    fs::last_write_time(backups / name / "backup.json",
                        fs::file_time_type::clock::now() - std::chrono::minutes(1));
  };
  for (int i = 0; i < 5; ++i) {
    const std::string name = "b-" + std::to_string(i);
    char started[32];
    std::snprintf(started, sizeof started, "2026-11-%02dT02:00:00.000Z", 10 + i);
    put_backup(repo, sample_meta(name, kSys, started));
    settle(name);
  }
  put_backup(repo, sample_meta("other", kOtherSys));
  EXPECT_EQ(repo.list_all(kSys).complete.size(), 5u);
  EXPECT_EQ(storage.reads, 5);
  EXPECT_EQ(names(repo.list_backups(kSys)),
            (std::vector<std::string>{"b-0", "b-1", "b-2", "b-3", "b-4"}));
  EXPECT_EQ(storage.reads, 5) << "an unchanged backup.json was read again";
  // Another Repository object over the same store (the alerts worker opens
  // one per listing) uses what this process read.
  {
    auto again = open_repository(url, {});
    CountingMetaReads counted(std::move(again));
    Repository other(counted);
    EXPECT_EQ(other.list_backups(kSys).size(), 5u);
    EXPECT_EQ(counted.reads, 0);
  }

  // New: read. Not settled (modified just now, here in the clock's future so
  // that a stalled test cannot see it settle): read at every listing.
  put_backup(repo, sample_meta("b-5", kSys, "2026-11-20T02:00:00.000Z"));
  fs::last_write_time(backups / "b-5" / "backup.json",
                      fs::file_time_type::clock::now() + std::chrono::hours(1));
  EXPECT_EQ(repo.list_backups(kSys).size(), 6u);
  EXPECT_EQ(repo.list_backups(kSys).size(), 6u);
  EXPECT_EQ(storage.reads, 7);
  settle("b-5");
  EXPECT_EQ(repo.list_backups(kSys).size(), 6u);
  EXPECT_EQ(storage.reads, 8);
  EXPECT_EQ(repo.list_backups(kSys).size(), 6u);
  EXPECT_EQ(storage.reads, 8);

  // Changed (another size, or the same size at another time): read again, and
  // what it says now is what the listing gives.
  BackupMeta changed = sample_meta("b-2", kSys, "2026-11-12T02:00:00.000Z");
  changed.label = "relabelled";
  repo.write_meta(changed);
  settle("b-2");
  EXPECT_EQ(repo.list_all(kSys).complete[2].label, "relabelled");
  EXPECT_EQ(storage.reads, 9);
  std::string edited = storage.read_all(Repository::object_path(kSys, "b-3", "backup.json"));
  const std::size_t label_at = edited.find("nightly");
  ASSERT_NE(label_at, std::string::npos);
  edited.replace(label_at, 7, "NIGHTLY");
  storage.write_all(Repository::object_path(kSys, "b-3", "backup.json"), edited);
  fs::last_write_time(backups / "b-3" / "backup.json",
                      fs::file_time_type::clock::now() - std::chrono::minutes(2));
  storage.reads = 0;
  EXPECT_EQ(repo.list_all(kSys).complete[3].label, "NIGHTLY \"quoted\" label");
  EXPECT_EQ(storage.reads, 1);

  // Damaged: reported every time, never kept.
  storage.write_all(Repository::object_path(kSys, "bad", "backup.json"), "{");
  fs::last_write_time(backups / "bad" / "backup.json",
                      fs::file_time_type::clock::now() - std::chrono::minutes(1));
  storage.reads = 0;
  EXPECT_EQ(repo.list_all(kSys).unreadable.size(), 1u);
  EXPECT_EQ(repo.list_all(kSys).unreadable.size(), 1u);
  EXPECT_EQ(storage.reads, 2);

  // Removed: gone from the listing and from the cache.
  const std::size_t cached = BackupMetaCache::of_process().size();
  repo.remove_backup(kSys, "b-0");
  EXPECT_EQ(names(repo.list_backups(kSys)),
            (std::vector<std::string>{"b-1", "b-2", "b-3", "b-4", "b-5"}));
  EXPECT_EQ(BackupMetaCache::of_process().size(), cached - 1);
}

TEST(BackupMetaCache, KeepsSettledObjectsOfAFewRepositories) {
  BackupMetaCache cache;
  const BackupMeta meta = sample_meta("b");
  const ObjectInfo object{"s/backups/b/backup.json", 100, 1'000'000};
  cache.keep("file:///r1", object, meta, 1'000'001);                 // modified a second ago
  cache.keep("file:///r1", {object.path, 100, 0}, meta, 1'000'100);  // no time
  cache.keep("file:///r1", {object.path, 100, 1'000'200}, meta, 1'000'100);  // in the future
  EXPECT_EQ(cache.size(), 0u);
  cache.keep("file:///r1", object, meta, 1'000'002);
  ASSERT_TRUE(cache.find("file:///r1", object));
  EXPECT_EQ(cache.find("file:///r1", object)->name, "b");
  EXPECT_FALSE(cache.find("file:///r2", object));
  EXPECT_FALSE(cache.find("file:///r1", {object.path, 101, object.mtime_unix}));
  EXPECT_FALSE(cache.find("file:///r1", {object.path, 100, object.mtime_unix + 1}));
  cache.forget_unlisted("file:///r1", "other/backups/", {});
  EXPECT_EQ(cache.size(), 1u) << "another system's listing forgot this one";
  for (std::size_t r = 2; r <= BackupMetaCache::kMaxRepositories; ++r)
    cache.keep("file:///r" + std::to_string(r), object, meta, 1'000'010);
  EXPECT_EQ(cache.size(), BackupMetaCache::kMaxRepositories);
  cache.keep("file:///r9", object, meta, 1'000'010);
  EXPECT_EQ(cache.size(), 1u) << "a repository beyond the bound empties the cache";
  EXPECT_TRUE(cache.find("file:///r9", object));
  cache.forget_unlisted("file:///r9", "", {});
  EXPECT_EQ(cache.size(), 0u);
}

TEST(BackupMetaCache, SharesObjectStoreEntriesThroughAFile) {
  TempDir tmp;
  const std::string file = (tmp.path() / "shared.cache").string();
  const std::string store = "s3://bucket/prefix";
  // A writer killed mid-write left its temporary; the next start removes it.
  put_file(file + ".tmp.12345", "half a file");
  put_file(tmp.path() / "unrelated.tmp.1", "kept");
  BackupMetaCache a, b;
  a.share_through(file);
  b.share_through(file);
  EXPECT_FALSE(fs::exists(file + ".tmp.12345"));
  EXPECT_TRUE(fs::exists(tmp.path() / "unrelated.tmp.1"));
  const ObjectInfo first{"s/backups/b/backup.json", 100, 1'000'000};
  const ObjectInfo second{"s/backups/c/backup.json", 120, 1'000'001};
  a.keep(store, first, sample_meta("b"), 1'000'010);
  a.keep("file:///r", first, sample_meta("b"), 1'000'010);
  a.give_shared();
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  b.take_shared();
  ASSERT_TRUE(b.find(store, first));
  EXPECT_EQ(b.find(store, first)->name, "b");
  EXPECT_FALSE(b.find(store, {first.path, first.size, first.mtime_unix + 1}));
  EXPECT_FALSE(b.find("file:///r", first)) << "a file repository's entries are not shared";

  // What one process adds, the other takes in, keeping its own.
  b.keep(store, second, sample_meta("c"), 1'000'010);
  b.give_shared();
  a.take_shared();
  EXPECT_TRUE(a.find(store, second));
  EXPECT_TRUE(a.find("file:///r", first));
  // What one forgets is gone from the file at its next write.
  a.forget_unlisted(store, "s/backups/", {first.path});
  a.give_shared();
  BackupMetaCache fresh;
  fresh.share_through(file);
  fresh.take_shared();
  EXPECT_TRUE(fresh.find(store, first));
  EXPECT_FALSE(fresh.find(store, second));

  // A damaged line is skipped, the rest taken; a file of another format is ignored.
  const std::string text = slurp(file);
  const std::size_t body = text.find('\n') + 1;
  put_file(file, text.substr(0, body) + "{\"url\": \"s3://x\"}\nnot json\n" + text.substr(body));
  BackupMetaCache partly;
  partly.share_through(file);
  partly.take_shared();
  EXPECT_EQ(partly.size(), 1u);
  EXPECT_TRUE(partly.find(store, first));
  put_file(file, "another format\n" + text.substr(body));
  BackupMetaCache other_format;
  other_format.share_through(file);
  other_format.take_shared();
  EXPECT_EQ(other_format.size(), 0u);

  // A file that cannot be written changes nothing but the requests.
  BackupMetaCache unwritable;
  unwritable.share_through((tmp.path() / "missing-dir" / "shared.cache").string());
  unwritable.keep(store, first, sample_meta("b"), 1'000'010);
  EXPECT_NO_THROW(unwritable.give_shared());
  EXPECT_TRUE(unwritable.find(store, first));
}

// A file repository that says it is an object store, so that its listings
// share what they parse (file:// repositories do not).
class CountingStoreReads : public CountingMetaReads {
 public:
  CountingStoreReads(std::unique_ptr<Storage> inner, std::string url)
      : CountingMetaReads(std::move(inner)), url_(std::move(url)) {}
  std::string url() const override { return url_; }

 private:
  std::string url_;
};

// Two processes (each with its own cache) share what they parsed through the
// file; an entry that does not describe the backup its path names is read
// from the store again.
TEST(Repository, ListingsShareWhatTheyParsedThroughTheFile) {
  TempDir tmp;
  const std::string file = (tmp.path() / "shared.cache").string();
  const std::string fake_url = "s3://unit-test/" + tmp.path().filename().string();
  fs::create_directories(tmp.path() / "repo");
  const std::string url = "file://" + (tmp.path() / "repo").string();
  CountingStoreReads storage(open_repository(url, {}), fake_url);
  BackupMetaCache first_process;
  first_process.share_through(file);
  Repository repo(storage, first_process);
  for (int i = 0; i < 3; ++i) {
    const std::string name = "b-" + std::to_string(i);
    char started[32];
    std::snprintf(started, sizeof started, "2026-11-%02dT02:00:00.000Z", 10 + i);
    put_backup(repo, sample_meta(name, kSys, started));
    fs::last_write_time(tmp.path() / "repo" / kSys / "backups" / name / "backup.json",
                        fs::file_time_type::clock::now() - std::chrono::minutes(1));
  }
  EXPECT_EQ(repo.list_backups(kSys).size(), 3u);
  EXPECT_EQ(storage.reads, 3);

  BackupMetaCache second_process;
  second_process.share_through(file);
  Repository other(storage, second_process);
  EXPECT_EQ(names(other.list_backups(kSys)), (std::vector<std::string>{"b-0", "b-1", "b-2"}));
  EXPECT_EQ(storage.reads, 3) << "the second process fetched what the first had parsed";

  // A file with b-0 as it is, and b-1's object (its size and time) mapped
  // to b-2's backup.json.
  const auto object_of = [&](const std::string& name) {
    const std::optional<ObjectInfo> o =
        storage.info(Repository::object_path(kSys, name, "backup.json"));
    EXPECT_TRUE(o);
    return o.value_or(ObjectInfo{});
  };
  const std::string forged = (tmp.path() / "forged.cache").string();
  BackupMetaCache forger;
  forger.share_through(forged);
  forger.keep(fake_url, object_of("b-0"), repo.read_meta(kSys, "b-0"), unix_now());
  forger.keep(fake_url, object_of("b-1"), repo.read_meta(kSys, "b-2"), unix_now());
  forger.give_shared();
  BackupMetaCache third_process;
  third_process.share_through(forged);
  Repository third(storage, third_process);
  storage.reads = 0;
  EXPECT_EQ(names(third.list_backups(kSys)), (std::vector<std::string>{"b-0", "b-1", "b-2"}));
  EXPECT_EQ(storage.reads, 2)
      << "b-0 comes from the file; b-2 is not in it, b-1's entry is not b-1's";
}

// Repository format: the first backup.json written records it at the root;
// a repository without the file (written before it existed) is format 1.
TEST(RepositoryFormat, FirstBackupRecordsFormatOne) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  EXPECT_TRUE(repo.list_backups().empty()) << "an empty repository is readable";
  EXPECT_FALSE(storage->info(Repository::kFormatFile).has_value()) << "reading writes nothing";
  put_backup(repo, sample_meta("a", kSys));
  auto j = nlohmann::json::parse(storage->read_all(Repository::kFormatFile));
  EXPECT_EQ(j["format"], 1);
  EXPECT_EQ(Repository::kFormat, 1);
  put_backup(repo, sample_meta("b", kSys));
  Repository again(*storage);
  EXPECT_EQ(names(again.list_backups(kSys)), (std::vector<std::string>{"a", "b"}));
}

TEST(RepositoryFormat, WithoutFormatFileIsFormatOne) {
  auto storage = make_memory_storage();
  {
    Repository writer(*storage);
    put_backup(writer, sample_meta("old", kSys));
  }
  storage->remove(Repository::kFormatFile);  // as pgvault before the format file wrote it
  Repository repo(*storage);
  EXPECT_EQ(names(repo.list_backups(kSys)), (std::vector<std::string>{"old"}));
  EXPECT_EQ(repo.read_meta(kSys, "old").name, "old");
}

// A newer repository is refused by everything that reads or writes backups,
// and nothing in it is offered for deletion.
TEST(RepositoryFormat, NewerFormatIsRefusedEverywhere) {
  auto storage = make_memory_storage();
  {
    Repository writer(*storage);
    put_backup(writer, sample_meta("a", kSys));
  }
  storage->write_all(Repository::object_path(kSys, "v2-layout", "data.v2"), "objects");
  storage->write_all(Repository::kFormatFile, R"({"format": 2, "added_in_2": true})");
  Repository repo(*storage);
  const char* refusal =
      "repository format 2 is newer than this pgvault understands (1); upgrade pgvault to read it";
  expect_error([&] { repo.list_backups(); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.list_all(kSys); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.incomplete_backups(kSys); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.read_meta(kSys, "a"); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.resolve("latest"); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.resolve("a", kSys); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.system_identifiers(); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.backup_exists(kSys, "a"); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.remove_backup(kSys, "a"); }, ErrorKind::unsupported, refusal);
  expect_error([&] { repo.write_meta(sample_meta("new", kSys)); }, ErrorKind::unsupported, refusal);
  EXPECT_TRUE(storage->info(Repository::object_path(kSys, "a", "backup.json")).has_value());
  EXPECT_TRUE(storage->info(Repository::object_path(kSys, "v2-layout", "data.v2")).has_value());
  EXPECT_FALSE(storage->info(Repository::object_path(kSys, "new", "backup.json")).has_value());
}

TEST(RepositoryFormat, MalformedFormatFileIsCorrupt) {
  for (const char* text : {"", "{", "[1]", "{}", R"({"format": "1"})", R"({"format": 0})"}) {
    auto storage = make_memory_storage();
    storage->write_all(Repository::kFormatFile, text);
    Repository repo(*storage);
    expect_error([&] { repo.list_backups(); }, ErrorKind::corrupt, "pgvault-repository.json");
  }
}

// One backup.json of a newer format: that backup is reported, never listed
// as complete nor offered for cleanup; the others stay usable.
TEST(RepositoryFormat, NewerBackupJsonIsUnreadableNotIncomplete) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  put_backup(repo, sample_meta("v1", kSys, "2026-11-24T00:00:00.000Z"));
  put_backup(repo, sample_meta("v2", kSys, "2026-11-25T00:00:00.000Z"));
  auto j =
      nlohmann::json::parse(storage->read_all(Repository::object_path(kSys, "v2", "backup.json")));
  j["format_version"] = BackupMeta::kNewestFormatVersion + 1;
  storage->write_all(Repository::object_path(kSys, "v2", "backup.json"), j.dump());
  EXPECT_EQ(names(repo.list_backups(kSys)), (std::vector<std::string>{"v1"}));
  EXPECT_TRUE(repo.incomplete_backups(kSys).empty());
  auto unreadable = repo.unreadable_backups(kSys);
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_NE(unreadable[0].error.find("format_version 4 is newer than this pgvault understands (3)"),
            std::string::npos)
      << unreadable[0].error;
  expect_error([&] { repo.resolve("v2"); }, ErrorKind::unsupported, "upgrade pgvault");
  EXPECT_EQ(repo.resolve("latest").name, "v1");
}

TEST(Repository, Resolve) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  expect_error([&] { repo.resolve("latest"); }, ErrorKind::not_found,
               "no complete backup found in repository memory://");
  expect_error([&] { repo.resolve("x"); }, ErrorKind::not_found, "it holds no complete backup");

  put_backup(repo, sample_meta("b", kSys, "2026-11-25T00:00:00.000Z"));
  put_backup(repo, sample_meta("a", kSys, "2026-11-24T00:00:00.000Z"));
  storage->write_all(Repository::object_path(kSys, "c", "base.tar.zst"), "incomplete");

  EXPECT_EQ(repo.resolve("latest").name, "b");
  EXPECT_EQ(repo.resolve("latest", kSys).name, "b");
  EXPECT_EQ(repo.resolve("a").name, "a");
  EXPECT_EQ(repo.resolve("a", kSys).started_at, "2026-11-24T00:00:00.000Z");
  expect_error([&] { repo.resolve("nope", kSys); }, ErrorKind::not_found,
               std::string("backup \"nope\" not found in repository memory:// (system ") + kSys +
                   "); available: a, b");
  expect_error([&] { repo.resolve("nope"); }, ErrorKind::not_found,
               "backup \"nope\" not found in repository memory://; available: a, b");
  expect_error([&] { repo.resolve("c"); }, ErrorKind::not_found, "incomplete (no backup.json)");
  expect_error([&] { repo.resolve("a", kOtherSys); }, ErrorKind::not_found,
               std::string("(system ") + kOtherSys + "); it holds no complete backup");
  expect_error([&] { repo.resolve("bad/name"); }, ErrorKind::invalid_argument,
               "invalid backup name");
  expect_error([&] { repo.resolve("latest", kOtherSys); }, ErrorKind::not_found, kOtherSys);
}

TEST(Repository, LatestIsTheNewestBackupTheSelectorAccepts) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  auto dump = [](const std::string& name, const std::string& db, const std::string& started,
                 const std::string& trigger = "manual") {
    BackupMeta m = sample_meta(name, kSys, started);
    m.kind = "logical";
    m.database = db;
    m.trigger = trigger;
    m.objects = {{"dump.pgdump.zst", 3, sha256_hex("obj")}};
    return m;
  };
  BackupSelector physical{"physical", "", false};
  BackupSelector logical{"logical", "", true};
  BackupSelector shop{"logical", "shop", true};
  expect_error([&] { repo.resolve("latest", kSys, physical); }, ErrorKind::not_found,
               std::string("no complete physical backup found in repository memory:// (system ") +
                   kSys + ")");

  put_backup(repo, sample_meta("phys", kSys, "2026-11-24T00:00:00.000Z"));
  put_backup(repo, dump("shop-1", "shop", "2026-11-24T01:00:00.000Z"));
  put_backup(repo, dump("tiny-1", "tiny", "2026-11-24T02:00:00.000Z"));
  put_backup(repo, dump("shop-pre", "shop", "2026-11-24T03:00:00.000Z", "pre_restore"));

  EXPECT_EQ(repo.resolve("latest").name, "shop-pre") << "no selector: any kind, as before";
  EXPECT_EQ(repo.resolve("latest", "", physical).name, "phys");
  EXPECT_EQ(repo.resolve("latest", kSys, physical).name, "phys");
  EXPECT_EQ(repo.resolve("latest", "", logical).name, "tiny-1");
  EXPECT_EQ(repo.resolve("latest", "", shop).name, "shop-1");
  BackupSelector shop_any = shop;
  shop_any.skip_pre_restore = false;
  EXPECT_EQ(repo.resolve("latest", "", shop_any).name, "shop-pre");
  // A name is a name: the selector is for "latest" only.
  EXPECT_EQ(repo.resolve("tiny-1", "", physical).name, "tiny-1");
  // "physical" is every physical backup, incrementals included.
  BackupMeta incremental = sample_meta("incr", kSys, "2026-11-24T01:30:00.000Z");
  incremental.kind = "incremental";
  incremental.parent = "phys";
  EXPECT_TRUE(physical.matches(incremental));
  EXPECT_FALSE(logical.matches(incremental));
  const BackupSelector only_incremental{"incremental", "", false};
  EXPECT_TRUE(only_incremental.matches(incremental));
  EXPECT_FALSE(only_incremental.matches(sample_meta("phys", kSys, "x")));

  BackupSelector other{"logical", "other", true};
  expect_error([&] { repo.resolve("latest", "", other); }, ErrorKind::not_found,
               "no complete logical backup of database \"other\" other than pre_restore backups "
               "found in repository memory://; it holds 4 other complete backups, the newest "
               "\"shop-pre\" (logical, database shop, pre_restore)");
  EXPECT_EQ(other.describe(),
            "complete logical backup of database \"other\" other than pre_restore backups");
  EXPECT_EQ(BackupSelector{}.describe(), "complete backup");

  // Several systems: "latest" must not pick one because the other has no
  // backup of the kind asked for.
  BackupMeta foreign = dump("foreign", "shop", "2026-11-25T00:00:00.000Z");
  foreign.system_identifier = kOtherSys;
  put_backup(repo, foreign);
  expect_error([&] { repo.resolve("latest", "", physical); }, ErrorKind::invalid_argument,
               "several systems");
  EXPECT_EQ(repo.resolve("latest", kSys, physical).name, "phys");
  EXPECT_EQ(repo.resolve("latest", kOtherSys, shop).name, "foreign");
  expect_error([&] { repo.resolve("latest", "42", physical); }, ErrorKind::not_found,
               std::string("(system 42); it holds backups of systems ") + kSys + ", " + kOtherSys);
}

TEST(Repository, ListAllReadsCompleteAndDamagedBackupsOnce) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  put_backup(repo, sample_meta("good", kSys));
  storage->write_all(Repository::object_path(kOtherSys, "bad", "backup.json"), "not json");
  storage->write_all(Repository::object_path(kSys, "partial", "base.tar.zst"), "data");
  RepositoryListing all = repo.list_all();
  EXPECT_EQ(names(all.complete), std::vector<std::string>{"good"});
  ASSERT_EQ(all.unreadable.size(), 1u);
  EXPECT_EQ(all.unreadable[0].name, "bad");
  EXPECT_EQ(all.unreadable[0].system_identifier, kOtherSys);
  EXPECT_NE(all.unreadable[0].error.find("not valid JSON"), std::string::npos)
      << all.unreadable[0].error;
  EXPECT_TRUE(repo.list_all(kSys).unreadable.empty());
}

TEST(Repository, AmbiguityAcrossSystems) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  put_backup(repo, sample_meta("same", kSys, "2026-11-24T00:00:00.000Z"));
  put_backup(repo, sample_meta("same", kOtherSys, "2026-11-25T00:00:00.000Z"));
  put_backup(repo, sample_meta("only-other", kOtherSys, "2026-11-26T00:00:00.000Z"));

  EXPECT_EQ(repo.system_identifiers(), (std::vector<std::string>{kSys, kOtherSys}));
  EXPECT_EQ(repo.list_backups().size(), 3u);
  EXPECT_EQ(names(repo.list_backups(kOtherSys)), (std::vector<std::string>{"same", "only-other"}));
  expect_error([&] { repo.resolve("same"); }, ErrorKind::invalid_argument,
               std::string("exists for several systems in repository memory:// (") + kSys + ", " +
                   kOtherSys + ")");
  EXPECT_EQ(repo.resolve("same", kSys).system_identifier, kSys);
  EXPECT_EQ(repo.resolve("same", kOtherSys).system_identifier, kOtherSys);
  EXPECT_EQ(repo.resolve("only-other").system_identifier, kOtherSys);
  expect_error([&] { repo.resolve("latest"); }, ErrorKind::invalid_argument, "several systems");
  EXPECT_EQ(repo.resolve("latest", kSys).name, "same");
  EXPECT_EQ(repo.resolve("latest", kOtherSys).name, "only-other");
  expect_error([&] { repo.resolve("nope"); }, ErrorKind::not_found,
               std::string("available: ") + kSys + "/same, " + kOtherSys + "/same, " + kOtherSys +
                   "/only-other");
}

// Records every listing a repository asks its store for.
class RecordingListings : public ForwardingStorage {
 public:
  explicit RecordingListings(Storage& inner) : ForwardingStorage(inner) {}
  std::vector<std::string> listed, directories_listed;
  std::vector<ObjectInfo> list(const std::string& prefix) override {
    listed.push_back(prefix);
    return inner_.list(prefix);
  }
  std::vector<std::string> list_directories(const std::string& dir) override {
    directories_listed.push_back(dir);
    return inner_.list_directories(dir);
  }
};

// A repository's WAL archives outnumber its backups by thousands: naming
// its systems and listing every system's backups (pgvault list, restore
// and get without --system-id) lists each system's backups/ directory and
// nothing of its WAL.
TEST(Repository, ListingEverySystemNeverListsTheirWal) {
  auto memory = make_memory_storage();
  RecordingListings storage(*memory);
  Repository repo(storage);
  put_backup(repo, sample_meta("a", kSys, "2026-11-24T00:00:00.000Z"));
  put_backup(repo, sample_meta("b", kOtherSys, "2026-11-25T00:00:00.000Z"));
  for (const char* sys : {kSys, kOtherSys})
    for (int i = 0; i < 3; ++i)
      memory->write_all(
          std::string(sys) + "/wal/00000001/00000001000000000000000" + std::to_string(i) + ".zst",
          "wal");
  const std::string wal_only = "7400000000000000002";  // archived WAL, no backup yet
  memory->write_all(wal_only + "/wal/00000001/000000010000000000000001.zst", "wal");
  memory->write_all("notes/readme.txt", "not a system");  // neither backups/ nor wal/
  storage.listed.clear();

  EXPECT_EQ(names(repo.list_backups()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(repo.system_identifiers(), (std::vector<std::string>{kSys, kOtherSys, wal_only}));
  EXPECT_EQ(repo.resolve("b").system_identifier, kOtherSys);
  expect_error([&] { repo.resolve("latest"); }, ErrorKind::invalid_argument, "several systems");
  for (const std::string& prefix : storage.listed) {
    SCOPED_TRACE(prefix);
    EXPECT_NE(prefix.find("/backups/"), std::string::npos) << "listed beyond a backups/ directory";
  }
  EXPECT_FALSE(storage.listed.empty());
  EXPECT_EQ(storage.directories_listed.front(), "");
}

TEST(Repository, RemoveBackup) {
  TempDir tmp;
  auto storage = open_repository(tmp.path().string(), {});
  Repository repo(*storage);
  put_backup(repo, sample_meta("keep", kSys));
  put_backup(repo, sample_meta("drop", kSys));
  storage->write_all(Repository::object_path(kSys, "inc", "base.tar.zst"), "partial");

  repo.remove_backup(kSys, "drop");
  EXPECT_FALSE(repo.backup_exists(kSys, "drop"));
  EXPECT_TRUE(storage->list(Repository::backup_dir(kSys, "drop")).empty());
  EXPECT_FALSE(fs::exists(tmp.path() / kSys / "backups" / "drop"));
  EXPECT_EQ(names(repo.list_backups()), std::vector<std::string>{"keep"});

  repo.remove_backup(kSys, "inc");  // incomplete backups are removable too
  EXPECT_TRUE(repo.incomplete_backups(kSys).empty());
  expect_error([&] { repo.remove_backup(kSys, "drop"); }, ErrorKind::not_found, "\"drop\"");
  expect_error([&] { repo.remove_backup(kSys, "../keep"); }, ErrorKind::invalid_argument);
  EXPECT_TRUE(repo.backup_exists(kSys, "keep"));
}

// ---- end to end: pipeline into a file repository, then tamper -------------------------

TEST(Repository, CorruptedObjectIsDetected) {
  TempDir tmp;
  auto storage = open_repository("file://" + tmp.path().string(), {});
  Repository repo(*storage);

  std::string source;
  for (int i = 0; i < 20000; ++i) source += "row " + std::to_string(i) + " of the table\n";

  // source -> compressor -> DigestSink -> object writer
  const std::string object = "base.tar.zst";
  const std::string path = Repository::object_path(kSys, "b1", object);
  auto writer = storage->open_write(path);
  ObjectSink object_sink(*writer);
  DigestSink stored(object_sink);
  auto comp = make_compressor(Compression::zstd, 0, stored);
  comp->write(as_bytes(source));
  comp->finish();

  BackupMeta meta = sample_meta("b1", kSys);
  meta.objects = {{object, stored.bytes(), stored.sha256()}};
  meta.stored_bytes = stored.bytes();
  repo.write_meta(meta);

  // Intact: verifies, and decompresses to the source.
  BackupMeta read = repo.resolve("b1");
  ASSERT_EQ(read.objects.size(), 1u);
  EXPECT_NO_THROW(verify_object(*storage, path, read.objects[0]));
  StringSink restored;
  {
    auto dec = make_decompressor(compression_from_name(object), restored);
    dec->write(as_bytes(storage->read_all(path)));
    dec->finish();
  }
  EXPECT_TRUE(restored.str() == source);

  // Flip one byte of the stored file.
  fs::path file = tmp.path() / path;
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(stored.bytes() / 2));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(stored.bytes() / 2));
    f.put(static_cast<char>(c ^ 0x01));
  }
  NullSink null;
  DigestSink reread(null);
  reread.write(as_bytes(storage->read_all(path)));
  reread.finish();
  EXPECT_EQ(reread.bytes(), read.objects[0].size);
  EXPECT_NE(reread.sha256(), read.objects[0].sha256);
  expect_error([&] { verify_object(*storage, path, read.objects[0]); }, ErrorKind::corrupt,
               "object " + path + ": SHA-256 mismatch (expected " + read.objects[0].sha256 +
                   ", got " + reread.sha256() + ")");

  // Truncated: size mismatch. Missing: not_found.
  fs::resize_file(file, stored.bytes() - 10);
  expect_error([&] { verify_object(*storage, path, read.objects[0]); }, ErrorKind::corrupt,
               "size mismatch (expected " + std::to_string(stored.bytes()) + " bytes, got " +
                   std::to_string(stored.bytes() - 10) + ")");
  fs::remove(file);
  expect_error([&] { verify_object(*storage, path, read.objects[0]); }, ErrorKind::not_found);
}
