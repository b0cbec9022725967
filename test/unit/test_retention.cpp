// Retention: the policy (plan_retention), its application to a repository
// (apply_retention) and the timestamp parser it relies on.
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSys = "7291450313927315981";
constexpr const char* kOtherSys = "7300000000000000001";
constexpr std::int64_t kDay = 86400;
// 2026-11-24T00:00:00Z
constexpr std::int64_t kNow = 1795478400;

using Names = std::vector<std::string>;

// ---- parse_utc_timestamp -------------------------------------------------------

TEST(ParseUtcTimestamp, AcceptsTheFormsPgvaultWrites) {
  EXPECT_EQ(parse_utc_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_utc_timestamp("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(parse_utc_timestamp("2026-11-24T00:00:00Z"), kNow);
  EXPECT_EQ(parse_utc_timestamp("2026-11-24T06:15:30.123Z"), kNow + 6 * 3600 + 15 * 60 + 30);
  EXPECT_EQ(parse_utc_timestamp("2026-11-24T06:15:30Z"), kNow + 6 * 3600 + 15 * 60 + 30);
  EXPECT_EQ(
      parse_utc_timestamp("2000-03-01T00:00:00Z") - parse_utc_timestamp("2000-02-28T00:00:00Z"),
      2 * kDay);  // 2000 is a leap year
  EXPECT_EQ(parse_utc_timestamp("2024-02-29T23:59:59Z"), 1709251199);
  EXPECT_EQ(parse_utc_timestamp("2038-01-19T03:14:08Z"), 2147483648LL);  // past 32-bit time_t

  // Round trip with what pgvault itself produces now.
  const std::int64_t wall = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  const std::int64_t parsed = parse_utc_timestamp(utc_timestamp_now());
  EXPECT_LE(parsed, wall + 1);
  EXPECT_GE(parsed, wall - 1);
}

TEST(ParseUtcTimestamp, RejectsEverythingElse) {
  for (const char* bad : {
           "",
           "2026-11-24",
           "2026-11-24T06:15:30",        // no Z
           "2026-11-24T06:15:30.123",    // no Z
           "2026-11-24 06:15:30Z",       // space instead of T
           "2026-11-24T06:15:30+00:00",  // offset instead of Z
           "2026-11-24T06:15:30.Z",      // empty fraction
           "2026-11-24T06:15:30.12aZ",   // non-digit fraction
           "2026-11-24T06:15:30ZZ",
           "2026-1-24T06:15:30Z",  // short month
           "x026-11-24T06:15:30Z",
           "2026-13-01T00:00:00Z",  // month 13
           "2026-00-01T00:00:00Z",  // month 0
           "2026-11-00T00:00:00Z",  // day 0
           "2026-11-31T00:00:00Z",  // November has 30 days
           "2026-02-29T00:00:00Z",  // 2026 is not a leap year
           "1900-02-29T00:00:00Z",  // nor is 1900
           "2026-11-24T24:00:00Z",
           "2026-11-24T06:60:00Z",
           "2026-11-24T06:15:60Z",
           " 2026-11-24T06:15:30Z",
       }) {
    SCOPED_TRACE(bad);
    expect_error([&] { parse_utc_timestamp(bad); }, ErrorKind::invalid_argument,
                 "invalid UTC timestamp");
  }
}

// ---- plan_retention ------------------------------------------------------------------

struct PlanCase {
  const char* what;
  std::vector<RetentionCandidate> candidates;
  RetentionPolicy policy;
  Names expected;  // oldest first
};

// Five daily backups b1 (oldest, 5 days ago) .. b5 (newest, 1 day ago).
std::vector<RetentionCandidate> five_daily() {
  return {{"b1", kNow - 5 * kDay},
          {"b2", kNow - 4 * kDay},
          {"b3", kNow - 3 * kDay},
          {"b4", kNow - 2 * kDay},
          {"b5", kNow - 1 * kDay}};
}

TEST(PlanRetention, TableOfCases) {
  const std::vector<PlanCase> cases = {
      {"neither set keeps everything", five_daily(), {0, 0}, {}},
      {"count 2 of 5 expires the 3 oldest", five_daily(), {2, 0}, {"b1", "b2", "b3"}},
      {"count 1 keeps only the newest", five_daily(), {1, 0}, {"b1", "b2", "b3", "b4"}},
      {"count equal to the number of backups", five_daily(), {5, 0}, {}},
      {"count above the number of backups", five_daily(), {10, 0}, {}},
      {"days 3 expires those completed more than 3 days ago", five_daily(), {0, 3}, {"b1", "b2"}},
      {"days: exactly at the cutoff is kept", five_daily(), {0, 4}, {"b1"}},
      {"days 30 expires nothing", five_daily(), {0, 30}, {}},
      {"both: count protects the newest 4 even if old", five_daily(), {4, 1}, {"b1"}},
      {"both: days protects beyond the count", five_daily(), {1, 3}, {"b1", "b2"}},
      {"both: count 2, days 1", five_daily(), {2, 1}, {"b1", "b2", "b3"}},
      {"newest never expired by days even when all are old",
       {{"old1", kNow - 100 * kDay}, {"old2", kNow - 90 * kDay}, {"old3", kNow - 80 * kDay}},
       {0, 1},
       {"old1", "old2"}},
      {"a single old backup survives", {{"only", kNow - 365 * kDay}}, {0, 1}, {}},
      {"a single old backup survives count and days", {{"only", kNow - 365 * kDay}}, {1, 1}, {}},
      {"empty input", {}, {2, 7}, {}},
      {"unsorted input is sorted by completion time",
       {{"b4", kNow - 2 * kDay},
        {"b1", kNow - 5 * kDay},
        {"b5", kNow - 1 * kDay},
        {"b3", kNow - 3 * kDay},
        {"b2", kNow - 4 * kDay}},
       {2, 0},
       {"b1", "b2", "b3"}},
      {"completion time, not name, decides the order",
       {{"z-old", kNow - 5 * kDay}, {"a-new", kNow - 1 * kDay}, {"m-mid", kNow - 3 * kDay}},
       {1, 0},
       {"z-old", "m-mid"}},
      {"ties are broken by name, the greater name is newer",
       {{"t-b", kNow - 2 * kDay}, {"t-c", kNow - 2 * kDay}, {"t-a", kNow - 2 * kDay}},
       {1, 0},
       {"t-a", "t-b"}},
      {"ties: the newest by name is never expired by days",
       {{"t-a", kNow - 9 * kDay}, {"t-b", kNow - 9 * kDay}},
       {0, 1},
       {"t-a"}},
      {"future completion times are kept by days",
       {{"f1", kNow + kDay}, {"f2", kNow + 2 * kDay}},
       {0, 1},
       {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(plan_retention(c.candidates, c.policy, kNow), c.expected);
  }
}

TEST(PlanRetention, PolicyEnabled) {
  EXPECT_FALSE((RetentionPolicy{0, 0}.enabled()));
  EXPECT_TRUE((RetentionPolicy{1, 0}.enabled()));
  EXPECT_TRUE((RetentionPolicy{0, 1}.enabled()));
  EXPECT_FALSE((RetentionPolicy{-1, -1}.enabled()));
  EXPECT_EQ(plan_retention(five_daily(), {-3, -3}, kNow), Names{});
}

// A full and a fast incremental on it that complete within one second: the
// incremental, ending later in the WAL, is the newest one kept, though
// "…-physical" sorts after "…-incremental" by name.
TEST(PlanRetention, WithinOneSecondTheLaterInTheWalIsNewer) {
  const std::vector<RetentionCandidate> complete = {
      {"20261206T003306Z-physical", kNow - 10, "physical", "", 0x2000100},
      {"20261206T003306Z-incremental", kNow - 10, "physical", "", 0x4000100},
  };
  EXPECT_EQ(plan_retention(complete, {1, 0}, kNow), Names{"20261206T003306Z-physical"});
}

TEST(PlanRetention, HugeDaysDoNotOverflow) {
  EXPECT_EQ(plan_retention(five_daily(), {0, 2147483647}, kNow), Names{});
  EXPECT_EQ(plan_retention({{"a", INT64_MIN}, {"b", INT64_MIN + 1}}, {0, 2147483647}, INT64_MIN),
            Names{});
}

// ---- retention per group (issue 13: a logical dump expired the only physical backup) --------

RetentionCandidate logical_of(const std::string& name, std::int64_t at, const std::string& db,
                              const LogicalOptions& selection = {}) {
  return {name, at, "logical", retention_group(db, selection.to_json())};
}

TEST(PlanRetentionByGroup, ALogicalDumpNeverExpiresAPhysicalBackup) {
  const std::vector<RetentionCandidate> c = {
      {"p1", kNow - 3 * kDay}, {"p2", kNow - 2 * kDay}, logical_of("l1", kNow - kDay, "tiny")};
  // retention_count = 1 for both kinds: each kind keeps its newest.
  EXPECT_EQ(plan_retention_by_group(c, {{1, 0}, {1, 0}}, kNow), Names{"p1"});
  // Days for both: the newest of each kind survives however old.
  EXPECT_EQ(plan_retention_by_group(c, {{0, 1}, {0, 1}}, kNow), Names{"p1"});
}

TEST(PlanRetentionByGroup, EachDatabaseAndSelectionCountsOnItsOwn) {
  LogicalOptions schema_only;
  schema_only.schema_only = true;
  const std::vector<RetentionCandidate> c = {
      logical_of("a1", kNow - 5 * kDay, "a"),
      logical_of("a2", kNow - 4 * kDay, "a"),
      logical_of("b1", kNow - 3 * kDay, "b"),
      logical_of("a-schema", kNow - 1 * kDay, "a", schema_only),
      {"p1", kNow - 6 * kDay}};
  EXPECT_EQ(plan_retention_by_group(c, {{0, 0}, {1, 0}}, kNow), Names{"a1"});
  EXPECT_EQ(plan_retention_by_group(c, {{1, 0}, {0, 0}}, kNow), Names{});
  EXPECT_EQ(plan_retention_by_group(c, {{0, 0}, {0, 1}}, kNow), Names{"a1"});
}

TEST(PlanRetentionByGroup, ExpiredNamesAreOldestFirstAcrossGroups) {
  const std::vector<RetentionCandidate> c = {
      {"p1", kNow - 5 * kDay}, logical_of("l1", kNow - 4 * kDay, "x"),
      {"p2", kNow - 3 * kDay}, logical_of("l2", kNow - 2 * kDay, "x"),
      {"p3", kNow - 1 * kDay}, logical_of("l3", kNow, "x")};
  EXPECT_EQ(plan_retention_by_group(c, {{1, 0}, {1, 0}}, kNow), (Names{"p1", "l1", "p2", "l2"}));
}

TEST(PlanRetentionByGroup, UnknownKindsAreNeverExpired) {
  const std::vector<RetentionCandidate> c = {{"f1", kNow - 5 * kDay, "future", ""},
                                             {"f2", kNow - 1 * kDay, "future", ""}};
  EXPECT_EQ(plan_retention_by_group(c, {{1, 0}, {1, 0}}, kNow), Names{});
}

TEST(NewestOfEachGroup, OnePerKindDatabaseAndSelection) {
  const std::vector<RetentionCandidate> c = {{"p1", kNow - 5 * kDay},
                                             {"p2", kNow - 4 * kDay},
                                             logical_of("a1", kNow - 3 * kDay, "a"),
                                             logical_of("a2", kNow - 2 * kDay, "a"),
                                             logical_of("b1", kNow - 9 * kDay, "b")};
  EXPECT_EQ(newest_of_each_group(c), (Names{"p2", "a2", "b1"}));
}

// ---- apply_retention against a file repository ---------------------------------------------

std::int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

class ApplyRetention : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = open_repository("file://" + dir_.str(), {});
    repo_ = std::make_unique<Repository>(*storage_);
  }

  // A complete backup: one data object, then backup.json.
  void put_complete(const std::string& name, std::int64_t completed_at,
                    const std::string& sysid = kSys, const std::string& kind = "physical",
                    const std::string& database = "postgres", const LogicalOptions& selection = {},
                    const std::string& trigger = "manual", const std::string& parent = "") {
    const std::string data = "data of " + name;
    storage_->write_all(Repository::object_path(sysid, name, "base.tar.zst"), data);
    BackupMeta m;
    m.name = name;
    m.kind = kind;
    m.database = database;
    m.logical = selection;
    m.trigger = trigger;
    m.parent = parent;
    m.system_identifier = sysid;
    m.started_at = iso(completed_at - 60);
    m.completed_at = iso(completed_at);
    m.objects = {{"base.tar.zst", data.size(), sha256_hex(data)}};
    repo_->write_meta(m);
  }

  // An incomplete backup: objects with no backup.json; their mtime is set
  // to mtime (unix seconds) on disk.
  void put_incomplete(const std::string& name, std::int64_t mtime,
                      const std::string& sysid = kSys) {
    for (const char* obj : {"base.tar.zst", "16385.tar.zst"}) {
      std::string path = Repository::object_path(sysid, name, obj);
      storage_->write_all(path, "partial");
      set_mtime(path, mtime);
    }
  }

  void set_mtime(const std::string& object, std::int64_t mtime) {
    struct timeval tv[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
    ASSERT_EQ(::utimes((dir_.path() / object).c_str(), tv), 0) << object;
  }

  bool dir_exists(const std::string& sysid, const std::string& name) {
    return fs::exists(dir_.path() / Repository::backup_dir(sysid, name));
  }
  bool has_objects(const std::string& sysid, const std::string& name) {
    return !storage_->list(Repository::backup_dir(sysid, name)).empty();
  }

  Names listed(const std::string& sysid = kSys) {
    Names out;
    for (const auto& m : repo_->list_backups(sysid)) out.push_back(m.name);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(ApplyRetention, PerKindAndDatabasePreRestoreCountsWithItsDatabase) {
  const std::int64_t now = wall_now();
  put_complete("p1", now - 5 * kDay);
  put_complete("p2", now - 4 * kDay);
  put_complete("tiny1", now - 3 * kDay, kSys, "logical", "tiny");
  put_complete("shop1", now - 2 * kDay, kSys, "logical", "shop");
  put_complete("shop-pre", now - 1 * kDay, kSys, "logical", "shop", {}, "pre_restore");
  RetentionResult r = apply_retention(*repo_, kSys, {{1, 0}, {1, 0}}, now, "");
  EXPECT_EQ(r.expired, (Names{"p1", "shop1"}));
  EXPECT_EQ(listed(), (Names{"p2", "tiny1", "shop-pre"}));  // oldest first
  // Logical retention off: physical still applies, dumps stay.
  put_complete("p3", now - 10);
  r = apply_retention(*repo_, kSys, {{1, 0}, {0, 0}}, now, "");
  EXPECT_EQ(r.expired, Names{"p2"});
}

// Incremental backups are restore points like fulls (retention_count counts
// both), but a chain is kept whole as long as any of its backups stays.
TEST_F(ApplyRetention, ChainsAreKeptWholeWhileAnIncrementalOfThemStays) {
  const std::int64_t now = wall_now();
  auto incr = [&](const std::string& name, std::int64_t at, const std::string& parent) {
    put_complete(name, at, kSys, "incremental", "postgres", {}, "manual", parent);
  };
  put_complete("f1", now - 10 * kDay);
  incr("i1", now - 9 * kDay, "f1");
  incr("i2", now - 8 * kDay, "i1");
  put_complete("f2", now - 7 * kDay);
  incr("i3", now - 6 * kDay, "f2");
  put_complete("dump", now - 20 * kDay, kSys, "logical");

  // Keep 3: i3, f2 and i2 by count; i2 needs i1 and f1.
  RetentionResult r = apply_retention(*repo_, kSys, {{3, 0}, {0, 0}}, now, "");
  EXPECT_TRUE(r.expired.empty());
  EXPECT_EQ(r.kept_for_chains,
            (Names{"backup \"i1\" stays: incremental backup \"i2\", which stays, is restored on "
                   "top of it",
                   "backup \"f1\" stays: incremental backup \"i1\", which stays, is restored on "
                   "top of it"}));

  // Keep 2: i3 and f2; the older chain goes whole, its incrementals first.
  r = apply_retention(*repo_, kSys, {{2, 0}, {0, 0}}, now, "");
  EXPECT_EQ(r.expired, (Names{"f1", "i1", "i2"}));
  EXPECT_TRUE(r.kept_for_chains.empty());
  EXPECT_EQ(listed(), (Names{"dump", "f2", "i3"}));

  // Keep 1 by days too: i3 stays, so f2 stays with it.
  r = apply_retention(*repo_, kSys, {{1, 1}, {0, 0}}, now, "");
  EXPECT_TRUE(r.expired.empty());
  EXPECT_EQ(r.kept_for_chains.size(), 1u);
}

TEST(KeepChainParents, FollowsEveryLinkAndStopsAtALoop) {
  auto meta = [](const std::string& name, const std::string& kind, const std::string& parent) {
    BackupMeta m;
    m.name = name;
    m.kind = kind;
    m.parent = parent;
    return m;
  };
  std::vector<BackupMeta> complete = {
      meta("f", "physical", ""),     meta("a", "incremental", "f"),
      meta("b", "incremental", "a"), meta("x", "incremental", "y"),
      meta("y", "incremental", "x"), meta("lost", "incremental", "gone")};
  Names planned = {"f", "a", "x", "y", "lost"};
  const Names reasons = keep_chain_parents(complete, planned);
  EXPECT_EQ(planned, (Names{"x", "y", "lost"}));  // nothing that stays needs them
  EXPECT_EQ(reasons.size(), 2u);
  planned = {"x"};
  keep_chain_parents(complete, planned);  // y stays and names x; x names y: no endless walk
  EXPECT_TRUE(planned.empty());
  EXPECT_EQ(dependent_backups(complete, "a"), Names{"b"});
  EXPECT_EQ(dependent_backups(complete, "f"), Names{"a"});
  EXPECT_TRUE(dependent_backups(complete, "b").empty());
}

// A backup written by a newer pgvault (backup.json format_version 4): retention
// neither counts nor removes it, however old, and says it kept it.
TEST_F(ApplyRetention, KeepsBackupOfNewerFormat) {
  const std::int64_t now = wall_now();
  put_complete("newer", now - 30 * kDay);
  put_complete("b1", now - 2 * kDay);
  put_complete("b2", now - 1 * kDay);
  const std::string meta_path = Repository::object_path(kSys, "newer", "backup.json");
  std::string json = storage_->read_all(meta_path);
  const std::string v1 = "\"format_version\": 1";
  ASSERT_NE(json.find(v1), std::string::npos) << json;
  json.replace(json.find(v1), v1.size(), "\"format_version\": 4");
  storage_->write_all(meta_path, json);

  RetentionResult r = apply_retention(*repo_, kSys, {1, 1}, now, "");
  EXPECT_EQ(r.expired, Names{"b1"});
  EXPECT_TRUE(r.leftovers.empty());
  ASSERT_EQ(r.kept_unreadable.size(), 1u);
  EXPECT_NE(r.kept_unreadable[0].find("backup \"newer\""), std::string::npos)
      << r.kept_unreadable[0];
  EXPECT_NE(r.kept_unreadable[0].find("format_version 4 is newer than this pgvault understands"),
            std::string::npos)
      << r.kept_unreadable[0];
  EXPECT_TRUE(storage_->info(meta_path).has_value());
  EXPECT_TRUE(storage_->info(Repository::object_path(kSys, "newer", "base.tar.zst")).has_value());
}

TEST_F(ApplyRetention, CountExpiresOldestAndCleansLeftovers) {
  const std::int64_t now = wall_now();
  put_complete("b1", now - 5 * kDay);
  put_complete("b2", now - 4 * kDay);
  put_complete("b3", now - 3 * kDay);
  put_complete("b4", now - 2 * kDay);
  put_complete("b5", now - 1 * kDay);
  // Another system: older than everything, must survive.
  put_complete("o1", now - 50 * kDay, kOtherSys);
  put_complete("o2", now - 40 * kDay, kOtherSys);
  put_incomplete("o-left", now - 10 * kDay, kOtherSys);
  // Leftovers: one old, one young, and the running backup (old, incomplete).
  put_incomplete("left-old", now - 2 * kDay);
  put_incomplete("left-young", now - 3600);
  put_incomplete("running", now - 3 * kDay);
  // The young leftover's newest object is recent even though another is old.
  set_mtime(Repository::object_path(kSys, "left-young", "base.tar.zst"), now - 9 * kDay);

  RetentionResult r = apply_retention(*repo_, kSys, {2, 0}, now, "running");

  EXPECT_EQ(r.expired, (Names{"b1", "b2", "b3"}));
  EXPECT_EQ(r.leftovers, Names{"left-old"});

  EXPECT_EQ(listed(), (Names{"b4", "b5"}));
  for (const char* gone : {"b1", "b2", "b3", "left-old"}) {
    SCOPED_TRACE(gone);
    EXPECT_FALSE(has_objects(kSys, gone));
    EXPECT_FALSE(dir_exists(kSys, gone));
  }
  for (const char* kept : {"b4", "b5"}) {
    SCOPED_TRACE(kept);
    EXPECT_TRUE(storage_->info(Repository::object_path(kSys, kept, "base.tar.zst")));
    EXPECT_NO_THROW(repo_->read_meta(kSys, kept));
  }
  EXPECT_EQ(storage_->list(Repository::backup_dir(kSys, "running")).size(), 2u);
  EXPECT_EQ(storage_->list(Repository::backup_dir(kSys, "left-young")).size(), 2u);
  EXPECT_EQ(repo_->incomplete_backups(kSys), (Names{"left-young", "running"}));

  // The other system is untouched.
  EXPECT_EQ(listed(kOtherSys), (Names{"o1", "o2"}));
  EXPECT_EQ(repo_->incomplete_backups(kOtherSys), Names{"o-left"});

  // Applying again changes nothing.
  RetentionResult again = apply_retention(*repo_, kSys, {2, 0}, now, "running");
  EXPECT_EQ(again.expired, Names{});
  EXPECT_EQ(again.leftovers, Names{});
  EXPECT_EQ(listed(), (Names{"b4", "b5"}));
}

TEST_F(ApplyRetention, DaysWithNowInTheFutureAndTheNewestSurvives) {
  // Real mtimes; the "age" comes from passing a later `now`.
  const std::int64_t wall = wall_now();
  put_complete("b1", wall - 3 * kDay);
  put_complete("b2", wall - 2 * kDay);
  put_complete("b3", wall - 60);
  storage_->write_all(Repository::object_path(kSys, "left", "base.tar.zst"), "partial");
  storage_->write_all(Repository::object_path(kSys, "running", "base.tar.zst"), "partial");

  // Today: days=1 expires b1 and b2; the leftover is young and stays.
  RetentionResult r = apply_retention(*repo_, kSys, {0, 1}, wall, "running");
  EXPECT_EQ(r.expired, (Names{"b1", "b2"}));
  EXPECT_EQ(r.leftovers, Names{});
  EXPECT_EQ(listed(), Names{"b3"});
  EXPECT_EQ(repo_->incomplete_backups(kSys), (Names{"left", "running"}));

  // Two days later: everything is old, but b3 is the newest complete backup
  // and "running" is running; only the leftover goes.
  r = apply_retention(*repo_, kSys, {0, 1}, wall + 2 * kDay, "running");
  EXPECT_EQ(r.expired, Names{});
  EXPECT_EQ(r.leftovers, Names{"left"});
  EXPECT_EQ(listed(), Names{"b3"});
  EXPECT_EQ(repo_->incomplete_backups(kSys), Names{"running"});

  // Once it is no longer running, it is a leftover like any other.
  r = apply_retention(*repo_, kSys, {0, 1}, wall + 2 * kDay, "");
  EXPECT_EQ(r.leftovers, Names{"running"});
  EXPECT_EQ(repo_->incomplete_backups(kSys), Names{});
  EXPECT_EQ(listed(), Names{"b3"});
}

TEST_F(ApplyRetention, NoPolicyStillCleansLeftoversOnly) {
  const std::int64_t now = wall_now();
  put_complete("b1", now - 100 * kDay);
  put_complete("b2", now - 90 * kDay);
  put_incomplete("left", now - 2 * kDay);
  RetentionResult r = apply_retention(*repo_, kSys, {0, 0}, now, "");
  EXPECT_EQ(r.expired, Names{});
  EXPECT_EQ(r.leftovers, Names{"left"});
  EXPECT_EQ(listed(), (Names{"b1", "b2"}));
}

TEST_F(ApplyRetention, LeftoverMinAgeIsHonoured) {
  const std::int64_t now = wall_now();
  put_incomplete("two-hours", now - 2 * 3600);
  put_incomplete("ten-minutes", now - 600);
  RetentionResult r = apply_retention(*repo_, kSys, {0, 0}, now, "", 3600);
  EXPECT_EQ(r.leftovers, Names{"two-hours"});
  EXPECT_EQ(repo_->incomplete_backups(kSys), Names{"ten-minutes"});
}

TEST_F(ApplyRetention, RunningCompleteBackupIsNeitherExpiredNorCounted) {
  const std::int64_t now = wall_now();
  put_complete("b1", now - 5 * kDay);
  put_complete("b2", now - 4 * kDay);
  put_complete("b3", now - 1 * kDay);  // named as running: ignored entirely
  RetentionResult r = apply_retention(*repo_, kSys, {1, 0}, now, "b3");
  EXPECT_EQ(r.expired, Names{"b1"});
  EXPECT_EQ(listed(), (Names{"b2", "b3"}));
}

TEST_F(ApplyRetention, UnparsableCompletionTimeIsNeverExpired) {
  const std::int64_t now = wall_now();
  put_complete("b1", now - 5 * kDay);
  put_complete("b2", now - 4 * kDay);
  put_complete("b3", now - 1 * kDay);
  BackupMeta m = repo_->read_meta(kSys, "b1");
  m.completed_at = "yesterday";
  repo_->write_meta(m);
  RetentionResult r = apply_retention(*repo_, kSys, {1, 0}, now, "");
  EXPECT_EQ(r.expired, Names{"b2"});
  EXPECT_EQ(listed(), (Names{"b1", "b3"}));
}

TEST_F(ApplyRetention, UnreadableBackupJsonIsLeftAlone) {
  const std::int64_t now = wall_now();
  put_complete("b1", now - 5 * kDay);
  put_complete("b2", now - 1 * kDay);
  storage_->write_all(Repository::object_path(kSys, "broken", "base.tar.zst"), "x");
  storage_->write_all(Repository::object_path(kSys, "broken", Repository::kMetaFile), "{not json");
  set_mtime(Repository::object_path(kSys, "broken", "base.tar.zst"), now - 30 * kDay);
  set_mtime(Repository::object_path(kSys, "broken", Repository::kMetaFile), now - 30 * kDay);
  RetentionResult r = apply_retention(*repo_, kSys, {1, 1}, now, "");
  EXPECT_EQ(r.expired, Names{"b1"});
  EXPECT_EQ(r.leftovers, Names{});
  EXPECT_EQ(storage_->list(Repository::backup_dir(kSys, "broken")).size(), 2u);
}

TEST_F(ApplyRetention, EmptyOrInvalidSystemIdentifierIsRefused) {
  put_complete("b1", wall_now() - 5 * kDay);
  put_complete("b2", wall_now() - 4 * kDay);
  expect_error(
      [&] {
        apply_retention(*repo_, "", {1, 0}, wall_now(), "");
      },
      ErrorKind::invalid_argument, "system identifier");
  expect_error(
      [&] {
        apply_retention(*repo_, "a/b", {1, 0}, wall_now(), "");
      },
      ErrorKind::invalid_argument, "system identifier");
  EXPECT_EQ(listed(), (Names{"b1", "b2"}));
}

TEST_F(ApplyRetention, EmptyRepository) {
  RetentionResult r = apply_retention(*repo_, kSys, {1, 1}, wall_now(), "");
  EXPECT_TRUE(r.expired.empty());
  EXPECT_TRUE(r.leftovers.empty());
}

TEST_F(ApplyRetention, AbandonedBackupsAreRemovedWhateverTheirAge) {
  const std::int64_t now = wall_now();
  put_complete("done", now - 60);
  put_incomplete("failed-young", now - 60);  // younger than the leftover age
  put_incomplete("other-young", now - 60);   // not known to have failed: stays
  put_incomplete("running", now - 60);
  RetentionResult r = apply_retention(*repo_, kSys, {}, now, "running", 86400,
                                      {"failed-young", "nothing-written", "done", "running"});
  // "nothing-written" had no object listed (an object store may still hold an
  // unfinished upload there); it is cleaned and reported too. A name with a
  // backup.json is complete, whatever the caller thought.
  EXPECT_EQ(r.leftovers, (Names{"failed-young", "nothing-written"}));
  EXPECT_TRUE(r.expired.empty());
  EXPECT_FALSE(has_objects(kSys, "failed-young"));
  EXPECT_TRUE(has_objects(kSys, "other-young"));
  EXPECT_TRUE(has_objects(kSys, "running"));
  EXPECT_EQ(listed(), Names{"done"});
}

// The in-memory driver stamps objects with the wall clock, so `now` shifts age them.
TEST(ApplyRetentionMemory, WorksOnAnyStorage) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  const std::int64_t now = wall_now();
  for (int i = 1; i <= 3; ++i) {
    std::string name = "m" + std::to_string(i);
    storage->write_all(Repository::object_path(kSys, name, "dump"), "x");
    BackupMeta m;
    m.name = name;
    m.kind = "logical";
    m.system_identifier = kSys;
    m.started_at = iso(now - (10 - i) * kDay);
    m.completed_at = m.started_at;
    repo.write_meta(m);
  }
  storage->write_all(Repository::object_path(kSys, "left", "dump"), "x");
  RetentionResult r = apply_retention(repo, kSys, {{0, 0}, {2, 0}}, now + 2 * kDay, "");
  EXPECT_EQ(r.expired, Names{"m1"});
  EXPECT_EQ(r.leftovers, Names{"left"});
  EXPECT_TRUE(storage->list(Repository::backup_dir(kSys, "m1")).empty());
  EXPECT_EQ(storage->list(kSys + std::string("/backups/")).size(), 4u);  // m2, m3: dump + json
}

}  // namespace
