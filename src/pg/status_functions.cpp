// SQL functions that read pgvault's live state: the scheduler, the running
// backup's progress, and the fire times of a schedule.
#include "pgvault/cron/schedule.hpp"
#include "pgvault/error.hpp"

#include <string>
#include <vector>

#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "pg_timezone.hpp"
#include "settings.hpp"
#include "shared_state.hpp"

using namespace pgvault;
using namespace pgvault::pg;

// vault._scheduler_state(OUT pid, OUT state, OUT next_run_at, OUT retry_at)
PGVAULT_FUNCTION(pgvault_scheduler_state) {
  lock_shared();
  const pid_t pid = shared()->scheduler_pid;
  char state[kStateLen];
  copy_fixed(state, kStateLen, shared()->scheduler_state);
  const TimestampTz next_run = shared()->next_run_at;
  const TimestampTz retry_at = shared()->retry_at;
  unlock_shared();
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
      elog(ERROR, "return type must be a row type");
    }
    Datum values[4];
    bool nulls[4] = {pid == 0, pid == 0 || state[0] == '\0', next_run == 0, retry_at == 0};
    values[0] = Int32GetDatum(pid);
    values[1] = CStringGetTextDatum(state[0] ? state : "not running");
    values[2] = TimestampTzGetDatum(next_run);
    values[3] = TimestampTzGetDatum(retry_at);
    if (pid == 0) {
      nulls[1] = false;  // say why there is no pid
    }
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
  });
}

// vault._progress(): one row while a backup runs.
PGVAULT_FUNCTION(pgvault_progress) {
  lock_shared();
  const JobSlot job = shared()->job;
  unlock_shared();
  const bool running = job.state == JobState::running;
  pg_guard([&] {
    InitMaterializedSRF(fcinfo, 0);
    if (!running) return;
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    Datum values[7];
    bool nulls[7] = {false, false, false, false, false, job.bytes_total == 0, false};
    values[0] = Int64GetDatum(job.backup_id);
    values[1] = CStringGetTextDatum(job.name);
    values[2] = CStringGetTextDatum(job.phase[0] ? job.phase : "starting");
    values[3] = TimestampTzGetDatum(job.started_at);
    values[4] = Int64GetDatum(static_cast<int64>(job.bytes_done));
    values[5] = Int64GetDatum(static_cast<int64>(job.bytes_total));
    values[6] = Int64GetDatum(static_cast<int64>(job.bytes_stored));
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  });
  return static_cast<Datum>(0);
}

// vault._next_runs(schedule, count, after, timezone) RETURNS timestamptz[]
PGVAULT_FUNCTION(pgvault_next_runs) {
  const std::string schedule_text = text_arg(fcinfo, 0);
  const int count = PG_GETARG_INT32(1);
  const TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
  const std::string zone = text_arg(fcinfo, 3);
  if (count < 1 || count > 1000) {
    throw Error(ErrorKind::invalid_argument,
                "count must be between 1 and 1000, not " + std::to_string(count));
  }
  const Schedule schedule = Schedule::parse(schedule_text);
  const PgTimeZone tz(zone);
  const std::vector<std::int64_t> times =
      schedule.next_n(static_cast<std::int64_t>(timestamptz_to_time_t(after)), count, tz);
  return pg_guard([&] {
    Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * times.size()));
    for (std::size_t i = 0; i < times.size(); ++i) {
      elems[i] = TimestampTzGetDatum(time_t_to_timestamptz(static_cast<pg_time_t>(times[i])));
    }
    return PointerGetDatum(construct_array(elems, static_cast<int>(times.size()), TIMESTAMPTZOID,
                                           sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
  });
}

// vault._setting_problems(OUT name, OUT location, OUT error): the pgvault.*
// lines of the configuration files PostgreSQL rejected or does not know.
PGVAULT_FUNCTION(pgvault_setting_problems) {
  const std::vector<SettingProblem> problems = setting_problems();
  const bool privileged = pg_guard([] { return superuser(); });
  pg_guard([&] {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (const SettingProblem& p : problems) {
      // A superuser-only setting's message could quote its value.
      const bool hidden =
          !privileged && (GetConfigOptionFlags(p.name.c_str(), true) & GUC_SUPERUSER_ONLY) != 0;
      Datum values[3] = {CStringGetTextDatum(p.name.c_str()), CStringGetTextDatum(p.where.c_str()),
                         CStringGetTextDatum(hidden ? "invalid (superuser-only setting: ask a "
                                                      "superuser to read vault.status)"
                                                    : p.error.c_str())};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  return static_cast<Datum>(0);
}

namespace {

bool wake_scheduler_at_commit = false;

void wake_scheduler(XactEvent event, void*) {
  if (!wake_scheduler_at_commit) return;
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    wake_scheduler_at_commit = false;
  } else if (event == XACT_EVENT_COMMIT) {
    wake_scheduler_at_commit = false;
    lock_shared();
    Latch* latch = shared()->scheduler_latch;
    unlock_shared();
    if (latch) SetLatch(latch);
  }
}

}  // namespace

// vault._installing(), run by CREATE EXTENSION and ALTER EXTENSION UPDATE:
// pgvault keeps one audit trail, in pgvault.database, where its scheduler
// runs; another database is refused. At commit it wakes the scheduler,
// which waits for the extension.
PGVAULT_FUNCTION(pgvault_installing) {
  // Restoring a dump of pgvault.database into another database runs CREATE
  // EXTENSION pgvault there; refusing it would fail the restore
  // (vault.restore_logical stops at the first error). pg_dump's output sets
  // row_security = off first, which a session installing pgvault by hand
  // does not. That copy is inert: every function that writes the audit
  // trail refuses to run outside pgvault.database (require_pgvault_database).
  const bool restoring_dump =
      pg_guard([] { return strcmp(GetConfigOption("row_security", false, false), "off") == 0; });
  const std::string here = pg_guard([] { return std::string(get_database_name(MyDatabaseId)); });
  if (restoring_dump && here != guc_database) {
    pg_guard([&] {
      ereport(WARNING, (errmsg("pgvault: installed in database \"%s\" by a restore; its functions "
                               "run only in \"%s\" (pgvault.database)",
                               here.c_str(), guc_database)));
    });
    PG_RETURN_VOID();
  }
  require_pgvault_database();
  static bool registered = false;
  if (!registered) {
    pg_guard([] { RegisterXactCallback(wake_scheduler, nullptr); });
    registered = true;
  }
  wake_scheduler_at_commit = true;
  PG_RETURN_VOID();
}
