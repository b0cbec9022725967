#include "pgvault/alert/alert.hpp"
#include "pgvault/error.hpp"

#include "doubles/scripted_transport.hpp"

#include <gtest/gtest.h>

using namespace pgvault;
using namespace pgvault::alert;
using nlohmann::json;

namespace {

const ClusterFacts kCluster{"prod-db", "7312345678901234567", "db1.example.com"};

json backup_outcome(bool ok, const std::string& kind = "physical", const std::string& name = "b1") {
  return {{"source", "backup"},
          {"ok", ok},
          {"name", name},
          {"kind", kind},
          {"status", ok ? "completed" : "failed"},
          {"error", ok ? json() : json("could not write /nope: Permission denied")},
          {"stored_bytes", 1234}};
}

}  // namespace

TEST(AlertOn, ParsesListsAllAndNone) {
  EXPECT_EQ(parse_alert_on(kDefaultAlertOn).size(), 7u);
  EXPECT_EQ(parse_alert_on("all").size(), 7u);
  EXPECT_TRUE(parse_alert_on("").empty());
  EXPECT_TRUE(parse_alert_on("none").empty());
  EXPECT_EQ(parse_alert_on(" Backup_Failed ,recovered"),
            (std::set<AlertEvent>{AlertEvent::backup_failed, AlertEvent::recovered}));
  EXPECT_EQ(parse_alert_on("stale, anomaly"),
            (std::set<AlertEvent>{AlertEvent::stale, AlertEvent::anomaly}));
  try {
    parse_alert_on("backup_failed, stal");
    FAIL() << "a misspelt event is refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown alert event \"stal\""), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(
                  "allowed: backup_failed, archive_failed, verify_failed, misconfigured, stale, "
                  "anomaly, recovered, all, none"),
              std::string::npos);
  }
  EXPECT_THROW(parse_alert_on("test"), Error);
}

TEST(AlertTracker, RepeatedFailuresAlertOnceThenRecovered) {
  AlertTracker tracker;
  EXPECT_FALSE(tracker.observe(backup_outcome(true), 1));  // fine and was fine: quiet
  auto first = tracker.observe(backup_outcome(false), 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->event, AlertEvent::backup_failed);
  EXPECT_EQ(first->subject, "physical backups");
  EXPECT_FALSE(tracker.observe(backup_outcome(false), 3));
  EXPECT_FALSE(tracker.observe(backup_outcome(false), 4));
  // Another kind is another subject.
  auto logical = tracker.observe(backup_outcome(false, "logical"), 5);
  ASSERT_TRUE(logical);
  EXPECT_EQ(logical->event, AlertEvent::backup_failed);
  auto recovered = tracker.observe(backup_outcome(true, "physical", "b2"), 6);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->event, AlertEvent::recovered);
  EXPECT_FALSE(tracker.observe(backup_outcome(true), 7));
  EXPECT_TRUE(tracker.failing("backup:logical"));
  EXPECT_FALSE(tracker.failing("backup:physical"));
}

TEST(AlertTracker, ArchiveVerifyAndSettingsSubjects) {
  AlertTracker tracker;
  auto archive = tracker.observe({{"source", "archive"}, {"ok", false}, {"error", "x"}}, 1);
  ASSERT_TRUE(archive);
  EXPECT_EQ(archive->event, AlertEvent::archive_failed);
  auto verify = tracker.observe({{"source", "verify"}, {"ok", false}, {"name", "b"}}, 1);
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->event, AlertEvent::verify_failed);
  auto settings = tracker.observe({{"source", "settings"}, {"ok", false}, {"problems", "p"}}, 1);
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->event, AlertEvent::misconfigured);
  EXPECT_EQ(tracker.observe({{"source", "archive"}, {"ok", true}}, 2)->event,
            AlertEvent::recovered);
  EXPECT_THROW(tracker.observe({{"source", "weather"}, {"ok", true}}, 1), Error);
  EXPECT_THROW(tracker.observe({{"ok", true}}, 1), Error);
}

