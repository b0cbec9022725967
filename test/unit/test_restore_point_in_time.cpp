// Choosing the backup of a point-in-time restore
// (include/pgvault/restore/point_in_time.hpp): which backup ends before the
// target, which can reach the target timeline, what is said about it, and
// history files read back from a repository as the archiver stored them.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/point_in_time.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_push.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <map>

using namespace pgvault;
using namespace pgvault::test;

namespace {

const std::string kSysid = "7315123456789012345";

BackupMeta backup(const std::string& name, TimelineId timeline, const std::string& stop_lsn,
                  const std::string& completed_at) {
  BackupMeta b;
  b.name = name;
  b.kind = "physical";
  b.system_identifier = kSysid;
  b.timeline = timeline;
  b.start_lsn = "0/1000028";
  b.stop_lsn = stop_lsn;
  b.started_at = completed_at;
  b.completed_at = completed_at;
  return b;
}

RecoveryTarget target(RecoveryTargetOptions o) {
  return parse_recovery_target(o).value();
}

// Histories held in memory; counts the reads.
struct FakeHistories {
  std::map<TimelineId, std::string> files;
  int reads = 0;
  TimelineHistories make() {
    return TimelineHistories([this](TimelineId t) -> std::optional<std::string> {
      ++reads;
      auto it = files.find(t);
      if (it == files.end()) return std::nullopt;
      return it->second;
    });
  }
};

// Three backups on timeline 1, an hour apart.
const std::vector<BackupMeta> kDay = {
    backup("b1", 1, "0/3000100", "2026-12-05T01:00:00.000Z"),
    backup("b2", 1, "0/5000100", "2026-12-05T02:00:00.900Z"),
    backup("b3", 1, "0/7000100", "2026-12-05T03:00:00.000Z"),
};

}  // namespace

TEST(PointInTime, TimeTargetPicksTheNewestBackupCompletedBeforeIt) {
  FakeHistories fake;
  auto histories = fake.make();
  PointInTimeChoice c =
      choose_backup_for_target(kDay, target({.time = "2026-12-05T02:30:00Z"}), histories);
  EXPECT_EQ(c.backup.name, "b2");
  EXPECT_EQ(c.target_timeline, 1u);
  EXPECT_EQ(c.why,
            "it is the newest physical backup that ends before the target: completed "
            "2026-12-05 02:00:00.9+00, at or before the target time 2026-12-05 02:30:00+00 "
            "(backup on timeline 1, recovery to timeline 1)");
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_TRUE(
      c.skipped[0].starts_with("b3: completed 2026-12-05 03:00:00+00, after the target "
                               "time 2026-12-05 02:30:00+00"))
      << c.skipped[0];

  // completed_at counts to the microsecond: 02:00:00.9 is after 02:00:00.5.
  c = choose_backup_for_target(kDay, target({.time = "2026-12-05T02:00:00.5Z"}), histories);
  EXPECT_EQ(c.backup.name, "b1");
  // ... and a target exactly at completion is fine, in any zone.
  c = choose_backup_for_target(kDay, target({.time = "2026-12-05 04:00:00.9+02"}), histories);
  EXPECT_EQ(c.backup.name, "b2");
  c = choose_backup_for_target(kDay, target({.time = "2026-12-06T00:00:00Z"}), histories);
  EXPECT_EQ(c.backup.name, "b3");
  EXPECT_TRUE(c.skipped.empty());
}

