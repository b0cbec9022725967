// Staleness (pgvault.stale_after) and anomalies: the pure decisions of
// include/pgvault/alert/staleness.hpp and anomaly.hpp, and how the tracker
// turns them into alerts.
#include "pgvault/alert/alert.hpp"
#include "pgvault/alert/anomaly.hpp"
#include "pgvault/alert/staleness.hpp"
#include "pgvault/error.hpp"
#include "pgvault/timestamp.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <functional>

using namespace pgvault;
using namespace pgvault::alert;

namespace {

std::string format_utc_timestamp(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

BackupMeta complete(const std::string& name, const std::string& kind, std::int64_t completed_unix) {
  BackupMeta m;
  m.name = name;
  m.kind = kind;
  m.completed_at = format_utc_timestamp(completed_unix);
  return m;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 86400;

}  // namespace

TEST(StaleAfter, ParsesOneDurationOrPerKind) {
  EXPECT_TRUE(parse_stale_after("").empty());
  EXPECT_TRUE(parse_stale_after("0").empty());
  EXPECT_TRUE(parse_stale_after(" off ").empty());
  EXPECT_EQ(parse_stale_after("26h").seconds,
            (std::map<std::string, std::int64_t>{{"backup", 26 * kHour}}));
  EXPECT_EQ(parse_stale_after("physical=26h, logical = 8d,wal=90min").seconds,
            (std::map<std::string, std::int64_t>{
                {"physical", 26 * kHour}, {"logical", 8 * kDay}, {"wal", 90 * 60}}));
  EXPECT_EQ(parse_stale_after("1d 12h, incremental=0").seconds,
            (std::map<std::string, std::int64_t>{{"backup", 36 * kHour}}));
  EXPECT_EQ(parse_duration_seconds("5s"), 5);
  EXPECT_EQ(parse_duration_seconds("2min 30s"), 150);
}

TEST(StaleAfter, RefusesWhatItCannotRead) {
  EXPECT_NE(
      message_of([] { parse_stale_after("26"); }).find("\"26\" needs a unit (s, min, h or d)"),
      std::string::npos);
  EXPECT_NE(message_of([] { parse_stale_after("26 hours"); }).find("unknown unit \"hours\""),
            std::string::npos);
  const std::string kind = message_of([] { parse_stale_after("phsyical=26h"); });
  EXPECT_NE(kind.find("unknown kind \"phsyical\""), std::string::npos);
  EXPECT_NE(kind.find("allowed: a duration such as 26h"), std::string::npos);
  EXPECT_NE(message_of([] { parse_stale_after("26h, 8d"); }).find("two durations without a kind"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_stale_after("wal=1h, wal=2h"); }).find("\"wal\" twice"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_stale_after("26h,"); }).find("an empty entry"),
            std::string::npos);
  EXPECT_THROW(parse_stale_after("off, wal=1h"), Error);
}

TEST(StaleAfter, HumanDurations) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(42), "42s");
  EXPECT_EQ(human_duration(300), "5min");
  EXPECT_EQ(human_duration(27 * kHour), "1d 3h");
  EXPECT_EQ(human_duration(kDay + 5 * 60), "1d");
  EXPECT_EQ(human_duration(90 * 60 + 7), "1h 30min");
  EXPECT_EQ(parse_stale_after("36h").describe("backup"), "pgvault.stale_after 1d 12h");
}

