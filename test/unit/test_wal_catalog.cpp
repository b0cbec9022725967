// The archived WAL of one system from a listing (include/pgvault/wal/wal_catalog.hpp).
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "wal_test_listing.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace pgvault;

namespace {

using wal_test::kSysid;
using wal_test::Listing;
using wal_test::physical;
constexpr std::uint64_t k16MB = kDefaultWalSegmentSize;

Lsn seg_start(WalSegmentNo segno) {
  return wal_segment_start(segno, k16MB);
}

}  // namespace

TEST(WalCatalog, ContiguousTimeline) {
  Listing l;
  l.segments(1, 2, 6);
  const WalCatalog c = l.catalog();
  ASSERT_EQ(c.timelines.size(), 1u);
  const WalTimelineCatalog& t = *c.timeline(1);
  EXPECT_EQ(t.first_segment(), 2u);
  EXPECT_EQ(t.last_segment(), 6u);
  EXPECT_EQ(t.segments.size(), 5u);
  EXPECT_TRUE(t.gaps.empty());
  EXPECT_TRUE(t.conflicts.empty());
  EXPECT_TRUE(t.history_error.empty()) << "timeline 1 has no history file";
  EXPECT_EQ(c.foreign_count, 0u);

  const WalContinuity w = c.continuity(1, parse_lsn("0/2000028"), 1);
  EXPECT_TRUE(w.problem.empty()) << w.problem;
  EXPECT_FALSE(w.first_missing);
  EXPECT_EQ(w.end, seg_start(7));
  EXPECT_EQ(w.used.size(), 5u);
  ASSERT_TRUE(w.end_unix);
  EXPECT_EQ(*w.end_unix, l.clock);

  const auto windows = c.recoverable_windows(
      {physical("b1", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z")}, 1);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].backup, "b1");
  EXPECT_EQ(windows[0].from_lsn, parse_lsn("0/2000138"));
  EXPECT_EQ(windows[0].to_lsn, parse_lsn("0/7000000"));
  EXPECT_EQ(windows[0].to_timeline, 1u);
  EXPECT_EQ(windows[0].from_unix, parse_utc_timestamp("2026-12-05T10:00:00Z"));

  EXPECT_EQ(check_recoverable_lsn(windows, parse_lsn("0/5000000")).verdict,
            RecoverabilityAnswer::Verdict::recoverable);
  const RecoverabilityAnswer after = check_recoverable_lsn(windows, parse_lsn("0/7000001"));
  EXPECT_EQ(after.verdict, RecoverabilityAnswer::Verdict::not_recoverable);
  EXPECT_NE(after.message.find("0/2000138 on timeline 1 (backup b1"), std::string::npos)
      << after.message;
  EXPECT_NE(after.message.find(".. 0/7000000 on timeline 1"), std::string::npos) << after.message;
  EXPECT_EQ(check_recoverable_lsn(windows, parse_lsn("0/2000100")).verdict,
            RecoverabilityAnswer::Verdict::not_recoverable)
      << "before the backup is consistent";
}

TEST(WalCatalog, GapEndsTheWindowAndIsReported) {
  Listing l;
  l.segments(1, 2, 4);
  l.segments(1, 7, 9);
  const WalCatalog c = l.catalog();
  const WalTimelineCatalog& t = *c.timeline(1);
  ASSERT_EQ(t.gaps.size(), 1u);
  EXPECT_EQ(t.gaps[0], (WalSegmentRange{5, 6}));
  EXPECT_EQ(describe_wal_range(1, t.gaps[0], k16MB),
            "000000010000000000000005..000000010000000000000006");

  const WalContinuity w = c.continuity(1, parse_lsn("0/2000028"), 1);
  ASSERT_TRUE(w.first_missing);
  EXPECT_EQ(w.first_missing->name(), "000000010000000000000005");
  EXPECT_EQ(w.end, seg_start(5));

  // A backup after the gap has its own window; one inside it has none.
  const std::vector<BackupMeta> backups = {
      physical("old", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z"),
      physical("in_gap", 1, "0/5000028", "0/5000138", "2026-12-05T10:10:00Z"),
      physical("new", 1, "0/7000028", "0/7000138", "2026-12-05T10:20:00Z")};
  const auto windows = c.recoverable_windows(backups, 1);
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[0].backup, "old");
  EXPECT_EQ(windows[0].to_lsn, seg_start(5));
  EXPECT_EQ(windows[1].backup, "new");
  EXPECT_EQ(windows[1].to_lsn, seg_start(10));
  const RecoverabilityAnswer in_gap = check_recoverable_lsn(windows, parse_lsn("0/6000000"));
  EXPECT_EQ(in_gap.verdict, RecoverabilityAnswer::Verdict::not_recoverable);
  EXPECT_NE(in_gap.message.find("windows are"), std::string::npos) << in_gap.message;
}

TEST(WalCatalog, EndOfArchiveIsNotAGap) {
  Listing l;
  l.segments(1, 2, 4);
  const WalContinuity w = l.catalog().continuity(1, parse_lsn("0/2000028"), 1);
  EXPECT_FALSE(w.first_missing);
  EXPECT_EQ(w.end, seg_start(5));
}

TEST(WalCatalog, BackupWithoutItsWalOpensNoWindow) {
  Listing l;
  l.segments(1, 5, 6);  // archiving started after the backup began
  const auto windows = l.catalog().recoverable_windows(
      {physical("b", 1, "0/3000028", "0/3000138", "2026-12-05T10:00:00Z")}, 1);
  EXPECT_TRUE(windows.empty());
  const RecoverabilityAnswer a = check_recoverable_lsn(windows, parse_lsn("0/5000000"));
  EXPECT_NE(a.message.find("no recoverable window"), std::string::npos) << a.message;
}

TEST(WalCatalog, TwoTimelinesFollowTheHistory) {
  Listing l;
  l.segments(1, 2, 5);  // timeline 1 ends at 0/5000100: its segment 5 is also the child's
  l.history(2, "1\t0/5000100\tno recovery target specified\n");
  l.segments(2, 5, 7);
  const WalCatalog c = l.catalog();
  ASSERT_EQ(c.timelines.size(), 2u);
  ASSERT_TRUE(c.timeline(2)->history);
  EXPECT_EQ(c.latest_timeline(), 2u);

  const WalContinuity w = c.continuity(1, parse_lsn("0/2000028"), 2);
  EXPECT_TRUE(w.problem.empty()) << w.problem;
  EXPECT_FALSE(w.first_missing);
  EXPECT_EQ(w.end, seg_start(8));
  EXPECT_EQ(w.end_timeline, 2u);
  ASSERT_EQ(w.used.size(), 6u) << "1/2..4 then 2/5..7: 1/5 is replaced by 2/5";
  EXPECT_EQ(w.used[2].file.name(), "000000010000000000000004");
  EXPECT_EQ(w.used[3].file.name(), "000000020000000000000005");

  const BackupMeta b = physical("b1", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z");
  const auto to2 = c.recoverable_windows({b}, 2);
  ASSERT_EQ(to2.size(), 1u);
  EXPECT_EQ(to2[0].to_lsn, seg_start(8));
  EXPECT_EQ(to2[0].to_timeline, 2u);
  const auto to1 = c.recoverable_windows({b}, 1);
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(to1[0].to_lsn, seg_start(6)) << "timeline 1 alone";

  // A backup of timeline 1 taken after the fork cannot reach timeline 2.
  const auto late = c.recoverable_windows(
      {physical("late", 1, "0/5000200", "0/5000300", "2026-12-05T11:00:00Z")}, 2);
  EXPECT_TRUE(late.empty());
  EXPECT_NE(c.continuity(1, parse_lsn("0/5000200"), 2).problem.find("forked"), std::string::npos);

  // A missing segment of the parent before the switch is a gap.
  Listing g;
  g.segments(1, 2, 3);
  g.history(2, "1\t0/5000100\tno recovery target specified\n");
  g.segments(2, 5, 6);
  const WalContinuity gw = g.catalog().continuity(1, parse_lsn("0/2000028"), 2);
  ASSERT_TRUE(gw.first_missing);
  EXPECT_EQ(gw.first_missing->name(), "000000010000000000000004");
  EXPECT_EQ(gw.end, seg_start(4));
}

TEST(WalCatalog, UnknownHistoryIsNeverGuessed) {
  Listing l;
  l.segments(1, 2, 3);
  l.segments(2, 3, 4);  // no 00000002.history
  l.history(3, "garbage\n");
  l.segment(3, 5);
  const WalCatalog c = l.catalog();
  EXPECT_NE(c.timeline(2)->history_error.find("no history file 00000002.history"),
            std::string::npos);
  EXPECT_NE(c.timeline(3)->history_error.find("00000003.history cannot be used"), std::string::npos)
      << c.timeline(3)->history_error;
  EXPECT_FALSE(c.history_of(2));
  EXPECT_NE(c.continuity(1, parse_lsn("0/2000028"), 2).problem.find("unknown"), std::string::npos);
  EXPECT_TRUE(
      c.recoverable_windows({physical("b", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z")}, 2)
          .empty());

  // Without a reader, histories are not parsed.
  const WalCatalog unread = build_wal_catalog(l.objects, kSysid, k16MB, {});
  EXPECT_NE(unread.timeline(3)->history_error.find("was not read"), std::string::npos);
}

TEST(WalCatalog, ConflictingCopiesAreListed) {
  Listing l;
  l.segments(1, 1, 3);
  const std::string other = l.segment(1, 2, "other content");
  const WalCatalog c = l.catalog();
  const WalTimelineCatalog& t = *c.timeline(1);
  EXPECT_EQ(t.segments.size(), 3u);
  EXPECT_EQ(t.all_objects.size(), 4u);
  ASSERT_EQ(t.conflicts.size(), 1u);
  EXPECT_EQ(t.conflicts[0].name, "000000010000000000000002");
  ASSERT_EQ(t.conflicts[0].keys.size(), 2u);
  EXPECT_EQ(t.conflicts[0].keys[1], other);
  EXPECT_TRUE(t.gaps.empty());
}

TEST(WalCatalog, ForeignKeysAreCountedNotUsed) {
  Listing l;
  l.segments(1, 1, 2);
  l.objects.push_back({kSysid + "/wal/00000001/0000000100000000/junk", 1, 1});
  l.objects.push_back({kSysid + "/wal/README", 1, 1});
  l.objects.push_back(
      {wal_object_key("42", WalFileName::segment(1, 3, k16MB), sha256_hex("x"), Compression::none),
       1, 1});
  // YYYYYYYY = 0x100 is impossible at 16 MB.
  l.objects.push_back(
      {kSysid + "/wal/00000001/0000000100000000/000000010000000000000100-" + sha256_hex("y"), 1,
       1});
  const WalCatalog c = l.catalog();
  EXPECT_EQ(c.foreign_count, 4u);
  ASSERT_EQ(c.foreign_keys.size(), 4u);
  EXPECT_EQ(c.timeline(1)->segments.size(), 2u);
  EXPECT_EQ(c.timelines.size(), 1u);
}

TEST(WalCatalog, PartialAndBackupHistoryFiles) {
  Listing l;
  l.segments(1, 2, 3);
  const WalFileName partial = parse_wal_file_name("000000010000000000000004.partial");
  const WalFileName backup = parse_wal_file_name("000000010000000000000002.00000028.backup");
  l.objects.push_back({wal_object_key(kSysid, partial, sha256_hex("p"), Compression::none), 1, 5});
  l.objects.push_back({wal_object_key(kSysid, backup, sha256_hex("b"), Compression::none), 1, 5});
  const WalCatalog c = l.catalog();
  const WalTimelineCatalog& t = *c.timeline(1);
  ASSERT_EQ(t.partials.size(), 1u);
  EXPECT_EQ(t.partials[0].segno, 4u);
  ASSERT_EQ(t.backup_histories.size(), 1u);
  EXPECT_EQ(t.backup_histories[0].segno, 2u);
  EXPECT_EQ(t.segments.size(), 2u) << "a .partial is not a segment";
  EXPECT_EQ(t.all_objects.size(), 4u);
  EXPECT_EQ(t.last_segment(), 3u);
}

TEST(WalCatalog, LogIdBoundary) {
  Listing l;
  // 0x000000FF is the last segment of log 0 at 16 MB; 0x100 is 00000001/00000000.
  l.segments(1, 0xFE, 0x101);
  const WalCatalog c = l.catalog();
  const WalTimelineCatalog& t = *c.timeline(1);
  ASSERT_EQ(t.segments.size(), 4u);
  EXPECT_EQ(t.segments[1].file.name(), "0000000100000000000000FF");
  EXPECT_EQ(t.segments[2].file.name(), "000000010000000100000000");
  EXPECT_NE(t.segments[2].key.find("/wal/00000001/0000000100000001/"), std::string::npos);
  EXPECT_TRUE(t.gaps.empty());
  const WalContinuity w = c.continuity(1, parse_lsn("0/FE000028"), 1);
  EXPECT_FALSE(w.first_missing);
  EXPECT_EQ(w.end, parse_lsn("1/2000000"));

  // Without 00000001/00000000 the gap is named across the boundary.
  Listing g;
  g.segments(1, 0xFE, 0xFF);
  g.segment(1, 0x101);
  const WalCatalog gc = g.catalog();
  ASSERT_EQ(gc.timeline(1)->gaps.size(), 1u);
  EXPECT_EQ(describe_wal_range(1, gc.timeline(1)->gaps[0], k16MB), "000000010000000100000000");
}

TEST(WalCatalog, SegmentSizeIsAParameter) {
  Listing l;
  const std::uint64_t k1MB = kMinWalSegmentSize;
  // 00000001 00000000 00000FFF is the last of log 0 at 1 MB.
  for (WalSegmentNo s = 0xFFE; s <= 0x1000; ++s) l.segment(1, s, "", k1MB);
  const WalCatalog small = l.catalog(k1MB);
  EXPECT_EQ(small.timeline(1)->segments.size(), 3u);
  EXPECT_TRUE(small.timeline(1)->gaps.empty());
  // Read as 16 MB, the names past 0xFF are impossible: foreign, never guessed.
  const WalCatalog wrong = l.catalog(k16MB);
  EXPECT_EQ(wrong.foreign_count, 2u);
  EXPECT_THROW(build_wal_catalog({}, kSysid, 3 << 20, {}), Error);

  BackupMeta old_backup = physical("a", 1, "0/1", "0/2", "2026-12-05T10:00:00Z");
  EXPECT_EQ(wal_segment_size_of({old_backup}, kSysid), k16MB) << "default when unrecorded";
  BackupMeta recorded = physical("b", 1, "0/1", "0/2", "2026-12-05T11:00:00Z");
  recorded.wal_segment_size = k1MB;
  EXPECT_EQ(wal_segment_size_of({old_backup, recorded}, kSysid), k1MB);
}

TEST(WalCatalog, WindowsOfSeveralBackupsMerge) {
  Listing l;
  l.segments(1, 2, 9);
  const auto windows = l.catalog().recoverable_windows(
      {physical("b2", 1, "0/5000028", "0/5000138", "2026-12-05T11:00:00Z"),
       physical("b1", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z"), BackupMeta{}},
      1);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].backup, "b1");
  EXPECT_EQ(windows[0].to_lsn, seg_start(10));
}

TEST(WalCatalog, RecoverableTime) {
  Listing l;
  l.segments(1, 2, 4);
  const std::int64_t last_upload = l.clock;
  const auto windows = l.catalog().recoverable_windows(
      {physical("b", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z")}, 1);
  ASSERT_EQ(windows.size(), 1u);
  ASSERT_TRUE(windows[0].to_unix);
  EXPECT_EQ(*windows[0].to_unix, last_upload);
  const std::int64_t from = parse_utc_timestamp("2026-12-05T10:00:00Z") * 1000000;
  EXPECT_EQ(check_recoverable_time(windows, from - 1).verdict,
            RecoverabilityAnswer::Verdict::not_recoverable);
  EXPECT_EQ(check_recoverable_time(windows, from + 1).verdict,
            RecoverabilityAnswer::Verdict::recoverable);
  // The store's time is whole seconds: anything in the last upload's second may be archived.
  EXPECT_EQ(check_recoverable_time(windows, last_upload * 1000000 + 999999).verdict,
            RecoverabilityAnswer::Verdict::recoverable);
  EXPECT_EQ(check_recoverable_time(windows, (last_upload + 1) * 1000000).verdict,
            RecoverabilityAnswer::Verdict::not_recoverable);

  // A store without modification times: after the backup, unknown.
  Listing n;
  n.segments(1, 2, 4);
  for (auto& o : n.objects) o.mtime_unix = 0;
  const auto unknown = n.catalog().recoverable_windows(
      {physical("b", 1, "0/2000028", "0/2000138", "2026-12-05T10:00:00Z")}, 1);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_FALSE(unknown[0].to_unix);
  const RecoverabilityAnswer a = check_recoverable_time(unknown, from + 1);
  EXPECT_EQ(a.verdict, RecoverabilityAnswer::Verdict::unknown);
  EXPECT_NE(a.message.find("reaches LSN 0/5000000"), std::string::npos) << a.message;
  EXPECT_NE(describe_window(unknown[0]).find("time unknown"), std::string::npos);
}
