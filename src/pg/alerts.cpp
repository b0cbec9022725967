// Alerts that reach a person: the settings, the outcome queue (filled at
// commit by history.cpp and verify_functions.cpp), the static "pgvault
// alerts" worker, vault._alert_state() (vault.status) and vault.test_alert().
// What an alert says, which outcomes alert and the retries are the core's
// (pgvault/alert/alert.hpp); delivery never runs in a backup, the scheduler
// or the archiver: they only queue.
#include "pgvault/alert/alert.hpp"
#include "pgvault/http/transport.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alerts.hpp"
#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "job_control.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"

#include "postgres_headers.hpp"

using namespace pgvault;
using namespace pgvault::pg;
using pgvault::alert::AlertEvent;

namespace pgvault::pg {

namespace {

char* guc_alert_webhook_url = nullptr;
char* guc_alert_email_to = nullptr;
char* guc_alert_email_from = nullptr;
char* guc_smtp_url = nullptr;
char* guc_smtp_user = nullptr;
char* guc_smtp_password = nullptr;
char* guc_alert_on = nullptr;

std::string value_of(const char* guc) {
  return guc ? guc : "";
}

// Check hooks neither throw nor ereport: core messages name no secret.
template <void (*Validate)(const std::string&)>
bool check_with(char** newval, void**, GucSource) {
  try {
    Validate(*newval ? *newval : "");
    return true;
  } catch (const std::exception& e) {
    GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
    GUC_check_errmsg("%s", e.what());
    return false;
  }
}

void validate_webhook(const std::string& v) {
  alert::validate_webhook_url(v);
}
void validate_smtp(const std::string& v) {
  alert::validate_smtp_url(v);
}
void validate_email_to(const std::string& v) {
  alert::parse_mail_addresses(v);
}
void validate_email_from(const std::string& v) {
  if (alert::parse_mail_addresses(v).size() > 1)
    throw Error(ErrorKind::invalid_argument, "pgvault.alert_email_from takes one address");
}
void validate_alert_on(const std::string& v) {
  alert::parse_alert_on(v);
}

const char* show_webhook_url() {
  return guc_alert_webhook_url && *guc_alert_webhook_url ? "********" : "";
}
const char* show_smtp_user() {
  return guc_smtp_user && *guc_smtp_user ? "********" : "";
}
const char* show_smtp_password() {
  return guc_smtp_password && *guc_smtp_password ? "********" : "";
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown host";
  return buf;
}

alert::ClusterFacts cluster_facts() {
  return {value_of(cluster_name), system_identifier_string(), host_name()};
}

// ---- the channels the settings configure --------------------------------------

struct Channels {
  std::unique_ptr<alert::WebhookChannel> webhook;
  std::unique_ptr<alert::EmailChannel> email;
  std::map<std::string, std::string> broken;  // configured but not usable: why

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    if (webhook || broken.count("webhook")) out.push_back("webhook");
    if (email || broken.count("email")) out.push_back("email");
    return out;
  }
  std::map<std::string, alert::AlertChannel*> usable() const {
    std::map<std::string, alert::AlertChannel*> out;
    if (webhook) out["webhook"] = webhook.get();
    if (email) out["email"] = email.get();
    return out;
  }
};

bool webhook_configured() {
  return !value_of(guc_alert_webhook_url).empty();
}
bool email_configured() {
  return !value_of(guc_smtp_url).empty() || !value_of(guc_alert_email_to).empty();
}

std::string configured_channel_names() {
  std::string out;
  if (webhook_configured()) out = "webhook";
  if (email_configured()) out += out.empty() ? "email" : ", email";
  return out;
}

Channels configured_channels() {
  Channels c;
  if (webhook_configured()) {
    try {
      c.webhook = std::make_unique<alert::WebhookChannel>(value_of(guc_alert_webhook_url),
                                                          std::make_unique<http::CurlTransport>());
    } catch (const std::exception& e) {
      c.broken["webhook"] = e.what();
    }
  }
  if (email_configured()) {
    alert::MailSettings mail;
    mail.smtp_url = value_of(guc_smtp_url);
    mail.user = value_of(guc_smtp_user);
    mail.password = value_of(guc_smtp_password);
    mail.from = value_of(guc_alert_email_from);
    if (mail.from.empty()) mail.from = "pgvault@" + host_name();
    mail.to = alert::parse_mail_addresses(value_of(guc_alert_email_to));
    if (mail.smtp_url.empty())
      c.broken["email"] = "pgvault.alert_email_to is set but pgvault.smtp_url is not";
    else if (mail.to.empty())
      c.broken["email"] = "pgvault.smtp_url is set but pgvault.alert_email_to is not";
    else
      c.email = std::make_unique<alert::EmailChannel>(std::move(mail));
  }
  return c;
}

// ---- outcomes queued at commit ----------------------------------------------------

std::vector<std::string> outcomes_at_commit;
bool xact_callback_registered = false;

void push_outcomes(XactEvent event, void*) {
  if (outcomes_at_commit.empty()) return;
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    outcomes_at_commit.clear();
  } else if (event == XACT_EVENT_COMMIT) {
    SharedState* state = shared();
    lock_shared();
    AlertState& a = state->alerts;
    for (const std::string& outcome : outcomes_at_commit) {
      copy_fixed(a.queue[a.written % kAlertQueueLen], kAlertOutcomeLen, outcome.c_str());
      ++a.written;
      if (a.written - a.read > static_cast<uint64>(kAlertQueueLen)) {
        ++a.read;
        ++a.dropped;
      }
    }
    Latch* latch = a.worker_latch;
    unlock_shared();
    outcomes_at_commit.clear();
    if (latch) SetLatch(latch);
  }
}

