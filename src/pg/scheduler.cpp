// The static "pgvault scheduler" worker. It starts with the server (and
// again after a crash restart) on a primary only, settles backups left
// 'running' by a crash, then sleeps on its latch until the next cron fire
// time of pgvault.schedule (physical), pgvault.incremental_schedule,
// pgvault.logical_schedule (logical) or pgvault.verify_schedule and starts a
// worker for it. Each kind is a track with its own next run, retry and
// catch-up; the backups share the one job slot. A fire time of the
// incremental schedule that the full schedule fires at too is the full's
// alone ("full on Sunday, incremental every night" is two plain lines). A failed
// scheduled backup is retried with a growing delay; a run due while a
// backup runs is skipped and recorded; a run missed while the server was
// down runs once at start-up if it is recent enough.
#include "pgvault/cron/schedule.hpp"
#include "pgvault/error.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "alerts.hpp"
#include "archive_status.hpp"
#include "error_boundary.hpp"
#include "history.hpp"
#include "interrupted_backups.hpp"
#include "job_control.hpp"
#include "logging.hpp"
#include "pg_timezone.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"
#include "verify_functions.hpp"
#include "worker_connection.hpp"

namespace pgvault::pg {
namespace {

// Sleep at most this long even with nothing due, so that a changed
// system clock is noticed within minutes (the cost is one wake-up).
constexpr long kMaxSleepMs = 5 * 60 * 1000;

struct PendingRetry {
  std::int64_t at = 0;
  int attempt = 0;
  std::int64_t scheduled_for = 0;
};

// One kind of scheduled job and its own timeline.
struct Track {
  const char* kind;     // "physical", "incremental", "logical", "verify"
  const char* setting;  // its schedule's GUC name, for messages
  char** guc;
  std::optional<Schedule> schedule;
  std::int64_t next_run = 0;
  PendingRetry retry;
  std::int64_t last_fired_for = 0;  // the fire time it was last run for
};

struct Config {
  bool enabled = false;
  std::string timezone;
};

struct RunningJob {
  LaunchedJob job;
  std::size_t track = 0;
  std::string trigger;
  int attempt = 1;
  std::int64_t scheduled_for = 0;
};

TimestampTz to_timestamptz(std::int64_t unix_seconds) {
  return unix_seconds == 0 ? 0 : time_t_to_timestamptz(static_cast<pg_time_t>(unix_seconds));
}

std::string timestamp_text(std::int64_t unix_seconds) {
  return pg_guard([&] { return timestamptz_to_str(to_timestamptz(unix_seconds)); });
}

Config load_config() {
  Config c;
  c.enabled = guc_enabled;
  c.timezone = guc_timezone ? guc_timezone : "UTC";
  return c;
}

void load_schedule(Track& t) {
  t.schedule.reset();
  if (*t.guc == nullptr || **t.guc == '\0') return;
  try {
    t.schedule = Schedule::parse(*t.guc);
  } catch (const std::exception& e) {
    // The check hook refused it already; never stop the scheduler for it.
    log_message(WARNING, std::string("ignoring ") + t.setting + ": " + e.what());
  }
}

std::string logical_database() {
  return guc_logical_database && *guc_logical_database ? guc_logical_database : guc_database;
}

void publish(const char* state, std::int64_t next_run, std::int64_t retry_at) {
  lock_shared();
  copy_fixed(shared()->scheduler_state, kStateLen, state);
  shared()->next_run_at = to_timestamptz(next_run);
  shared()->retry_at = to_timestamptz(retry_at);
  unlock_shared();
}

bool extension_installed() {
  bool installed = false;
  in_own_transaction([&] {
    installed =
        !spi_query("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgvault'").empty();
  });
  return installed;
}

// The backup that holds the job slot now (0 if none): never settled.
long long live_job_id() {
  lock_shared();
  const long long id =
      shared()->job.state == JobState::idle ? 0 : static_cast<long long>(shared()->job.backup_id);
  unlock_shared();
  return id;
}

void settle_after_restart() {
  in_own_transaction(
      [&] { settle_interrupted_backups("interrupted by server restart", live_job_id()); });
}

class Scheduler {
 public:
  void run() {
    settle_after_restart();
    load();
    for (std::size_t i = 0; i < tracks_.size(); ++i) catch_up(i);
    plan_all(unix_now());
    while (!ShutdownRequestPending) {
      if (ConfigReloadPending) reload();
      check_finished_job();
      announce_archiving();
      for (std::size_t i = 0; i < tracks_.size(); ++i) {
        Track& t = tracks_[i];
        const std::int64_t now = unix_now();
        if (config_.enabled && t.schedule && t.next_run > 0 && now >= t.next_run) {
          const std::int64_t due = t.next_run;
          if (i == kIncrementalTrack && due == tracks_[kFullTrack].last_fired_for) {
            log_message(LOG, "the scheduled incremental backup of " + timestamp_text(due) +
                                 " is taken as the full backup pgvault.schedule fired at the "
                                 "same time");
          } else {
            t.last_fired_for = due;
            fire(i, "scheduled", 1, due);
          }
          // Planned from when the start is over (it waits for the worker):
          // a fire time that passed meanwhile would fire at once and be
          // recorded skipped because of the backup just started.
          plan_next(t, std::max(unix_now(), due));
        }
        if (config_.enabled && t.retry.at > 0 && now >= t.retry.at) {
          const PendingRetry retry = t.retry;
          t.retry = {};
          fire(i, "retry", retry.attempt, retry.scheduled_for);
        }
      }
      sleep_until_due();
    }
  }