TEST(PointInTime, LsnTargetPicksTheNewestBackupThatStoppedAtOrBeforeIt) {
  FakeHistories fake;
  auto histories = fake.make();
  PointInTimeChoice c = choose_backup_for_target(kDay, target({.lsn = "0/6000000"}), histories);
  EXPECT_EQ(c.backup.name, "b2");
  EXPECT_NE(c.why.find("its stop LSN 0/5000100 is at or before the target LSN 0/6000000"),
            std::string::npos)
      << c.why;
  c = choose_backup_for_target(kDay, target({.lsn = "0/5000100"}), histories);
  EXPECT_EQ(c.backup.name, "b2");
  c = choose_backup_for_target(kDay, target({.lsn = "0/50000FF"}), histories);
  EXPECT_EQ(c.backup.name, "b1");
  ASSERT_EQ(c.skipped.size(), 2u);
  EXPECT_EQ(c.skipped[1],
            "b2: its stop LSN 0/5000100 is after the target LSN 0/50000FF (recovery cannot stop "
            "before a backup is consistent, at its stop LSN)");
}

TEST(PointInTime, TargetsBackupJsonCannotPlaceTakeTheNewestAndSaySo) {
  FakeHistories fake;
  auto histories = fake.make();
  PointInTimeChoice c = choose_backup_for_target(kDay, target({.xid = "1234"}), histories);
  EXPECT_EQ(c.backup.name, "b3");
  EXPECT_NE(c.why.find("backup.json cannot say whether transaction 1234 committed after it "
                       "ended"),
            std::string::npos)
      << c.why;
  EXPECT_NE(c.why.find("--backup NAME"), std::string::npos);
  c = choose_backup_for_target(kDay, target({.name = "before upgrade"}), histories);
  EXPECT_EQ(c.backup.name, "b3");
  EXPECT_NE(c.why.find("restore point \"before upgrade\""), std::string::npos);
  c = choose_backup_for_target(kDay, target({.target = "latest"}), histories);
  EXPECT_EQ(c.backup.name, "b3");
  EXPECT_NE(c.why.find("replays the archived WAL after it to its end"), std::string::npos);
  c = choose_backup_for_target(kDay, target({.target = "immediate"}), histories);
  EXPECT_EQ(c.backup.name, "b3");
  EXPECT_NE(c.why.find("stops as soon as it is consistent, at its stop LSN 0/7000100"),
            std::string::npos);
}

TEST(PointInTime, ATargetBeforeEveryBackupIsRefusedWithTheWindowStart) {
  FakeHistories fake;
  auto histories = fake.make();
  expect_error(
      [&] { choose_backup_for_target(kDay, target({.time = "2026-12-05T00:59:59Z"}), histories); },
      ErrorKind::not_found,
      "no physical backup can recover to time 2026-12-05 00:59:59+00:\n  b3: completed");
  try {
    choose_backup_for_target(kDay, target({.lsn = "0/2000000"}), histories);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("\n  b1: its stop LSN 0/3000100 is after the target LSN 0/2000000"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("The recoverable window starts at the end of the oldest backup (b1: "
                     "completed 2026-12-05T01:00:00.000Z, stop LSN 0/3000100)"),
              std::string::npos)
        << m;
  }
  expect_error([&] { choose_backup_for_target({}, target({.target = "latest"}), histories); },
               ErrorKind::not_found, "there is no complete physical backup of this system");
}

TEST(PointInTime, ANamedBackupThatEndsAfterTheTargetIsRefused) {
  FakeHistories fake;
  auto histories = fake.make();
  expect_error(
      [&] {
        check_backup_for_target(kDay[2], target({.time = "2026-12-05T02:30:00Z"}), histories);
      },
      ErrorKind::invalid_argument,
      "backup \"b3\" cannot recover to time 2026-12-05 02:30:00+00: completed 2026-12-05 "
      "03:00:00+00, after the target time");
  expect_error([&] { check_backup_for_target(kDay[1], target({.lsn = "0/4000000"}), histories); },
               ErrorKind::invalid_argument,
               "give an older backup with --backup NAME, or --backup latest");
  const PointInTimeChoice c =
      check_backup_for_target(kDay[0], target({.time = "2026-12-05T02:30:00Z"}), histories);
  EXPECT_EQ(c.backup.name, "b1");
  EXPECT_TRUE(
      c.why.starts_with("it was named with --backup; completed 2026-12-05 01:00:00+00, at "
                        "or before the target time"))
      << c.why;
  // A name is taken as given: pgvault cannot tell.
  EXPECT_EQ(check_backup_for_target(kDay[0], target({.xid = "900"}), histories).backup.name, "b1");
}

