// Whose backups a retention run may expire (include/pgvault/catalog/other_servers.hpp).
#include "pgvault/catalog/other_servers.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include "doubles/memory_storage.hpp"
#include "wal_test_listing.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace pgvault;
using wal_test::kSysid;
using wal_test::Listing;
using wal_test::physical;

namespace {

// Timeline 2 forked from timeline 1 at 0/5000100 (inside segment 5).
ServerPosition on_timeline_2(const std::string& position = "0/7000000") {
  ServerPosition self;
  self.history = TimelineHistory::parse(2, "1\t0/5000100\tno recovery target specified\n");
  self.position = parse_lsn(position);
  return self;
}

ServerPosition on_timeline_1(const std::string& position) {
  ServerPosition self;
  self.position = parse_lsn(position);
  return self;
}

std::vector<std::string> names(const std::vector<OtherServerBackup>& others) {
  std::vector<std::string> out;
  for (const auto& o : others) out.push_back(o.name);
  return out;
}

using Names = std::vector<std::string>;

}  // namespace

TEST(OtherServers, AncestorBackupsBeforeTheForkAreThisServersWhenNothingWentOnAfterIt) {
  Listing wal;
  wal.segments(1, 1, 4);
  wal.segment(1, 5);  // the fork's own segment, full, is not proof of another writer
  wal.segments(2, 5, 7);
  const auto others =
      backups_of_other_servers({physical("a", 1, "0/2000028", "0/3000000", "2026-12-05T10:00:00Z"),
                                physical("b", 2, "0/6000028", "0/6000100", "2026-12-05T11:00:00Z")},
                               kSysid, on_timeline_2(), wal.objects);
  EXPECT_TRUE(others.empty()) << others.front().reason;
}

TEST(OtherServers, ABackupAfterTheForkMakesTheWholeAncestorTimelineAnotherServers) {
  const auto others = backups_of_other_servers(
      {physical("a", 1, "0/2000028", "0/3000000", "2026-12-05T10:00:00Z"),
       physical("late", 1, "0/5800028", "0/6000000", "2026-12-05T12:00:00Z"),
       physical("own", 2, "0/6000028", "0/6000100", "2026-12-05T11:00:00Z")},
      kSysid, on_timeline_2(), {});
  ASSERT_EQ(names(others), (Names{"a", "late"}));
  EXPECT_NE(others[1].reason.find("backup \"late\" (timeline 1, ends at 0/6000000) is another "
                                  "server's: it is not on the history of this server (timeline 2, "
                                  "at 0/7000000)"),
            std::string::npos)
      << others[1].reason;
  EXPECT_NE(others[0].reason.find("timeline 1 went on after this server (timeline 2, at "
                                  "0/7000000) forked from it at 0/5000100, on another server "
                                  "(backup \"late\")"),
            std::string::npos)
      << others[0].reason;
}

TEST(OtherServers, ASegmentArchivedAfterTheForkProvesAnotherWriter) {
  Listing wal;
  wal.segments(1, 1, 6);  // segment 6 of timeline 1: written after the fork in segment 5
  const auto others =
      backups_of_other_servers({physical("a", 1, "0/2000028", "0/3000000", "2026-12-05T10:00:00Z")},
                               kSysid, on_timeline_2(), wal.objects);
  ASSERT_EQ(names(others), (Names{"a"}));
  EXPECT_NE(others[0].reason.find("(archived segment 000000010000000000000006)"), std::string::npos)
      << others[0].reason;
}

TEST(OtherServers, SiblingTimelinesAndBackupsAheadOnTheSameTimelineAreAnotherServers) {
  const auto others = backups_of_other_servers(
      {physical("mine", 1, "0/2000028", "0/3000000", "2026-12-05T10:00:00Z"),
       physical("ahead", 1, "0/5000028", "0/6000000", "2026-12-05T11:00:00Z"),
       physical("copy", 2, "0/4000028", "0/4000100", "2026-12-05T12:00:00Z")},
      kSysid, on_timeline_1("0/4000000"), {});
  ASSERT_EQ(names(others), (Names{"ahead", "copy"}));
  EXPECT_NE(others[0].reason.find("it ends at 0/6000000, after the position of this server "
                                  "(timeline 1, at 0/4000000): another server writes on this "
                                  "timeline"),
            std::string::npos)
      << others[0].reason;
}

TEST(OtherServers, LogicalBackupsOtherSystemsAndUnreadablePositionsAreNotJudged) {
  BackupMeta logical = physical("dump", 9, "", "", "2026-12-05T10:00:00Z");
  logical.kind = "logical";
  BackupMeta foreign = physical("foreign", 9, "0/1", "0/2", "2026-12-05T10:00:00Z");
  foreign.system_identifier = "1234";
  BackupMeta unreadable = physical("odd", 9, "x", "y", "2026-12-05T10:00:00Z");
  EXPECT_TRUE(
      backups_of_other_servers({logical, foreign, unreadable}, kSysid, on_timeline_1("0/1"), {})
          .empty());
}

// A test copy promoted to timeline 2 and the original still on timeline 1
// share a repository: the copy's retention (keep 1) expires neither the
// original's backups nor, once the original went on, the backups before the fork.
TEST(OtherServers, RetentionOfACopyLeavesTheOriginalsBackups) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  for (const BackupMeta& m :
       {physical("20261205T090000Z-physical", 1, "0/2000028", "0/3000000", "2026-12-05T09:00:00Z"),
        physical("20261205T100000Z-physical", 1, "0/5800028", "0/6000000", "2026-12-05T10:00:00Z"),
        physical("20261205T110000Z-physical", 2, "0/6000028", "0/6000100", "2026-12-05T11:00:00Z"),
        physical("20261205T120000Z-physical", 2, "0/6800028", "0/6800100", "2026-12-05T12:00:00Z")})
    repo.write_meta(m);
  RetentionPolicies keep_one;
  keep_one.physical.keep_count = 1;
  const ServerPosition copy = on_timeline_2();
  const RetentionResult result =
      apply_retention(repo, kSysid, keep_one, 1'900'000'000, "", 86400, {}, {}, &copy);
  EXPECT_EQ(result.expired, (Names{"20261205T110000Z-physical"}));
  EXPECT_EQ(result.kept_other_servers.size(), 2u);
  EXPECT_EQ(repo.list_backups(kSysid).size(), 3u);

  // The same run without a server (no `self`) would have expired them all but the newest.
  const RetentionResult anyone = apply_retention(repo, kSysid, keep_one, 1'900'000'000, "");
  EXPECT_EQ(anyone.expired.size(), 2u);
}