// vault.verify_wal's outcomes are a subject of their own: a WAL check that
// passes does not clear a backup's failed verification, nor the other way.
TEST(AlertTracker, WalVerificationIsItsOwnSubject) {
  AlertTracker tracker;
  const json backup_failed = {{"source", "verify"}, {"ok", false}, {"name", "b"}, {"error", "e"}};
  const json wal_failed = {{"source", "verify"},
                           {"ok", false},
                           {"what", "wal"},
                           {"name", "b"},
                           {"error", "segment 000000010000000000000003 is missing"}};
  const json wal_passed = {{"source", "verify"}, {"ok", true}, {"what", "wal"}, {"name", "b"}};
  ASSERT_TRUE(tracker.observe(backup_failed, 1));
  auto wal = tracker.observe(wal_failed, 2);
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->event, AlertEvent::verify_failed);
  EXPECT_EQ(wal->subject, "WAL verification");
  EXPECT_EQ(alert_sentence(*wal, kCluster),
            "prod-db: verification of the archived WAL after backup \"b\" failed: segment "
            "000000010000000000000003 is missing");
  EXPECT_FALSE(tracker.observe(wal_failed, 3));  // once
  auto recovered = tracker.observe(wal_passed, 4);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->event, AlertEvent::recovered);
  EXPECT_EQ(alert_sentence(*recovered, kCluster),
            "prod-db: WAL verification recovered: the archived WAL after backup \"b\" verified");
  EXPECT_TRUE(tracker.failing("verify"));
  EXPECT_FALSE(tracker.failing("verify:wal"));
}

TEST(AlertRender, WebhookPayloadHasTextAndFields) {
  AlertTracker tracker;
  auto alert = tracker.observe(backup_outcome(false), 1764900000);
  const json body = json::parse(webhook_payload(*alert, kCluster));
  EXPECT_EQ(body["text"],
            "prod-db: physical backup \"b1\" failed: could not write /nope: Permission denied");
  EXPECT_EQ(body["event"], "backup_failed");
  EXPECT_EQ(body["name"], "b1");
  EXPECT_EQ(body["kind"], "physical");
  EXPECT_EQ(body["status"], "failed");
  EXPECT_EQ(body["stored_bytes"], 1234);
  EXPECT_EQ(body["cluster_name"], "prod-db");
  EXPECT_EQ(body["system_identifier"], "7312345678901234567");
  EXPECT_EQ(body["host"], "db1.example.com");
  EXPECT_EQ(body["raised_at"], "2025-12-05 02:00:00 UTC");
}

TEST(AlertRender, MailSubjectBodyAndMessage) {
  AlertTracker tracker;
  auto alert = tracker.observe(backup_outcome(false), 1764900000);
  EXPECT_EQ(mail_subject(*alert, kCluster),
            "[pgvault] prod-db: physical backup failed — could not write /nope: Permission "
            "denied");
  const std::string body = mail_body(*alert, kCluster);
  EXPECT_NE(body.find("system identifier:  7312345678901234567\n"), std::string::npos);
  EXPECT_NE(body.find("name:               b1\n"), std::string::npos);
  MailSettings settings;
  settings.from = "pgvault@example.com";
  settings.to = {"dba@example.com", "oncall@example.com"};
  const std::string m = mail_message(settings, mail_subject(*alert, kCluster), body, 1764900000);
  EXPECT_NE(m.find("From: pgvault@example.com\r\n"), std::string::npos);
  EXPECT_NE(m.find("To: dba@example.com, oncall@example.com\r\n"), std::string::npos);
  // The dash is not ASCII: the subject is RFC 2047 encoded.
  EXPECT_NE(m.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(m.find("Date: Fri, 05 Dec 2025 02:00:00 +0000\r\n"), std::string::npos);
  EXPECT_EQ(m.find("\n\n"), std::string::npos) << "every line ends CRLF";
  // An error text cannot add a header.
  alert->details["error"] = "boom\r\nBcc: evil@example.com";
  EXPECT_EQ(mail_subject(*alert, kCluster).find('\n'), std::string::npos);
}

TEST(AlertUrls, WebhookSchemesAndLabels) {
  EXPECT_NO_THROW(validate_webhook_url(""));
  EXPECT_NO_THROW(validate_webhook_url("https://hooks.slack.com/services/T0/B0/SECRET"));
  EXPECT_NO_THROW(validate_webhook_url("http://127.0.0.1:8080/hook?token=SECRET"));
  EXPECT_NO_THROW(validate_webhook_url("http://localhost/hook"));
  EXPECT_NO_THROW(validate_webhook_url("http://[::1]:9/hook"));
  try {
    validate_webhook_url("http://hooks.example.com/services/SECRET");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("must use https://"), std::string::npos);
    EXPECT_NE(m.find("http://hooks.example.com/…"), std::string::npos);
    EXPECT_EQ(m.find("SECRET"), std::string::npos);
  }
  EXPECT_THROW(validate_webhook_url("ftp://x/y"), Error);
  EXPECT_THROW(validate_webhook_url("hooks.example.com"), Error);
  EXPECT_EQ(channel_label("https://user:pw@hooks.example.com:8443/a/b?c=d"),
            "https://hooks.example.com:8443/…");
  EXPECT_EQ(channel_label("smtp://mail.example.com"), "smtp://mail.example.com");
}