 private:
  // The archiver sets our latch when it fails on a new file or recovers.
  void announce_archiving() {
    try {
      send_archive_events();
      send_alert_events();
    } catch (const std::exception& e) {
      log_message(WARNING, std::string("could not send a NOTIFY pgvault event: ") + e.what());
    }
  }

  void reload() {
    pg_guard([] {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    });
    load();
    plan_all(unix_now());
  }

  void load() {
    config_ = load_config();
    for (Track& t : tracks_) load_schedule(t);
    in_own_transaction([&] { problems_ = setting_problems(); });
    // PostgreSQL's own WARNING scrolls by once at start-up; repeat ours at
    // each start and reload until the line is fixed.
    if (tracks_[kIncrementalTrack].schedule && !tracks_[kFullTrack].schedule) {
      log_message(WARNING,
                  "pgvault.incremental_schedule is set but pgvault.schedule is empty: every "
                  "incremental chains back to one full backup, which retention then cannot "
                  "remove; set pgvault.schedule for the full backups (e.g. weekly)");
    }
    for (const SettingProblem& p : problems_) {
      log_message(
          WARNING,
          "invalid setting " + p.describe() +
              (p.name == "pgvault.repository" ? "; no backup is written until it is fixed" : ""));
    }
  }

  void plan_all(std::int64_t after) {
    for (Track& t : tracks_) plan_next(t, after);
  }

  void plan_next(Track& t, std::int64_t after) {
    t.next_run = 0;
    if (!t.schedule) return;
    const PgTimeZone tz(config_.timezone);
    t.next_run = t.schedule->next_after(after, tz);
  }

  // The soonest of the tracks' next runs, or retries (0 = none).
  std::int64_t soonest(bool retries) const {
    std::int64_t best = 0;
    for (const Track& t : tracks_) {
      const std::int64_t v = retries ? t.retry.at : t.next_run;
      if (v > 0 && (best == 0 || v < best)) best = v;
    }
    return best;
  }

  // A run missed while the server was down: once, now, if recent enough.
  void catch_up(std::size_t index) {
    const Track& track = tracks_[index];
    if (!config_.enabled || !track.schedule) return;
    const auto& schedule = track.schedule;
    long long last = 0;
    in_own_transaction([&] { last = history::last_scheduled_for(track.kind); });
    if (last == 0) return;  // never ran on a schedule: nothing was missed
    const PgTimeZone tz(config_.timezone);
    const std::int64_t now = unix_now();
    if (schedule->next_after(last, tz) >= now) return;
    // The newest missed fire time (one due right now is not missed: the main
    // loop runs it); older ones are past the window anyway.
    const std::int64_t window = guc_catchup_window_s;
    std::int64_t latest = 0;
    for (std::int64_t t =
             schedule->next_after(std::max<std::int64_t>(last, now - window - 2 * 86400), tz);
         t < now; t = schedule->next_after(t, tz)) {
      latest = t;
    }
    if (latest != 0 && latest >= now - window) {
      if (index == kIncrementalTrack && latest == tracks_[kFullTrack].last_fired_for) return;
      log_message(LOG, std::string("running the scheduled ") + track.kind + " backup of " +
                           timestamp_text(latest) + ", missed while the server was down");
      tracks_[index].last_fired_for = latest;
      fire(index, "scheduled", 1, latest);
    } else {
      const std::int64_t missed = latest != 0 ? latest : schedule->next_after(last, tz);
      const std::string reason =
          "missed while the server was down, more than "
          "pgvault.catchup_window ago";
      log_message(LOG,
                  "skipping the scheduled backup of " + timestamp_text(missed) + ": " + reason);
      in_own_transaction([&] {
        history::record_skipped(next_backup_id(), new_backup_name(track.kind), track.kind,
                                "scheduled", timestamp_text(missed), reason);
      });
    }
  }