// Timeline 2 forked from timeline 1 at 0/4000000; timeline 3 from 2 at 0/8000000.
TEST(PointInTime, TheBackupMustReachTheTargetTimeline) {
  FakeHistories fake;
  fake.files[2] = "1\t0/4000000\tno recovery target specified\n";
  fake.files[3] = "1\t0/4000000\tno recovery target specified\n2\t0/8000000\tbefore 2\n";
  auto histories = fake.make();
  const std::vector<BackupMeta> backups = {
      backup("a-tl1", 1, "0/3000100", "2026-12-05T01:00:00Z"),
      backup("b-tl1-late", 1, "0/5000100", "2026-12-05T02:00:00Z"),  // after the fork
      backup("c-tl2", 2, "0/6000100", "2026-12-05T03:00:00Z"),
  };
  // latest from timeline 1 is timeline 3 (2 and 3 have history files, 4 not).
  EXPECT_EQ(resolve_target_timeline({}, 1, histories), 3u);
  EXPECT_EQ(resolve_target_timeline({RecoveryTimeline::Kind::current}, 2, histories), 2u);
  EXPECT_EQ(resolve_target_timeline({RecoveryTimeline::Kind::id, 7}, 1, histories), 7u);

  // To a point on timeline 2 (before timeline 3 forked): c is after it,
  // b-tl1-late is on the abandoned part of timeline 1, a qualifies.
  PointInTimeChoice c =
      choose_backup_for_target(backups, target({.lsn = "0/5800000", .timeline = "2"}), histories);
  EXPECT_EQ(c.backup.name, "a-tl1");
  EXPECT_EQ(c.target_timeline, 2u);
  ASSERT_EQ(c.skipped.size(), 2u);
  EXPECT_TRUE(c.skipped[0].starts_with("c-tl2: its stop LSN 0/6000100 is after")) << c.skipped[0];
  EXPECT_EQ(c.skipped[1],
            "b-tl1-late: a backup on timeline 1 consistent at 0/5000100 cannot reach timeline 2: "
            "timeline 2 forked from timeline 1 at 0/4000000, before the backup was consistent; "
            "use a backup of timeline 1 that ends by 0/4000000, or one taken later on the path "
            "to timeline 2");
  EXPECT_NE(c.why.find("(backup on timeline 1, recovery to timeline 2)"), std::string::npos);

  // latest: the newest backup that reaches timeline 3.
  c = choose_backup_for_target(backups, target({.target = "latest"}), histories);
  EXPECT_EQ(c.backup.name, "c-tl2");
  EXPECT_EQ(c.target_timeline, 3u);

  // Staying on timeline 1 (current), the late timeline-1 backup is fine.
  c = choose_backup_for_target(backups, target({.target = "latest", .timeline = "current"}),
                               histories);
  EXPECT_EQ(c.backup.name, "c-tl2");  // its own timeline
  EXPECT_EQ(c.target_timeline, 2u);
  c = choose_backup_for_target(backups, target({.lsn = "0/5800000", .timeline = "1"}), histories);
  EXPECT_EQ(c.backup.name, "b-tl1-late");

  // A named backup on a timeline that forked before the target is refused.
  expect_error(
      [&] { check_backup_for_target(backups[1], target({.target = "latest"}), histories); },
      ErrorKind::invalid_argument,
      "backup \"b-tl1-late\" cannot recover to the end of the archived WAL (latest): a backup on "
      "timeline 1 consistent at 0/5000100 cannot reach timeline 3: timeline 2 forked from "
      "timeline 1 at 0/4000000");
  // A timeline-2 backup cannot go to timeline 1.
  expect_error(
      [&] {
        check_backup_for_target(backups[2], target({.target = "latest", .timeline = "1"}),
                                histories);
      },
      ErrorKind::invalid_argument, "timeline 2 is not one of its ancestors (1)");

  // Each history file was read once.
  EXPECT_EQ(fake.reads, 3);  // 2, 3 and the missing 4
}

