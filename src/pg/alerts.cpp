// Alerts that reach a person: the settings, the outcome queue (filled at
// commit by history.cpp and verify_functions.cpp), the static "pgvault
// alerts" worker, vault._alert_state() (vault.status) and vault.test_alert().
// What an alert says, which outcomes alert and the retries are the core's
// (pgvault/alert/alert.hpp); delivery never runs in a backup, the scheduler
// or the archiver: they only queue.
#include "pgvault/alert/alert.hpp"
#include "pgvault/alert/anomaly.hpp"
#include "pgvault/alert/staleness.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alerts.hpp"
#include "archive_status.hpp"
#include "cluster_identity.hpp"
#include "error_boundary.hpp"
#include "job_control.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"
#include "storage_settings.hpp"

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
char* guc_stale_after = nullptr;

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
void validate_stale_after(const std::string& v) {
  alert::parse_stale_after(v);
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

// ---- NOTIFY pgvault events for the scheduler to send --------------------------------

void push_notify_event(const nlohmann::json& payload) {
  const std::string text = payload.dump();
  lock_shared();
  AlertState& a = shared()->alerts;
  copy_fixed(a.events[a.events_written % kAlertEventQueueLen], kAlertOutcomeLen, text.c_str());
  ++a.events_written;
  if (a.events_written - a.events_sent > static_cast<uint64>(kAlertEventQueueLen))
    a.events_sent = a.events_written - kAlertEventQueueLen;  // the oldest are lost
  Latch* scheduler = shared()->scheduler_latch;
  unlock_shared();
  if (scheduler) SetLatch(scheduler);
}

// ---- when pgvault was set up -------------------------------------------------------

// "Never backed up" counts from here: the first start of the server with
// pgvault loaded, recorded in the data directory (README.md, Alerts: why
// there). Unreadable: rewritten with now, after a WARNING.
constexpr const char* kSetUpFile = "pgvault_set_up_at";

std::int64_t set_up_time() {
  const std::string path = std::string(DataDir) + "/" + kSetUpFile;
  {
    std::ifstream in(path);
    long long at = 0;
    if (in && (in >> at) && at > 0) return at;
    if (in.is_open())
      log_message(WARNING, "alerts: " + path +
                               " cannot be read; pgvault counts its set-up time "
                               "from now");
  }
  const std::int64_t now = unix_now();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << now << "\n"
        << "# when pgvault was set up on this cluster (Unix time): pgvault.stale_after counts "
           "\"never backed up\" from here\n";
    if (!out.flush()) {
      log_message(WARNING, "alerts: cannot write " + tmp + "; the set-up time is not kept");
      return now;
    }
  }
  pg_guard([&] { (void)durable_rename(tmp.c_str(), path.c_str(), WARNING); });
  return now;
}