TEST(Staleness, NewestCompleteBackupOfTheKindAgainstTheLimit) {
  const std::int64_t now = 1'800'000'000;
  const std::vector<BackupMeta> repo = {complete("p-old", "physical", now - 3 * kDay),
                                        complete("p-new", "physical", now - 27 * kHour),
                                        complete("l1", "logical", now - 2 * kHour),
                                        complete("i1", "incremental", now - kHour)};
  auto kinds = backup_freshness(parse_stale_after("physical=26h, logical=8d, incremental=2h"), repo,
                                now - 30 * kDay, now);
  ASSERT_EQ(kinds.size(), 3u);  // by kind name
  EXPECT_EQ(kinds[0].kind, "incremental");
  EXPECT_FALSE(kinds[0].stale);
  EXPECT_EQ(kinds[1].kind, "logical");
  EXPECT_FALSE(kinds[1].stale);
  EXPECT_EQ(kinds[1].reason, "logical backups are current again: \"l1\" completed at " +
                                 format_utc_timestamp(now - 2 * kHour));
  const Freshness& physical = kinds[2];
  EXPECT_TRUE(physical.stale);
  EXPECT_EQ(physical.newest_name, "p-new");
  EXPECT_EQ(physical.age_seconds, 27 * kHour);
  EXPECT_EQ(physical.reason,
            "no physical backup has completed for 1d 3h (the newest, \"p-new\", "
            "completed at " +
                format_utc_timestamp(now - 27 * kHour) + "; pgvault.stale_after physical=1d 2h)");
  // Exactly at the limit is not stale yet.
  EXPECT_FALSE(backup_freshness(parse_stale_after("physical=27h"), repo, 0, now)[0].stale);
  // A bare duration watches the newest backup of any kind.
  auto any = backup_freshness(parse_stale_after("30min"), repo, 0, now);
  ASSERT_EQ(any.size(), 1u);
  EXPECT_TRUE(any[0].stale);
  EXPECT_EQ(any[0].newest_name, "i1");
}

TEST(Staleness, NeverBackedUpCountsFromSetUp) {
  const std::int64_t now = 1'800'000'000;
  const StaleLimits limits = parse_stale_after("logical=8d");
  auto young = backup_freshness(limits, {}, now - kDay, now);
  ASSERT_EQ(young.size(), 1u);
  EXPECT_FALSE(young[0].stale);
  auto old = backup_freshness(limits, {complete("p", "physical", now)}, now - 9 * kDay, now);
  EXPECT_TRUE(old[0].stale);
  EXPECT_EQ(old[0].reason,
            "no logical backup has completed in the 9d since pgvault was set up "
            "(none in the repository; pgvault.stale_after logical=8d)");
}

TEST(Staleness, WalWaitingLongerThanTheLimit) {
  const std::int64_t now = 1'800'000'000;
  EXPECT_FALSE(wal_freshness(parse_stale_after("26h"), now - kDay, 3, now));  // no wal entry
  const StaleLimits limits = parse_stale_after("wal=1h");
  auto idle = wal_freshness(limits, std::nullopt, 0, now);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(idle->stale);  // nothing waiting: an idle server is not stale
  EXPECT_FALSE(wal_freshness(limits, now - 30 * 60, 1, now)->stale);
  auto behind = wal_freshness(limits, now - 2 * kHour, 4, now);
  EXPECT_TRUE(behind->stale);
  EXPECT_EQ(behind->reason,
            "WAL archiving is behind: the oldest of 4 finished WAL files waiting in "
            "pg_wal has waited 2h to be archived (pgvault.stale_after wal=1h)");
}

TEST(Staleness, TrackerAlertsOnceThenRecovered) {
  AlertTracker tracker;
  const nlohmann::json stale{{"source", "stale"},
                             {"ok", false},
                             {"kind", "physical"},
                             {"reason", "no physical backup has completed for 1d 3h"}};
  nlohmann::json fresh = stale;
  fresh["ok"] = true;
  fresh["reason"] = "physical backups are current again: \"b\" completed at …";
  EXPECT_FALSE(tracker.observe(fresh, 1));
  auto first = tracker.observe(stale, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->event, AlertEvent::stale);
  EXPECT_EQ(first->subject, "physical backups");
  const ClusterFacts cluster{"prod-db", "1", "db1"};
  EXPECT_EQ(alert_sentence(*first, cluster), "prod-db: no physical backup has completed for 1d 3h");
  EXPECT_EQ(
      mail_subject(*first, cluster),
      "[pgvault] prod-db: physical backups stale — no physical backup has completed for 1d 3h");
  EXPECT_FALSE(tracker.observe(stale, 3));
  auto recovered = tracker.observe(fresh, 4);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->event, AlertEvent::recovered);
  EXPECT_EQ(recovered->failure, AlertEvent::stale);
  EXPECT_EQ(alert_sentence(*recovered, cluster),
            "prod-db: physical backups are current again: \"b\" completed at …");
  // WAL is its own subject.
  nlohmann::json wal = stale;
  wal["kind"] = "wal";
  auto w = tracker.observe(wal, 5);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->subject, "WAL archiving");
}