TEST(PointInTime, ACorruptHistoryIsAnError) {
  FakeHistories fake;
  fake.files[2] = "1\tnot-an-lsn\n";
  auto histories = fake.make();
  expect_error([&] { choose_backup_for_target(kDay, target({.target = "latest"}), histories); },
               ErrorKind::corrupt, "timeline 2");
}

namespace {

EncryptionKey test_key() {
  std::array<std::byte, kEncryptionKeySize> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 7 + 1);
  return EncryptionKey::from_bytes(bytes);
}

// Archives a history file the way the archive module does.
std::string archive_history(Storage& storage, TempDir& dir, TimelineId tl, const std::string& text,
                            Compression compression = Compression::none,
                            const EncryptionKey* key = nullptr) {
  const std::string name = WalFileName::history(tl).name();
  const auto path = dir.path() / name;
  std::ofstream(path, std::ios::binary) << text;
  WalPushRequest r;
  r.system_identifier = kSysid;
  r.wal_segment_size = kMinWalSegmentSize;
  r.file_name = name;
  r.local_path = path.string();
  r.encode.compression = compression;
  r.encode.encryption_key = key;
  return push_wal_file(storage, r).key;
}

}  // namespace

namespace {

WalCatalog catalog_of(Storage& storage, const DecryptorFactory& decryptor = {}) {
  return build_wal_catalog(
      storage.list(wal_root(kSysid)), kSysid, kMinWalSegmentSize,
      [&](const std::string& key) { return read_wal_history_object(storage, key, decryptor); });
}

}  // namespace

TEST(ArchivedHistory, ReadsWhatTheArchiverStored) {
  TempDir dir;
  auto storage = make_memory_storage();
  const std::string two = "1\t0/4000000\tno recovery target specified\n";
  const std::string three = two + "2\t0/8000000\tbefore 2\n";
  const std::string two_key = archive_history(*storage, dir, 2, two);
  const std::string three_key = archive_history(*storage, dir, 3, three, Compression::gzip);
  EXPECT_EQ(read_wal_history_object(*storage, two_key, {}), two);
  EXPECT_EQ(read_wal_history_object(*storage, three_key, {}), three);
  // Another system's history of timeline 4 is not this one's.
  storage->write_all("1111/wal/00000004.history", "1\t0/1\tx\n");

  const WalCatalog catalog = catalog_of(*storage);
  TimelineHistories histories(catalog_history_reader(
      catalog, [&](const std::string& k) { return read_wal_history_object(*storage, k, {}); }));
  // latest from timeline 1 is 3, as PostgreSQL would probe.
  EXPECT_EQ(histories.newest_from(1), 3u);
  EXPECT_EQ(histories.history(3).ancestry(), (std::vector<TimelineId>{1, 2, 3}));
  EXPECT_FALSE(histories.exists(4));
  EXPECT_EQ(histories.newest_from(3), 3u);
}

TEST(ArchivedHistory, EncryptedHistoryNeedsTheKey) {
  TempDir dir;
  auto storage = make_memory_storage();
  const EncryptionKey key = test_key();
  const std::string two = "1\t0/4000000\tno recovery target specified\n";
  const std::string stored_key = archive_history(*storage, dir, 2, two, Compression::zstd, &key);
  EXPECT_EQ(storage->read_all(stored_key).substr(0, 8), "PGVLTENC");
  const DecryptorFactory decryptor = [&](const std::string&, Sink& next) {
    return make_decryptor(key, next);
  };
  EXPECT_EQ(read_wal_history_object(*storage, stored_key, decryptor), two);
  expect_error([&] { read_wal_history_object(*storage, stored_key, {}); },
               ErrorKind::invalid_argument, "is encrypted, but no encryption key was given");
  // Through the catalog, an unreadable history is an error, never "no history".
  const WalCatalog catalog = catalog_of(*storage);
  TimelineHistories histories(catalog_history_reader(
      catalog, [&](const std::string& k) { return read_wal_history_object(*storage, k, {}); }));
  expect_error([&] { histories.newest_from(1); }, ErrorKind::invalid_argument,
               "no encryption key was given");
}