// ---- the worker ------------------------------------------------------------------

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string timestamp_text(TimestampTz t) {
  return pg_guard([&] { return std::string(timestamptz_to_str(t)); });
}

class AlertsWorker {
 public:
  void run() {
    configure();
    while (!ShutdownRequestPending) {
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        pg_guard([] { ProcessConfigFile(PGC_SIGHUP); });
        configure();
      }
      take_queued_outcomes();
      look_at_archiving();
      const std::int64_t next = outbox_.deliver_due(
          channels_.usable(), facts_, steady_ms(), [](const alert::DeliveryReport& r) {
            log_message(r.kind == alert::DeliveryReport::Kind::recovered ? LOG : WARNING,
                        r.message);
          });
      publish();
      const long timeout_ms = next < 0 ? 60000L : std::clamp<long>(next, 10, 60000);
      pg_guard([&] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();  // ProcSignalBarriers, as in the scheduler
      });
    }
  }

 private:
  // At start and after each reload: the channels, what to alert on, and
  // whether the settings were rejected.
  void configure() {
    facts_ = cluster_facts();
    channels_ = configured_channels();
    try {
      alert_on_ = alert::parse_alert_on(value_of(guc_alert_on));
    } catch (const std::exception&) {
      // A rejected line keeps the previous value, which was checked.
    }
    std::string problems;
    for (const SettingProblem& p : setting_problems())
      problems += (problems.empty() ? "" : "; ") + p.describe();
    observe(nlohmann::json{
        {"source", "settings"},
        {"ok", problems.empty()},
        {"problems", problems.empty() ? nlohmann::json() : nlohmann::json(problems)}});
  }

  void take_queued_outcomes() {
    while (true) {
      char outcome[kAlertOutcomeLen];
      uint64 dropped = 0;
      lock_shared();
      AlertState& a = shared()->alerts;
      const bool any = a.read < a.written;
      if (any) {
        memcpy(outcome, a.queue[a.read % kAlertQueueLen], kAlertOutcomeLen);
        ++a.read;
      }
      dropped = a.dropped;
      unlock_shared();
      if (dropped != dropped_seen_) {
        log_message(WARNING, "alerts: " + std::to_string(dropped - dropped_seen_) +
                                 " outcomes dropped (the alerts worker fell behind)");
        dropped_seen_ = dropped;
      }
      if (!any) return;
      try {
        observe(nlohmann::json::parse(std::string(outcome)));
      } catch (const std::exception& e) {
        log_message(WARNING, std::string("alerts: outcome not understood: ") + e.what());
      }
    }
  }

  // The archiver's ArchiveState: a failure since the last look alerts (once,
  // the tracker sees to that), and a success after it recovers.
  void look_at_archiving() {
    lock_shared();
    const ArchiveState a = shared()->archive;
    unlock_shared();
    if (a.failure_events != archive_failures_seen_) {
      archive_failures_seen_ = a.failure_events;
      observe(nlohmann::json{
          {"source", "archive"},
          {"ok", false},
          {"file", a.last_failed_file[0] ? nlohmann::json(a.last_failed_file) : nlohmann::json()},
          {"error", std::string(a.last_error)},
          {"failures", a.failures},
          {"repository", std::string(a.repository)}});
    }
    if (a.recovery_events != archive_recoveries_seen_) {
      archive_recoveries_seen_ = a.recovery_events;
      if (!a.failing)
        observe(nlohmann::json{
            {"source", "archive"},
            {"ok", true},
            {"file", std::string(a.last_archived_file)},
            {"archived_at", a.last_archived_at ? nlohmann::json(timestamp_text(a.last_archived_at))
                                               : nlohmann::json()},
            {"repository", std::string(a.repository)}});
    }
  }

  void observe(const nlohmann::json& outcome) {
    const std::optional<alert::Alert> alert = tracker_.observe(outcome, unix_now());
    if (!alert) return;
    // "recovered" only for what the failure alert was on for.
    if (!alert_on_.count(alert->event)) return;
    if (alert->event == AlertEvent::recovered && !alert_on_.count(alert->failure)) return;
    outbox_.add(*alert, channels_.names(), steady_ms());
  }

  void publish() {
    std::string error;
    bool failing = false;
    for (const auto& [name, why] : channels_.broken) {
      failing = true;
      error += (error.empty() ? "" : "; ") + name + ": " + why;
    }
    bool delivered_now = false;
    for (const auto& [name, health] : outbox_.health()) {
      const auto names = channels_.names();
      if (std::find(names.begin(), names.end(), name) == names.end()) continue;
      failing = failing || health.failing;
      if (!health.last_error.empty() && (health.failing || error.empty()))
        error += (error.empty() ? "" : "; ") + name + ": " + health.last_error;
      if (health.last_delivered_at_ms > delivered_seen_ms_) {
        delivered_seen_ms_ = health.last_delivered_at_ms;
        delivered_now = true;
      }
    }
    const TimestampTz now = GetCurrentTimestamp();
    const std::string channels = configured_channel_names();
    lock_shared();
    AlertState& a = shared()->alerts;
    copy_fixed(a.channels, kAlertChannelsLen, channels.c_str());
    if (failing && strcmp(a.last_error, error.c_str()) != 0) a.last_error_at = now;
    a.failing = failing;
    if (!error.empty()) copy_fixed(a.last_error, kAlertErrorLen, error.c_str());
    if (delivered_now) a.last_delivered_at = now;
    unlock_shared();
  }

  alert::ClusterFacts facts_;
  Channels channels_;
  std::set<AlertEvent> alert_on_ = alert::parse_alert_on(alert::kDefaultAlertOn);
  alert::AlertTracker tracker_;
  alert::AlertOutbox outbox_;
  uint64 archive_failures_seen_ = 0;
  uint64 archive_recoveries_seen_ = 0;
  uint64 dropped_seen_ = 0;
  std::int64_t delivered_seen_ms_ = 0;
};

