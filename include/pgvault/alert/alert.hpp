// Alerts that reach a person: which outcomes become alerts (AlertTracker:
// a failure alerts once, the next success says "recovered"), what they say
// (a Slack-style webhook payload, a plain-text mail) and their delivery with
// retries and exponential backoff (AlertOutbox over AlertChannels).
//
// An *outcome* is what the server glue observed, as JSON: {"source": "backup"
// | "verify" | "archive" | "settings", "ok": bool, ...facts}. The tracker turns
// outcomes into *alerts*; the outbox sends each alert through every channel.
//
// Secrets: the webhook URL usually carries a token in its path or query and
// the SMTP password is one; no message produced here contains either
// (channel_label() is what errors name).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault::alert {

// The events pgvault raises. A new one is a value here, a
// name in kAlertEventNames, and an outcome source the tracker maps to it.
enum class AlertEvent {
  backup_failed,
  archive_failed,
  verify_failed,
  misconfigured,
  stale,    // no backup (of a kind) completed, or no WAL archived, for pgvault.stale_after
  anomaly,  // a completed backup much smaller, larger or slower than its kind's recent ones
  recovered,
  test
};

// Names accepted by pgvault.alert_on (test is not: vault.test_alert() always sends).
std::string_view alert_event_name(AlertEvent event);
const std::vector<AlertEvent>& alertable_events();
constexpr const char* kDefaultAlertOn =
    "backup_failed, archive_failed, verify_failed, misconfigured, stale, anomaly, recovered";

// Parses pgvault.alert_on ("a, b" or "all" or "none"/""); throws
// Error(invalid_argument) naming the unknown word and the allowed ones.
std::set<AlertEvent> parse_alert_on(std::string_view text);

// What every alert says about where it comes from.
struct ClusterFacts {
  std::string cluster_name;  // cluster_name, or "" when unset
  std::string system_identifier;
  std::string host;
  // "prod-db" (cluster_name), else the host name.
  std::string display_name() const;
};

struct Alert {
  AlertEvent event = AlertEvent::test;
  AlertEvent failure = AlertEvent::test;  // what a failure of this subject raises
  std::string subject;     // "physical backups", "WAL archiving", "verification", "settings"
  nlohmann::json details;  // the outcome's facts (backup, kind, status, error, times, sizes, ...)
  std::int64_t raised_at = 0;  // unix seconds
};

// One line a person reads: "prod-db: physical backup \"x\" failed: <error>".
std::string alert_sentence(const Alert& alert, const ClusterFacts& cluster);
// The webhook body: {"text": sentence, "event", "cluster", "system_identifier",
// "host", "raised_at", ...details} — Slack-style incoming webhooks use "text".
std::string webhook_payload(const Alert& alert, const ClusterFacts& cluster);
// "[pgvault] prod-db: backup failed — <first line of the sentence's reason>"
std::string mail_subject(const Alert& alert, const ClusterFacts& cluster);
std::string mail_body(const Alert& alert, const ClusterFacts& cluster);

// Failures alert once per subject and the next success of that subject
// alerts "recovered"; successes of a subject that was not failing are quiet.
// Sources: "backup" (subject per kind), "archive", "verify", "settings",
// "stale" (subject per "kind": a backup kind, "backup" for any, or "wal";
// ok = fresh again) and "anomaly" (no state: every anomalous backup alerts
// once, and nothing recovers).
class AlertTracker {
 public:
  // An outcome (see above); nullopt when it alerts nobody. Throws
  // Error(invalid_argument) for an outcome it does not understand.
  std::optional<Alert> observe(const nlohmann::json& outcome, std::int64_t now_unix);
  bool failing(const std::string& subject_key) const;

 private:
  std::map<std::string, bool> failing_;  // by subject key ("backup:physical", "archive", ...)
};

// ---- URLs -----------------------------------------------------------------------

// https://, or http:// to 127.0.0.1, ::1 or localhost; throws
// Error(invalid_argument) saying what is allowed, without the URL's path or query.
void validate_webhook_url(std::string_view url);
// smtp:// or smtps://, a host, no user:password (pgvault.smtp_user /
// smtp_password) and no path; throws Error(invalid_argument).
void validate_smtp_url(std::string_view url);
// "https://hooks.example.com/…": scheme and host only (the rest is the token).
std::string channel_label(std::string_view url);
// Addresses of a comma-separated list ("a@x, b@y"), each checked to be one
// address; throws Error(invalid_argument).
std::vector<std::string> parse_mail_addresses(std::string_view list);