TEST(ArchivedHistory, AnObjectTooLargeForAHistoryIsCorrupt) {
  auto storage = make_memory_storage();
  const std::string key = kSysid + "/wal/00000002.history";
  storage->write_all(key, std::string(5u << 20, '1'));
  expect_error([&] { read_wal_history_object(*storage, key, {}); }, ErrorKind::corrupt,
               "far larger than a timeline history file can be");
}

namespace {

// 16 MB segments of timeline 1, numbers first..last, archived at `mtime`.
void archive_segments(std::vector<ObjectInfo>& listing, TimelineId tl, WalSegmentNo first,
                      WalSegmentNo last, std::int64_t mtime) {
  for (WalSegmentNo s = first; s <= last; ++s) {
    const WalFileName name = WalFileName::segment(tl, s, kDefaultWalSegmentSize);
    listing.push_back(
        {wal_object_key(kSysid, name, std::string(64, 'a'), Compression::zstd), 100, mtime});
  }
}

WalCatalog catalog_of(const std::vector<ObjectInfo>& listing) {
  return build_wal_catalog(listing, kSysid, kDefaultWalSegmentSize,
                           [](const std::string& key) -> std::string {
                             throw Error(ErrorKind::not_found, "no history expected: " + key);
                           });
}

BackupMeta archived_backup(const std::string& name, const std::string& start,
                           const std::string& stop, const std::string& completed) {
  BackupMeta b = backup(name, 1, stop, completed);
  b.start_lsn = start;
  return b;
}

// 2026-12-05 04:00:00 UTC
constexpr std::int64_t kDec5At4 = 1796443200;

}  // namespace

// Segments 2..9 of timeline 1 archived (the last at 04:00), a gap at 10,
// then 11..12; backup p1 at segment 3, p2 at segment 11 (after the gap).
TEST(ArchiveWindow, TimeAndLsnTargetsMustBeInAWindow) {
  std::vector<ObjectInfo> listing;
  archive_segments(listing, 1, 2, 9, kDec5At4);
  archive_segments(listing, 1, 11, 12, kDec5At4 + 3600);
  const WalCatalog catalog = catalog_of(listing);
  const std::vector<BackupMeta> backups = {
      archived_backup("p1", "0/3000028", "0/3000138", "2026-12-05T03:00:00Z"),
      archived_backup("p2", "0/B000028", "0/B000138", "2026-12-05T04:30:00Z"),
  };
  FakeHistories fake;
  auto histories = fake.make();
  auto choose = [&](RecoveryTargetOptions o) {
    return choose_backup_for_target(backups, target(o), histories);
  };

  // In p1's window (0/3000138 .. the end of segment 9, 0/A000000).
  RecoveryTarget t = target({.lsn = "0/9000000"});
  PointInTimeChoice c = choose({.lsn = "0/9000000"});
  EXPECT_EQ(c.backup.name, "p1");
  EXPECT_NE(check_target_in_archive(catalog, backups, c, t)
                .find("LSN 0/9000000 is recoverable from backup p1"),
            std::string::npos);
  t = target({.time = "2026-12-05T03:30:00Z"});
  EXPECT_NE(check_target_in_archive(catalog, backups, choose({.time = "2026-12-05T03:30:00Z"}), t)
                .find("is recoverable from backup p1"),
            std::string::npos);

  // In the gap: p1 is chosen, and refused with both windows stated.
  t = target({.lsn = "0/A800000"});
  c = choose({.lsn = "0/A800000"});
  EXPECT_EQ(c.backup.name, "p1");
  expect_error([&] { check_target_in_archive(catalog, backups, c, t); },
               ErrorKind::invalid_argument,
               "cannot restore to LSN 0/A800000: LSN 0/A800000 is not recoverable: the "
               "recoverable windows are 0/3000138 on timeline 1 (backup p1, completed "
               "2026-12-05T03:00:00Z) .. 0/A000000 on timeline 1");
  // After the end of the archive.
  t = target({.lsn = "0/D000001"});
  expect_error([&] { check_target_in_archive(catalog, backups, choose({.lsn = "0/D000001"}), t); },
               ErrorKind::invalid_argument, "LSN 0/D000001 is not recoverable");
  // A time after the last segment was archived.
  t = target({.time = "2026-12-05T05:00:01Z"});
  expect_error(
      [&] {
        check_target_in_archive(catalog, backups, choose({.time = "2026-12-05T05:00:01Z"}), t);
      },
      ErrorKind::invalid_argument, "cannot restore to time 2026-12-05 05:00:01+00");

  // p1 named for a point in p2's window: another backup can, say so.
  t = target({.lsn = "0/C000000"});
  c = check_backup_for_target(backups[0], t, histories);
  expect_error([&] { check_target_in_archive(catalog, backups, c, t); },
               ErrorKind::invalid_argument,
               "cannot restore to LSN 0/C000000 from backup \"p1\": LSN 0/C000000 is not "
               "recoverable");
  expect_error([&] { check_target_in_archive(catalog, backups, c, t); },
               ErrorKind::invalid_argument, "; but LSN 0/C000000 is recoverable from backup p2");
}