  void fire(std::size_t index, const char* trigger, int attempt, std::int64_t scheduled_for) {
    const Track& track = tracks_[index];
    if (std::string(track.kind) == "verify") {
      // Read-only and beside any backup: its own worker, no job slot, no row.
      try {
        launch_verify_worker();
        log_message(LOG, "started the scheduled verification of the newest backup");
      } catch (const Error& e) {
        log_message(WARNING,
                    std::string("could not start the scheduled verification: ") + e.what());
      }
      return;
    }
    if (const auto problem = repository_problem(problems_)) {
      const std::string reason =
          "refused: no backup is written while pgvault.repository is "
          "invalid: " +
          problem->describe();
      log_message(WARNING, std::string(trigger) + " " + track.kind + " backup " + reason);
      in_own_transaction([&] {
        history::record_skipped(next_backup_id(), new_backup_name(track.kind), track.kind, trigger,
                                timestamp_text(scheduled_for), reason);
      });
      return;
    }
    JobRequest request;
    request.kind = track.kind;
    request.trigger = trigger;
    request.initiated_by = "scheduler";
    request.scheduled_for = to_timestamptz(scheduled_for);
    request.attempt = attempt;
    const std::string what = std::string(trigger) + " " + track.kind + " backup";
    publish("starting a backup", soonest(false), soonest(true));
    try {
      in_own_transaction([&] {
        if (std::string(track.kind) == "logical") {
          request.database = logical_database();
          request.options = LogicalOptions{}.to_json();
        }
        job_ = RunningJob{start_job(request), index, trigger, attempt, scheduled_for};
      });
      log_message(LOG, "started " + what + " \"" + job_->job.name + "\"");
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) {
        log_message(WARNING, "could not start the " + what + ": " + e.what());
        schedule_retry(index, attempt, scheduled_for);
        return;
      }
      // Not queued: the next fire time comes soon enough, and a queue could grow without bound.
      const std::string reason = std::string("skipped: ") + e.what();
      log_message(LOG, what + " " + reason);
      in_own_transaction([&] {
        history::record_skipped(next_backup_id(), new_backup_name(track.kind), track.kind, trigger,
                                timestamp_text(scheduled_for), reason);
      });
    }
  }

  void schedule_retry(std::size_t index, int attempt, std::int64_t scheduled_for) {
    Track& track = tracks_[index];
    if (attempt > guc_retry_max) {
      if (guc_retry_max > 0) {
        log_message(WARNING, "scheduled backup failed " + std::to_string(attempt) +
                                 " times; no more retries (pgvault.retry_max = " +
                                 std::to_string(guc_retry_max) + ")");
      }
      return;
    }
    const std::int64_t delay = static_cast<std::int64_t>(guc_retry_delay_s)
                               << std::min(attempt - 1, 20);
    track.retry = {unix_now() + delay, attempt + 1, scheduled_for};
    log_message(LOG, std::string("retrying the scheduled ") + track.kind + " backup in " +
                         std::to_string(delay) + " s (attempt " + std::to_string(attempt + 1) +
                         " of " + std::to_string(guc_retry_max + 1) + ")");
  }

  // The job worker notifies us (bgw_notify_pid) when it exits.
  void check_finished_job() {
    if (!job_) return;
    pid_t pid = 0;
    const BgwHandleStatus st =
        pg_guard([&] { return GetBackgroundWorkerPid(job_->job.handle.get(), &pid); });
    if (st != BGWH_STOPPED && st != BGWH_POSTMASTER_DIED) return;
    const RunningJob done = *job_;
    job_.reset();
    std::string status;
    in_own_transaction([&] {
      const auto rows = spi_query("SELECT status FROM vault.backups WHERE id = $1::pg_catalog.int8",
                                  {std::to_string(done.job.id)});
      status = rows.empty() ? "" : rows[0][0].value_or("");
    });
    if (status == "running") {
      // The worker died without recording an outcome: settle the row now
      // rather than at the next restart, and retry like any failure.
      in_own_transaction([&] {
        settle_interrupted_backups(
            "interrupted: its job worker exited without recording an outcome", live_job_id());
      });
      status = "failed";
    }
    if (status == "failed") schedule_retry(done.track, done.attempt, done.scheduled_for);
  }