TEST(Anomaly, NeedsThreeEarlierBackups) {
  const BackupFigures zero{"now", 10, 0, 0};
  const BackupFigures usual{"b", 10, 50u << 20, 20u << 20};
  EXPECT_FALSE(backup_anomaly("logical", zero, {usual, usual}));
  EXPECT_TRUE(backup_anomaly("logical", zero, {usual, usual, usual}));
}

TEST(Anomaly, ZeroOrHalvedDumpIsUnusual) {
  const std::vector<BackupFigures> before = {{"b3", 60, 50u << 20, 20u << 20},
                                             {"b2", 50, 48u << 20, 19u << 20},
                                             {"b1", 70, 52u << 20, 21u << 20}};
  EXPECT_EQ(*backup_anomaly("logical", {"x", 60, 0, 0}, before),
            "logical backup \"x\" is unusual: it stores 0 bytes against the usual 20 MB; its "
            "dump is 0 bytes against the usual 50 MB (usual: the median of the last 3 "
            "comparable backups)");
  EXPECT_EQ(*backup_anomaly("logical", {"y", 60, 20u << 20, 8u << 20}, before),
            "logical backup \"y\" is unusual: it stores 8192 kB against the usual 20 MB, 40% of "
            "it; its dump is 20 MB against the usual 50 MB, 40% of it (usual: the median of "
            "the last 3 comparable backups)");
  // 60% of the usual: not unusual enough.
  EXPECT_FALSE(backup_anomaly("logical", {"z", 60, 30u << 20, 12u << 20}, before));
}

TEST(Anomaly, LargerOrSlowerAndTheFloors) {
  const std::vector<BackupFigures> before = {
      {"b3", 600, 100u << 20, 40u << 20}, {"b2", 600, 100u << 20, 40u << 20},
      {"b1", 600, 100u << 20, 40u << 20}, {"b0", 600, 100u << 20, 40u << 20},
      {"bb", 600, 100u << 20, 40u << 20}, {"old", 1, 1, 1}};  // beyond the last 5
  auto larger = backup_anomaly("physical", {"x", 600, 250u << 20, 40u << 20}, before);
  ASSERT_TRUE(larger);
  EXPECT_NE(larger->find("it read 250 MB against the usual 100 MB, 250% of it"), std::string::npos);
  EXPECT_NE(larger->find("the median of the last 5"), std::string::npos);
  auto slower = backup_anomaly("physical", {"x", 1500, 100u << 20, 40u << 20}, before);
  ASSERT_TRUE(slower);
  EXPECT_NE(slower->find("it took 25min against the usual 10min, 250% of it"), std::string::npos);
  // More than twice as slow but under 5 minutes longer: not worth a page.
  const std::vector<BackupFigures> quick(3, {"q", 240, 1u << 20, 1u << 20});
  EXPECT_FALSE(backup_anomaly("physical", {"x", 500, 1u << 20, 1u << 20}, quick));
  // Tiny databases: three times the size but under 1 MiB apart.
  const std::vector<BackupFigures> tiny(3, {"t", 1, 100000, 20000});
  EXPECT_FALSE(backup_anomaly("logical", {"x", 1, 300000, 60000}, tiny));
  // An incremental's stored size follows the day's writes: smaller is normal.
  const std::vector<BackupFigures> incrementals(3, {"i", 60, 100u << 20, 30u << 20});
  EXPECT_FALSE(backup_anomaly("incremental", {"x", 60, 100u << 20, 2u << 20}, incrementals));
  EXPECT_TRUE(backup_anomaly("incremental", {"x", 60, 100u << 20, 90u << 20}, incrementals));
}

TEST(Anomaly, TrackerAlertsEveryAnomalousBackup) {
  AlertTracker tracker;
  const nlohmann::json outcome{{"source", "anomaly"},
                               {"ok", false},
                               {"kind", "logical"},
                               {"name", "x"},
                               {"reason", "logical backup \"x\" is unusual: …"}};
  auto a = tracker.observe(outcome, 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->event, AlertEvent::anomaly);
  EXPECT_TRUE(tracker.observe(outcome, 2));  // no dedupe: each backup is its own fact
  const ClusterFacts cluster{"prod-db", "1", "db1"};
  EXPECT_EQ(alert_sentence(*a, cluster), "prod-db: logical backup \"x\" is unusual: …");
  EXPECT_EQ(mail_subject(*a, cluster),
            "[pgvault] prod-db: logical backup anomaly — logical backup \"x\" is unusual: …");
}