void alerts_main() {
  pg_guard([] { pgstat_report_appname("pgvault alerts"); });
  lock_shared();
  shared()->alerts.worker_pid = MyProcPid;
  shared()->alerts.worker_latch = MyLatch;
  unlock_shared();
  auto stopped = [] {
    lock_shared();
    shared()->alerts.worker_pid = 0;
    shared()->alerts.worker_latch = nullptr;
    shared()->alerts.channels[0] = '\0';
    unlock_shared();
  };
  try {
    AlertsWorker().run();
  } catch (...) {
    stopped();
    throw;
  }
  stopped();
}

}  // namespace

void define_alert_settings() {
  DefineCustomStringVariable(
      "pgvault.alert_webhook_url", "Webhook that receives a JSON POST per alert.",
      "https://, or http:// to 127.0.0.1, ::1 or localhost. Secret: it usually carries a token.",
      &guc_alert_webhook_url, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
      check_with<validate_webhook>, nullptr, show_webhook_url);
  DefineCustomStringVariable(
      "pgvault.alert_email_to", "Addresses (comma-separated) that receive alerts by mail.", nullptr,
      &guc_alert_email_to, "", PGC_SIGHUP, 0, check_with<validate_email_to>, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.alert_email_from", "Sender address of alert mails.",
                             "Empty: pgvault@<host name>.", &guc_alert_email_from, "", PGC_SIGHUP,
                             0, check_with<validate_email_from>, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgvault.smtp_url", "Mail server for alert mails: smtp://host[:port] or smtps://host[:port].",
      "smtp:// uses STARTTLS when the server offers it, and requires it before sending a password "
      "to another host.",
      &guc_smtp_url, "", PGC_SIGHUP, 0, check_with<validate_smtp>, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.smtp_user", "User name for the mail server.", "Secret.",
                             &guc_smtp_user, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
                             nullptr, nullptr, show_smtp_user);
  DefineCustomStringVariable(
      "pgvault.smtp_password", "Password for the mail server.", "Secret.", &guc_smtp_password, "",
      PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, nullptr, nullptr, show_smtp_password);
  DefineCustomStringVariable("pgvault.alert_on", "Which events alert (a comma-separated list).",
                             "backup_failed, archive_failed, verify_failed, misconfigured, "
                             "recovered; all; none.",
                             &guc_alert_on, alert::kDefaultAlertOn, PGC_SIGHUP, 0,
                             check_with<validate_alert_on>, nullptr, nullptr);
}

