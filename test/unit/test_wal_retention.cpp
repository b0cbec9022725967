// Retention of archived WAL (include/pgvault/wal/wal_retention.hpp).
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/wal/wal_retention.hpp"
#include "test_support.hpp"
#include "wal_test_listing.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace pgvault;
using wal_test::kSysid;
using wal_test::Listing;
using wal_test::physical;

namespace {

constexpr std::uint64_t k16MB = kDefaultWalSegmentSize;

std::vector<std::string> names_of(const std::vector<std::string>& keys) {
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(parse_wal_object_key(k).file.name());
  return names;
}

std::string seg(TimelineId tli, WalSegmentNo segno) {
  return WalFileName::segment(tli, segno, k16MB).name();
}

}  // namespace

TEST(WalRetention, RemovesWhatPrecedesTheOldestRetainedBackup) {
  Listing l;
  l.segments(1, 1, 8);
  const WalRetentionPlan plan = plan_wal_retention(
      l.catalog(), {physical("b2", 1, "0/4000028", "0/4000138", "2026-12-05T11:00:00Z")});
  EXPECT_TRUE(plan.kept_all_reason.empty()) << plan.kept_all_reason;
  EXPECT_EQ(names_of(plan.remove), (std::vector<std::string>{seg(1, 1), seg(1, 2), seg(1, 3)}));
  EXPECT_TRUE(plan.directories.empty());
  EXPECT_EQ(plan.keep_from.at(1), 4u);
  EXPECT_EQ(plan.removed_ranges.at(1), (WalSegmentRange{1, 3}));
  EXPECT_EQ(plan.object_count, 3u);

  // The window from the retained backup is untouched: it still opens one.
  std::vector<ObjectInfo> after;
  for (const auto& o : l.objects)
    if (std::find(plan.remove.begin(), plan.remove.end(), o.path) == plan.remove.end())
      after.push_back(o);
  const WalCatalog rest = build_wal_catalog(after, kSysid, k16MB, {});
  EXPECT_TRUE(rest.timeline(1)->gaps.empty());
  EXPECT_EQ(rest.recoverable_windows(
                    {physical("b2", 1, "0/4000028", "0/4000138", "2026-12-05T11:00:00Z")}, 1)
                .size(),
            1u);
}

TEST(WalRetention, OldestOfSeveralBackupsDecides) {
  Listing l;
  l.segments(1, 1, 9);
  const WalRetentionPlan plan = plan_wal_retention(
      l.catalog(), {physical("b3", 1, "0/7000028", "0/7000138", "2026-12-05T12:00:00Z"),
                    physical("b2", 1, "0/3000028", "0/3000138", "2026-12-05T11:00:00Z")});
  EXPECT_EQ(names_of(plan.remove), (std::vector<std::string>{seg(1, 1), seg(1, 2)}));
}

TEST(WalRetention, NoPhysicalBackupRemovesNothing) {
  Listing l;
  l.segments(1, 1, 4);
  BackupMeta dump = physical("dump", 1, "0/3000028", "0/3000138", "2026-12-05T11:00:00Z");
  dump.kind = "logical";
  BackupMeta other = physical("other", 1, "0/3000028", "0/3000138", "2026-12-05T11:00:00Z");
  other.system_identifier = "42";
  const WalRetentionPlan plan = plan_wal_retention(l.catalog(), {dump, other});
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_NE(plan.kept_all_reason.find("no physical backup"), std::string::npos)
      << plan.kept_all_reason;

  BackupMeta damaged = physical("damaged", 1, "garbage", "0/3000138", "2026-12-05T11:00:00Z");
  const WalRetentionPlan stopped = plan_wal_retention(
      l.catalog(), {damaged, physical("b", 1, "0/3000028", "0/3000138", "2026-12-05T11:00:00Z")});
  EXPECT_TRUE(stopped.remove.empty());
  EXPECT_NE(stopped.kept_all_reason.find("\"damaged\""), std::string::npos);
}

TEST(WalRetention, AncestorsGoUpToTheSwitchHistoriesStay) {
  Listing l;
  l.segments(1, 1, 5);
  const std::string history = l.history(2, "1\t0/5000100\tno recovery target specified\n");
  const WalFileName partial = parse_wal_file_name("000000010000000000000005.partial");
  l.objects.push_back({wal_object_key(kSysid, partial, sha256_hex("p"), Compression::none), 1, 1});
  l.segments(2, 5, 9);
  // The retained backup was taken on timeline 2.
  const WalRetentionPlan plan = plan_wal_retention(
      l.catalog(), {physical("b", 2, "0/7000028", "0/7000138", "2026-12-05T12:00:00Z")});
  EXPECT_EQ(names_of(plan.remove), (std::vector<std::string>{seg(1, 1), seg(1, 2), seg(1, 3),
                                                             seg(1, 4), seg(2, 5), seg(2, 6)}));
  EXPECT_EQ(plan.keep_from.at(1), 5u) << "the switch segment and the .partial stay";
  EXPECT_EQ(std::count(plan.remove.begin(), plan.remove.end(), history), 0);

  // A backup still on timeline 1 keeps timeline 2 whole (a descendant).
  const WalRetentionPlan both = plan_wal_retention(
      l.catalog(), {physical("old", 1, "0/3000028", "0/3000138", "2026-12-05T11:00:00Z"),
                    physical("b", 2, "0/7000028", "0/7000138", "2026-12-05T12:00:00Z")});
  EXPECT_EQ(names_of(both.remove), (std::vector<std::string>{seg(1, 1), seg(1, 2)}));

  // Without timeline 2's history its ancestry is unknown: timeline 1 is kept.
  Listing unknown;
  unknown.segments(1, 1, 5);
  unknown.segments(2, 5, 9);
  const WalRetentionPlan kept = plan_wal_retention(
      unknown.catalog(), {physical("b", 2, "0/7000028", "0/7000138", "2026-12-05T12:00:00Z")});
  EXPECT_EQ(names_of(kept.remove), (std::vector<std::string>{seg(2, 5), seg(2, 6)}));
}