// ---- channels ---------------------------------------------------------------------

class AlertChannel {
 public:
  virtual ~AlertChannel() = default;
  virtual std::string name() const = 0;  // "webhook", "email"
  // Sends once; throws Error with a message that names no secret.
  virtual void send(const Alert& alert, const ClusterFacts& cluster) = 0;
};

// JSON POST of webhook_payload(); a 2xx answer is delivered.
class WebhookChannel : public AlertChannel {
 public:
  WebhookChannel(std::string url, std::unique_ptr<http::HttpTransport> transport,
                 long timeout_ms = 10000);
  std::string name() const override { return "webhook"; }
  void send(const Alert& alert, const ClusterFacts& cluster) override;

 private:
  std::string url_;
  std::unique_ptr<http::HttpTransport> transport_;
  long timeout_ms_;
};

struct MailSettings {
  std::string smtp_url;  // smtp://host[:port] (STARTTLS when offered; required with a
                         // password unless the host is loopback) or smtps://
  std::string user;      // optional
  std::string password;  // optional, secret
  std::string from;
  std::vector<std::string> to;
  long timeout_ms = 30000;
};

// One message handed to an SMTP server (RFC 5322 text, CRLF line ends).
struct OutgoingMail {
  std::string from;
  std::vector<std::string> to;
  std::string message;
};
// Sends through libcurl's SMTP (src/core/http/curl_transport.cpp); throws
// Error(storage) naming the server by channel_label(), never the password.
void send_mail_with_curl(const MailSettings& settings, const OutgoingMail& mail);
using MailSender = std::function<void(const MailSettings&, const OutgoingMail&)>;

// The full message: From, To, Subject (RFC 2047 encoded when not ASCII),
// Date, Message-ID, MIME headers, the body.
std::string mail_message(const MailSettings& settings, const std::string& subject,
                         const std::string& body, std::int64_t now_unix);

class EmailChannel : public AlertChannel {
 public:
  explicit EmailChannel(MailSettings settings, MailSender sender = send_mail_with_curl);
  std::string name() const override { return "email"; }
  void send(const Alert& alert, const ClusterFacts& cluster) override;

 private:
  MailSettings settings_;
  MailSender sender_;
};

// ---- delivery with retries ----------------------------------------------------------

struct BackoffPolicy {
  std::int64_t base_ms = 1000;  // delay after the first failure; doubles after each
  std::int64_t max_ms = 60000;
  int max_attempts = 12;          // then the alert is dropped for that channel
  std::size_t max_pending = 100;  // the oldest pending delivery is dropped beyond this
};

// A channel's health, as vault.status shows it.
struct ChannelHealth {
  bool failing = false;
  std::uint64_t failures = 0;  // failed attempts since the process started
  std::string last_error;
  std::int64_t last_delivered_at_ms = 0;
};

// What happened, for the log: each is reported once (a channel starting to
// fail, recovering, giving an alert up), never per retry.
struct DeliveryReport {
  enum class Kind { started_failing, recovered, gave_up } kind;
  std::string channel;
  std::string message;
};

// Alerts waiting to be sent, one delivery per (alert, channel), each retried
// with exponential backoff until delivered or max_attempts.
class AlertOutbox {
 public:
  explicit AlertOutbox(BackoffPolicy policy = {}) : policy_(policy) {}
  void add(const Alert& alert, const std::vector<std::string>& channels, std::int64_t now_ms);
  // Attempts every due delivery whose channel exists in `channels` (a
  // delivery for a channel no longer configured is dropped); returns the
  // milliseconds until the next is due (-1: nothing pending).
  std::int64_t deliver_due(const std::map<std::string, AlertChannel*>& channels,
                           const ClusterFacts& cluster, std::int64_t now_ms,
                           const std::function<void(const DeliveryReport&)>& report);
  std::size_t pending() const { return pending_.size(); }
  const std::map<std::string, ChannelHealth>& health() const { return health_; }

 private:
  struct Delivery {
    Alert alert;
    std::string channel;
    int attempts = 0;
    std::int64_t due_ms = 0;
  };
  BackoffPolicy policy_;
  std::vector<Delivery> pending_;
  std::map<std::string, ChannelHealth> health_;
};

}  // namespace pgvault::alert