const std::vector<std::string>& alert_secret_setting_names() {
  static const std::vector<std::string> names = {"alert_webhook_url", "smtp_user", "smtp_password"};
  return names;
}

void queue_alert_outcome_at_commit(std::string outcome_json) {
  if (!xact_callback_registered) {
    pg_guard([] { RegisterXactCallback(push_outcomes, nullptr); });
    xact_callback_registered = true;
  }
  outcomes_at_commit.push_back(std::move(outcome_json));
}

void queue_alert_outcome_at_commit(const std::string& source, bool ok,
                                   const std::vector<std::pair<std::string, std::string>>& facts) {
  nlohmann::json outcome{{"source", source}, {"ok", ok}};
  for (const auto& [key, value] : facts)
    if (!value.empty()) outcome[key] = value.substr(0, 2000);
  queue_alert_outcome_at_commit(outcome.dump());
}

void register_alerts_worker() {
  // No database connection: outcomes come through shared memory.
  register_static_worker("pgvault_alerts_main", "pgvault alerts", BGWORKER_SHMEM_ACCESS);
}

}  // namespace pgvault::pg

PGVAULT_WORKER(pgvault_alerts_main) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  pgvault::pg::alerts_main();
}

// vault._alert_state(OUT channels text, OUT failing boolean, OUT last_error
// text, OUT last_error_at timestamptz, OUT last_delivered_at timestamptz):
// for vault.status: the channels the alerts worker delivers to (none while
// it does not run), by name, never by URL.
PGVAULT_FUNCTION(pgvault_alert_state) {
  char channels[kAlertChannelsLen];
  lock_shared();
  memcpy(channels, shared()->alerts.channels, kAlertChannelsLen);
  const bool failing = shared()->alerts.failing;
  char last_error[kAlertErrorLen];
  memcpy(last_error, shared()->alerts.last_error, kAlertErrorLen);
  const TimestampTz last_error_at = shared()->alerts.last_error_at;
  const TimestampTz last_delivered_at = shared()->alerts.last_delivered_at;
  unlock_shared();
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "return type must be a row type");
    Datum values[5];
    bool nulls[5] = {channels[0] == '\0', false, last_error[0] == '\0', last_error_at == 0,
                     last_delivered_at == 0};
    values[0] = CStringGetTextDatum(channels);
    values[1] = BoolGetDatum(failing);
    values[2] = CStringGetTextDatum(last_error);
    values[3] = TimestampTzGetDatum(last_error_at);
    values[4] = TimestampTzGetDatum(last_delivered_at);
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
  });
}

// vault.test_alert(OUT channel text, OUT configured boolean, OUT delivered
// boolean, OUT error text): one test alert through each channel, now, from
// this backend (once, no retries), so the DBA sees each channel's answer.
PGVAULT_FUNCTION(pgvault_test_alert) {
  struct Row {
    std::string channel;
    bool configured = false;
    bool delivered = false;
    std::string error;
  };
  std::vector<Row> rows;
  Channels channels = configured_channels();
  const alert::ClusterFacts facts = cluster_facts();
  alert::Alert test;
  test.event = AlertEvent::test;
  test.subject = "test";
  test.raised_at = unix_now();
  const std::map<std::string, alert::AlertChannel*> usable = channels.usable();
  for (const char* name : {"webhook", "email"}) {
    Row row;
    row.channel = name;
    const auto names = channels.names();
    row.configured = std::find(names.begin(), names.end(), name) != names.end();
    if (!row.configured) {
      row.error = std::string("not configured (set ") +
                  (row.channel == "webhook" ? "pgvault.alert_webhook_url"
                                            : "pgvault.smtp_url and pgvault.alert_email_to") +
                  ")";
    } else if (auto broken = channels.broken.find(name); broken != channels.broken.end()) {
      row.error = broken->second;
    } else {
      try {
        usable.at(name)->send(test, facts);
        row.delivered = true;
      } catch (const std::exception& e) {
        row.error = e.what();
      }
    }
    rows.push_back(std::move(row));
  }
  pg_guard([&] {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (const Row& r : rows) {
      Datum values[4] = {CStringGetTextDatum(r.channel.c_str()), BoolGetDatum(r.configured),
                         BoolGetDatum(r.delivered), CStringGetTextDatum(r.error.c_str())};
      bool nulls[4] = {false, false, false, r.error.empty()};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  return static_cast<Datum>(0);
}