TEST(WalRetention, ConflictingCopiesAndBackupFilesGoWithTheirSegment) {
  Listing l;
  l.segments(1, 1, 4);
  l.segment(1, 2, "a second writer");
  const WalFileName backup = parse_wal_file_name("000000010000000000000002.00000028.backup");
  l.objects.push_back({wal_object_key(kSysid, backup, sha256_hex("b"), Compression::none), 1, 1});
  const WalRetentionPlan plan = plan_wal_retention(
      l.catalog(), {physical("b", 1, "0/3000028", "0/3000138", "2026-12-05T12:00:00Z")});
  EXPECT_EQ(plan.remove.size(), 4u);
  EXPECT_EQ(plan.object_count, 4u);
}

TEST(WalRetention, WholeDirectoriesBelowTheBoundary) {
  Listing l;
  l.segments(1, 0xFE, 0x102);  // log 0 ends at 0xFF
  const WalRetentionPlan plan = plan_wal_retention(
      l.catalog(), {physical("b", 1, "1/2000028", "1/2000138", "2026-12-05T12:00:00Z")});
  EXPECT_EQ(plan.directories,
            (std::vector<std::string>{kSysid + "/wal/00000001/0000000100000000/"}));
  EXPECT_EQ(names_of(plan.remove), (std::vector<std::string>{seg(1, 0x100), seg(1, 0x101)}));
  EXPECT_EQ(plan.object_count, 4u);
}

// apply_retention on a real (file) store: expiring the older backup removes
// the WAL before the retained one, its temp leftovers with whole
// directories, and keeps history files.
TEST(WalRetention, ApplyRetentionRemovesWalOfExpiredBackups) {
  test::TempDir dir;
  auto storage = open_repository("file://" + dir.str(), {});
  Repository repo(*storage);
  BackupMeta older = physical("b1", 1, "0/100028", "0/100138", "2026-12-05T10:00:00Z");
  BackupMeta newer = physical("b2", 1, "1/2000028", "1/2000138", "2026-12-05T11:00:00Z");
  for (BackupMeta* m : {&older, &newer}) {
    m->pg_version = 150000;
    m->objects = {{"base.tar", 1, sha256_hex("x")}};
    storage->write_all(Repository::object_path(kSysid, m->name, "base.tar"), "x");
    repo.write_meta(*m);
  }
  Listing l;
  l.segments(1, 0xFE, 0x103);
  l.history(2, "1\t9/0\tfuture\n");
  for (const auto& o : l.objects) storage->write_all(o.path, "stored");
  // What an interrupted upload leaves in the file store.
  storage->write_all(kSysid + "/wal/00000001/0000000100000000/leftover.pgvault-tmp.1.1", "x");

  RetentionPolicies policies;
  policies.physical.keep_count = 1;
  const RetentionResult r =
      apply_retention(repo, kSysid, policies, parse_utc_timestamp("2026-12-06T00:00:00Z"), "",
                      86400, {}, [&](const std::string& key) { return l.histories.at(key); });
  EXPECT_EQ(r.expired, (std::vector<std::string>{"b1"}));
  EXPECT_EQ(r.wal_removed_objects, 4u);
  EXPECT_EQ(r.wal_removed_ranges,
            (std::vector<std::string>{
                "0000000100000000000000FE..000000010000000100000001 (timeline 1)"}));
  std::vector<std::string> left;
  for (const auto& o : storage->list(kSysid + "/wal/")) left.push_back(o.path);
  std::vector<std::string> left_names;
  for (const auto& k : left) left_names.push_back(parse_wal_object_key(k).file.name());
  EXPECT_EQ(left_names,
            (std::vector<std::string>{seg(1, 0x102), seg(1, 0x103), "00000002.history"}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / kSysid / "wal/00000001/0000000100000000"))
      << "the directory and its temp leftover are gone";

  // Nothing to expire, no physical policy: WAL untouched.
  const RetentionResult none = apply_retention(repo, kSysid, RetentionPolicies{},
                                               parse_utc_timestamp("2026-12-06T00:00:00Z"), "");
  EXPECT_EQ(none.wal_removed_objects, 0u);
  EXPECT_EQ(storage->list(kSysid + "/wal/").size(), 3u);
}