  void sleep_until_due() {
    const std::int64_t now = unix_now();
    std::int64_t due = 0;
    const char* state = "idle: no schedule";
    const std::int64_t next_run = soonest(false), retry_at = soonest(true);
    if (!config_.enabled) {
      state = "disabled";
    } else {
      if (next_run > 0) {
        due = next_run;
        state = "sleeping";
      }
      if (retry_at > 0) {
        due = due == 0 ? retry_at : std::min(due, retry_at);
        state = "retry pending";
      }
    }
    if (!problems_.empty()) state = "misconfigured: see vault.status.setting_problems";
    if (job_) state = "backup running";
    publish(state, config_.enabled ? next_run : 0, config_.enabled ? retry_at : 0);
    long timeout_ms = kMaxSleepMs;
    if (due > 0)
      timeout_ms = std::clamp<long>(static_cast<long>((due - now) * 1000), 0, kMaxSleepMs);
    pg_guard([&] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      // Absorbs ProcSignalBarriers: DROP DATABASE waits for every process
      // to, and an idle scheduler would otherwise make it wait forever.
      CHECK_FOR_INTERRUPTS();
    });
  }

  static constexpr std::size_t kFullTrack = 0;
  static constexpr std::size_t kIncrementalTrack = 1;  // after the full: it yields to it
  Config config_;
  std::array<Track, 4> tracks_ = {
      Track{"physical", "pgvault.schedule", &guc_schedule, {}, 0, {}, 0},
      Track{"incremental", "pgvault.incremental_schedule", &guc_incremental_schedule, {}, 0, {}, 0},
      Track{"logical", "pgvault.logical_schedule", &guc_logical_schedule, {}, 0, {}, 0},
      Track{"verify", "pgvault.verify_schedule", &guc_verify_schedule, {}, 0, {}, 0},
  };
  std::optional<RunningJob> job_;
  std::vector<SettingProblem> problems_;
};

// Until CREATE EXTENSION pgvault runs in pgvault.database there is nothing
// to schedule. Its install script sets our latch when it commits
// (vault._installing()); ten seconds is only the fallback.
bool wait_for_extension() {
  bool logged = false;
  while (!ShutdownRequestPending) {
    if (extension_installed()) return true;
    if (!logged) {
      log_message(LOG,
                  std::string("scheduler waiting for CREATE EXTENSION pgvault in database \"") +
                      guc_database + "\"");
      logged = true;
    }
    publish("waiting for CREATE EXTENSION pgvault", 0, 0);
    pg_guard([] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10000,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();  // ProcSignalBarriers, as in sleep_until_due()
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
      }
    });
  }
  return false;
}

// An error while connecting to pgvault.database (FATAL: database "nodb" does
// not exist) ends this process, and the postmaster starts it again every
// 10 s; vault.status would only say "not running". Its message is kept in
// the shared state, which vault.status shows while no scheduler runs.
emit_log_hook_type hook_before_connect = nullptr;

void remember_connect_error(ErrorData* edata) {
  if (edata->elevel >= ERROR && edata->message != nullptr) {
    char state[kStateLen];
    snprintf(state, sizeof state, "not running: cannot connect to pgvault.database \"%s\": %s",
             guc_database, edata->message);
    lock_shared();
    copy_fixed(shared()->scheduler_state, kStateLen, state);
    unlock_shared();
  }
  if (hook_before_connect) hook_before_connect(edata);
}

void scheduler_main() {
  hook_before_connect = emit_log_hook;
  emit_log_hook = remember_connect_error;
  connect_worker(guc_database);
  emit_log_hook = hook_before_connect;
  pg_guard([] { pgstat_report_appname("pgvault scheduler"); });
  lock_shared();
  shared()->scheduler_pid = MyProcPid;
  shared()->scheduler_latch = MyLatch;
  unlock_shared();
  if (wait_for_extension()) Scheduler().run();
  lock_shared();
  shared()->scheduler_pid = 0;
  shared()->scheduler_latch = nullptr;
  copy_fixed(shared()->scheduler_state, kStateLen, "stopped");
  unlock_shared();
}

}  // namespace

void register_scheduler() {
  // Primary only: a standby starts it when promoted.
  register_static_worker("pgvault_scheduler_main", "pgvault scheduler",
                         BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION);
}

}  // namespace pgvault::pg

PGVAULT_WORKER(pgvault_scheduler_main) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  pgvault::pg::scheduler_main();
}