// ---- the worker ------------------------------------------------------------------

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
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
      const long stale_check_ms = check_staleness();
      const std::int64_t next = outbox_.deliver_due(
          channels_.usable(), facts_, steady_ms(), [](const alert::DeliveryReport& r) {
            log_message(r.kind == alert::DeliveryReport::Kind::recovered ? LOG : WARNING,
                        r.message);
          });
      publish();
      const long timeout_ms =
          std::min(stale_check_ms, next < 0 ? 60000L : std::clamp<long>(next, 10, 60000));
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
    try {
      stale_limits_ = alert::parse_stale_after(value_of(guc_stale_after));
    } catch (const std::exception&) {
      // As alert_on: the previous value stays.
    }
    relist_ = true;
    std::string problems;
    const std::vector<SettingProblem> all_problems = setting_problems();
    for (const SettingProblem& p : all_problems)
      problems += (problems.empty() ? "" : "; ") + p.describe();
    const std::optional<SettingProblem> repository = repository_problem(all_problems);
    repository_problem_ = repository ? repository->describe() : "";
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
        const nlohmann::json parsed = nlohmann::json::parse(std::string(outcome));
        if (parsed.value("source", "") == "backup") relist_ = true;
        observe(parsed);
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

  // The newest complete backups in the repository (and the WAL waiting in
  // pg_wal) against pgvault.stale_after. The repository is listed again
  // after a backup's outcome, at start and reload, when a kind would turn
  // stale on what the last listing said (to be sure before alerting), and
  // every 5 minutes while one is stale; otherwise the last listing's times
  // are enough. Returns the milliseconds until the next check is due.
  long check_staleness() {
    const std::int64_t now = unix_now();
    std::vector<alert::Freshness> kinds;
    if (!stale_limits_.empty()) {
      kinds = alert::backup_freshness(stale_limits_, listed_, set_up_unix_, now);
      const bool turning_stale = std::any_of(kinds.begin(), kinds.end(), [&](const auto& f) {
        return f.stale && !stale_.count(f.kind);
      });
      const bool any_stale =
          std::any_of(kinds.begin(), kinds.end(), [](const auto& f) { return f.stale; });
      const std::int64_t since_listing = steady_ms() - listed_at_ms_;
      if (relist_ || (turning_stale && since_listing >= 10000) ||
          (any_stale && since_listing >= 300000)) {
        list_repository();
        kinds = alert::backup_freshness(stale_limits_, listed_, set_up_unix_, now);
      }
      if (XLogArchiveMode != ARCHIVE_MODE_OFF) {
        const WaitingWal waiting = waiting_wal();
        if (auto wal = alert::wal_freshness(stale_limits_, waiting.oldest_unix,
                                            static_cast<std::size_t>(waiting.files), now))
          kinds.push_back(std::move(*wal));
      }
    }
    std::set<std::string> watched;
    std::string text;
    for (alert::Freshness& f : kinds) {
      watched.insert(f.kind);
      if (f.stale && !listing_error_.empty() && f.kind != "wal")
        f.reason = ever_listed_
                       ? f.reason + " (the repository cannot be listed now: " + listing_error_ + ")"
                       : "no " + std::string(f.kind == "backup" ? "" : f.kind + " ") +
                             "backup can be seen for " + alert::human_duration(f.age_seconds) +
                             " since pgvault was set up: the repository cannot be listed (" +
                             listing_error_ + "; " + stale_limits_.describe(f.kind) + ")";
      if (f.stale) text += (text.empty() ? "" : "; ") + f.kind + ": " + f.reason;
      set_stale(f.kind, f.stale, f);
    }
    // A kind no longer watched (pgvault.stale_after changed) is not stale.
    for (auto it = stale_.begin(); it != stale_.end();) {
      const std::string kind = *it++;
      if (watched.count(kind)) continue;
      alert::Freshness gone;
      gone.kind = kind;
      gone.reason = "pgvault.stale_after no longer watches " +
                    std::string(kind == "wal"      ? "WAL archiving"
                                : kind == "backup" ? "backups"
                                                   : kind + " backups");
      set_stale(kind, false, gone);
    }
    lock_shared();
    copy_fixed(shared()->alerts.stale, kAlertStaleLen, text.c_str());
    unlock_shared();
    // Wake up when the first fresh kind would turn stale (a second after).
    long next_ms = 60000;
    // Stale WAL clears as the archiver catches up, which wakes nobody: look
    // every 10 s (a directory read). Stale backups clear with a backup's outcome.
    for (const alert::Freshness& f : kinds) {
      if (!f.stale)
        next_ms = std::min<long>(next_ms, (f.limit_seconds - f.age_seconds + 1) * 1000);
      else if (f.kind == "wal")
        next_ms = std::min<long>(next_ms, 10000);
    }
    return std::max(next_ms, 1000L);
  }

  void list_repository() {
    relist_ = false;
    listed_at_ms_ = steady_ms();
    try {
      if (!repository_problem_.empty())
        throw Error(ErrorKind::invalid_argument,
                    "pgvault.repository is rejected: " + repository_problem_);
      auto storage = open_repository(value_of(guc_repository));
      Repository repo(*storage);
      listed_ = repo.list_backups(facts_.system_identifier);
      ever_listed_ = true;
      if (!listing_error_.empty())
        log_message(LOG, "alerts: the repository can be listed again for pgvault.stale_after");
      listing_error_.clear();
    } catch (const std::exception& e) {
      // The last listing's times stay: an unreachable repository makes no
      // backup fresh, and turns stale as they age.
      if (listing_error_.empty())
        log_message(WARNING, std::string("alerts: cannot list the repository for "
                                         "pgvault.stale_after (the last listing counts): ") +
                                 e.what());
      listing_error_ = e.what();
    }
  }

  // A change of a kind's staleness: logged, NOTIFY pgvault (through the
  // scheduler) and an alert (the tracker keeps it to once, then recovered).
  void set_stale(const std::string& kind, bool stale, const alert::Freshness& f) {
    const bool was = stale_.count(kind) > 0;
    if (stale == was) return;
    if (stale)
      stale_.insert(kind);
    else
      stale_.erase(kind);
    log_message(stale ? WARNING : LOG, f.reason);
    nlohmann::json facts{{"kind", kind}, {"reason", f.reason}};
    if (stale) {
      facts["age_seconds"] = f.age_seconds;
      facts["limit_seconds"] = f.limit_seconds;
    }
    if (!f.newest_name.empty()) {
      facts["newest_backup"] = f.newest_name;
      facts["newest_completed_at"] = f.newest_completed_at;
    }
    nlohmann::json event = facts;
    event["event"] = stale ? "stale" : "stale_recovered";
    push_notify_event(event);
    nlohmann::json outcome = facts;
    outcome["source"] = "stale";
    outcome["ok"] = !stale;
    observe(outcome);
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
  alert::StaleLimits stale_limits_;
  std::int64_t set_up_unix_ = set_up_time();
  std::vector<BackupMeta> listed_;  // the last listing of this system's complete backups
  std::int64_t listed_at_ms_ = 0;
  bool relist_ = true;
  bool ever_listed_ = false;        // listed_ comes from a listing, not from nothing
  std::string listing_error_;       // "" = the last listing worked
  std::string repository_problem_;  // pgvault.repository's line was rejected: why
  std::set<std::string> stale_;     // kinds stale now
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
  DefineCustomStringVariable(
      "pgvault.stale_after",
      "Alert when no backup has completed (or a WAL file waited to be archived) this long.",
      "A duration (26h, 8d, 1d 12h) for backups of any kind, and/or per kind: physical=26h, "
      "incremental=26h, logical=8d, wal=1h. Empty, 0 or off: none.",
      &guc_stale_after, "", PGC_SIGHUP, 0, check_with<validate_stale_after>, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.alert_on", "Which events alert (a comma-separated list).",
                             "backup_failed, archive_failed, verify_failed, misconfigured, "
                             "stale, anomaly, recovered; all; none.",
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

void send_alert_events() {
  std::vector<std::string> events;
  lock_shared();
  AlertState& a = shared()->alerts;
  const uint64 written = a.events_written;
  for (uint64 i = a.events_sent; i < written; ++i)
    events.emplace_back(a.events[i % kAlertEventQueueLen]);
  unlock_shared();
  if (events.empty()) return;
  in_own_transaction([&] {
    for (const std::string& payload : events)
      spi_query("SELECT pg_catalog.pg_notify('pgvault', $1)", {payload});
  });
  lock_shared();
  if (a.events_sent < written) a.events_sent = written;
  unlock_shared();
}

void check_backup_anomaly(long long backup_id) {
  in_own_transaction([&] {
    // The backup first, then up to 5 earlier completed ones it compares
    // with: same system and kind, and a logical one of the same database
    // and selection (a schema-only dump is not compared with full ones).
    // Expired and deleted rows keep their figures.
    const auto rows = spi_query(
        "WITH cur AS (SELECT * FROM vault.backups WHERE id = $1::pg_catalog.int8) "
        "SELECT 0 AS n, c.id, c.name, c.kind, c.database, "
        "pg_catalog.round(extract(epoch FROM c.completed_at - c.started_at))::pg_catalog.text, "
        "c.source_bytes::pg_catalog.text, c.stored_bytes::pg_catalog.text, c.completed_at "
        "FROM cur c "
        "UNION ALL (SELECT 1, b.id, b.name, b.kind, b.database, "
        "pg_catalog.round(extract(epoch FROM b.completed_at - b.started_at))::pg_catalog.text, "
        "b.source_bytes::pg_catalog.text, b.stored_bytes::pg_catalog.text, b.completed_at "
        "FROM vault.backups b, cur c WHERE b.id <> c.id AND b.kind = c.kind "
        "AND b.status IN ('completed', 'expired', 'deleted') AND b.completed_at IS NOT NULL "
        "AND b.completed_at <= c.completed_at "
        "AND b.system_identifier IS NOT DISTINCT FROM c.system_identifier "
        "AND (c.kind <> 'logical' OR (b.database IS NOT DISTINCT FROM c.database "
        "AND b.options IS NOT DISTINCT FROM c.options)) "
        "ORDER BY b.completed_at DESC, b.id DESC LIMIT 5) "
        "ORDER BY 1, 9 DESC, 2 DESC",
        {std::to_string(backup_id)});
    if (rows.empty() || !rows[0][0] || *rows[0][0] != "0") return;
    auto figures = [](const SqlRow& r) {
      alert::BackupFigures f;
      f.name = r[2].value_or("");
      f.duration_seconds = r[5] ? std::stoll(*r[5]) : 0;
      if (r[6]) f.source_bytes = std::stoull(*r[6]);
      if (r[7]) f.stored_bytes = std::stoull(*r[7]);
      return f;
    };
    const alert::BackupFigures current = figures(rows[0]);
    std::vector<alert::BackupFigures> previous;
    for (std::size_t i = 1; i < rows.size(); ++i) previous.push_back(figures(rows[i]));
    const std::string kind = rows[0][3].value_or("");
    const std::optional<std::string> reason = alert::backup_anomaly(kind, current, previous);
    if (!reason) return;
    log_message(WARNING, *reason);
    nlohmann::json facts{
        {"id", backup_id},
        {"name", current.name},
        {"kind", kind},
        {"reason", *reason},
        {"duration_seconds", current.duration_seconds},
        {"source_bytes",
         current.source_bytes ? nlohmann::json(*current.source_bytes) : nlohmann::json()},
        {"stored_bytes",
         current.stored_bytes ? nlohmann::json(*current.stored_bytes) : nlohmann::json()}};
    if (kind == "logical" && rows[0][4]) facts["database"] = *rows[0][4];
    nlohmann::json event = facts;
    event["event"] = "anomaly";
    spi_query("SELECT pg_catalog.pg_notify('pgvault', $1)", {event.dump()});
    facts["source"] = "anomaly";
    facts["ok"] = false;
    queue_alert_outcome_at_commit(facts.dump());
  });
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

// vault._stale_state() RETURNS text: for vault.status.stale, what the alerts
// worker found stale at its last check (NULL: nothing, or the worker does
// not run).
PGVAULT_FUNCTION(pgvault_stale_state) {
  char stale[kAlertStaleLen];
  lock_shared();
  memcpy(stale, shared()->alerts.stale, kAlertStaleLen);
  const bool running = shared()->alerts.worker_pid != 0;
  unlock_shared();
  if (!running || stale[0] == '\0') PG_RETURN_NULL();
  return pg_guard([&] { return PointerGetDatum(cstring_to_text(stale)); });
}