TEST(AlertUrls, SmtpUrlsAndAddresses) {
  EXPECT_NO_THROW(validate_smtp_url("smtp://127.0.0.1:2525"));
  EXPECT_NO_THROW(validate_smtp_url("smtps://mail.example.com"));
  EXPECT_THROW(validate_smtp_url("http://mail.example.com"), Error);
  EXPECT_THROW(validate_smtp_url("smtp://user:secret@mail.example.com"), Error);
  EXPECT_THROW(validate_smtp_url("smtp://mail.example.com/x"), Error);
  EXPECT_EQ(parse_mail_addresses(" a@x.org, b@y.org ,"),
            (std::vector<std::string>{"a@x.org", "b@y.org"}));
  EXPECT_THROW(parse_mail_addresses("a@x.org; b@y.org"), Error);
  EXPECT_THROW(parse_mail_addresses("nobody"), Error);
}

TEST(AlertWebhook, PostsJsonAndHidesTheTokenInErrors) {
  auto transport = std::make_unique<http::ScriptedTransport>();
  auto* t = transport.get();
  t->expect("POST", "https://hooks.example.com/services/SECRET", 200);
  t->expect("POST", "https://hooks.example.com/services/SECRET", 500, "oops");
  t->expect_error("POST", "https://hooks.example.com/services/SECRET",
                  "HTTP POST https://hooks.example.com/services/SECRET failed", true,
                  "Couldn't connect to server");
  WebhookChannel channel("https://hooks.example.com/services/SECRET", std::move(transport));
  Alert alert;
  alert.event = AlertEvent::test;
  channel.send(alert, kCluster);
  EXPECT_EQ(t->requests()[0].header("content-type"), "application/json");
  EXPECT_EQ(json::parse(t->requests()[0].body)["event"], "test");
  for (int i = 0; i < 2; ++i) {
    try {
      channel.send(alert, kCluster);
      FAIL();
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find("SECRET"), std::string::npos) << m;
      EXPECT_NE(m.find("https://hooks.example.com/…"), std::string::npos) << m;
    }
  }
  EXPECT_EQ(t->verify(), "");
}

namespace {

// A channel that fails while `down` is set, recording what it was sent.
struct FakeChannel : AlertChannel {
  std::string channel_name;
  bool down = false;
  std::vector<Alert> sent;
  int attempts = 0;
  explicit FakeChannel(std::string n) : channel_name(std::move(n)) {}
  std::string name() const override { return channel_name; }
  void send(const Alert& alert, const ClusterFacts&) override {
    ++attempts;
    if (down) throw Error(ErrorKind::storage, channel_name + " is down");
    sent.push_back(alert);
  }
};

}  // namespace