TEST(ArchiveWindow, OtherTargetsGetANoteOnHowFarTheWalGoes) {
  std::vector<ObjectInfo> listing;
  archive_segments(listing, 1, 2, 9, kDec5At4);
  archive_segments(listing, 1, 11, 12, kDec5At4 + 3600);
  const WalCatalog catalog = catalog_of(listing);
  const std::vector<BackupMeta> backups = {
      archived_backup("p1", "0/3000028", "0/3000138", "2026-12-05T03:00:00Z")};
  FakeHistories fake;
  auto histories = fake.make();
  const RecoveryTarget latest = target({.target = "latest"});
  const std::string note = check_target_in_archive(
      catalog, backups, choose_backup_for_target(backups, latest, histories), latest);
  EXPECT_EQ(note,
            "the archived WAL from backup \"p1\" continues to 0/A000000 on timeline 1; WAL file "
            "00000001000000000000000A is missing, so nothing archived after it can be replayed");
  const RecoveryTarget xid = target({.xid = "5000"});
  EXPECT_NE(check_target_in_archive(catalog, backups,
                                    choose_backup_for_target(backups, xid, histories), xid)
                .find("; transaction 5000 must lie before that for recovery to reach it"),
            std::string::npos);
  const RecoveryTarget immediate = target({.target = "immediate"});
  EXPECT_EQ(
      check_target_in_archive(catalog, backups,
                              choose_backup_for_target(backups, immediate, histories), immediate),
      "recovery needs no archived WAL: the backup holds the WAL up to its stop LSN 0/3000138");
  // Nothing archived at all: no window, and a time target is refused saying so.
  const WalCatalog empty = catalog_of(std::vector<ObjectInfo>{});
  EXPECT_EQ(
      check_target_in_archive(empty, backups, choose_backup_for_target(backups, latest, histories),
                              latest),
      "no archived WAL continues from backup \"p1\" without a gap: recovery ends at the backup's "
      "end (stop LSN 0/3000138)");
  const RecoveryTarget time = target({.time = "2026-12-05T03:30:00Z"});
  expect_error(
      [&] {
        check_target_in_archive(empty, backups, choose_backup_for_target(backups, time, histories),
                                time);
      },
      ErrorKind::invalid_argument, "no recoverable window exists on this timeline path");
}