TEST(AlertOutbox, RetriesWithBackoffReportsOnceAndRecovers) {
  FakeChannel webhook("webhook"), email("email");
  webhook.down = true;
  std::map<std::string, AlertChannel*> channels{{"webhook", &webhook}, {"email", &email}};
  std::vector<DeliveryReport> reports;
  auto report = [&](const DeliveryReport& r) { reports.push_back(r); };
  AlertOutbox outbox(BackoffPolicy{1000, 8000, 10, 100});
  Alert a;
  a.event = AlertEvent::test;
  outbox.add(a, {"webhook", "email"}, 0);
  outbox.add(a, {"webhook"}, 0);
  // Round 1: email delivers; the webhook fails once (not once per alert).
  EXPECT_EQ(outbox.deliver_due(channels, kCluster, 0, report), 1000);
  EXPECT_EQ(email.sent.size(), 1u);
  EXPECT_EQ(webhook.attempts, 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].kind, DeliveryReport::Kind::started_failing);
  EXPECT_TRUE(outbox.health().at("webhook").failing);
  EXPECT_EQ(outbox.health().at("webhook").last_error, "webhook is down");
  // Not due yet: nothing is attempted.
  EXPECT_EQ(outbox.deliver_due(channels, kCluster, 500, report), 500);
  EXPECT_EQ(webhook.attempts, 1);
  // Second failure: the delay doubles, and nothing more is logged.
  EXPECT_EQ(outbox.deliver_due(channels, kCluster, 1000, report), 2000);
  EXPECT_EQ(webhook.attempts, 2);
  EXPECT_EQ(reports.size(), 1u);
  webhook.down = false;
  EXPECT_EQ(outbox.deliver_due(channels, kCluster, 3000, report), -1);
  EXPECT_EQ(webhook.sent.size(), 2u);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].kind, DeliveryReport::Kind::recovered);
  EXPECT_FALSE(outbox.health().at("webhook").failing);
  EXPECT_EQ(outbox.health().at("webhook").failures, 2u);
}

TEST(AlertOutbox, GivesUpAfterMaxAttemptsAndDropsUnconfiguredChannels) {
  FakeChannel webhook("webhook");
  webhook.down = true;
  std::map<std::string, AlertChannel*> channels{{"webhook", &webhook}};
  std::vector<DeliveryReport> reports;
  auto report = [&](const DeliveryReport& r) { reports.push_back(r); };
  AlertOutbox outbox(BackoffPolicy{10, 40, 3, 100});
  Alert a;
  outbox.add(a, {"webhook", "email"}, 0);
  std::int64_t now = 0;
  for (int i = 0; i < 3; ++i) now += outbox.deliver_due(channels, kCluster, now, report);
  EXPECT_EQ(webhook.attempts, 3);
  EXPECT_EQ(outbox.pending(), 0u);  // email is not a channel here: dropped
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].kind, DeliveryReport::Kind::gave_up);
}

TEST(AlertEmail, ChannelHandsTheMessageToTheSender) {
  MailSettings settings;
  settings.smtp_url = "smtp://127.0.0.1:2525";
  settings.from = "pgvault@example.com";
  settings.to = {"dba@example.com"};
  OutgoingMail seen;
  EmailChannel channel(settings, [&](const MailSettings&, const OutgoingMail& m) { seen = m; });
  Alert a;
  a.event = AlertEvent::test;
  channel.send(a, kCluster);
  EXPECT_EQ(seen.from, "pgvault@example.com");
  EXPECT_NE(seen.message.find("Subject: [pgvault] prod-db: test alert\r\n"), std::string::npos);
  MailSettings no_from = settings;
  no_from.from.clear();
  EXPECT_THROW(
      EmailChannel(no_from, [](const MailSettings&, const OutgoingMail&) {}).send(a, kCluster),
      Error);
}

TEST(AlertEmail, UnreachableServerIsAnErrorWithoutThePassword) {
  MailSettings settings;
  settings.smtp_url = "smtp://127.0.0.1:1";  // nothing listens on port 1
  settings.user = "u";
  settings.password = "SECRETPW";
  settings.from = "a@b.c";
  settings.to = {"d@e.f"};
  settings.timeout_ms = 5000;
  try {
    send_mail_with_curl(settings, {"a@b.c", {"d@e.f"}, "Subject: x\r\n\r\nx\r\n"});
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mail through smtp://127.0.0.1:1 failed"), std::string::npos) << m;
    EXPECT_EQ(m.find("SECRETPW"), std::string::npos);
  }
}
