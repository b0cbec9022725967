// The "pgvault summarizer" worker: keeps WAL summaries in
// pg_wal/pgvault_summaries for incremental backups (core: wal/wal_summarizer,
// wal/wal_summary_file), and answers an incremental's request to summarize
// up to its start.
//
// A static worker without a database connection. Every second (every 100 ms
// while a backup waits) it reads the WAL files completed since, straight
// from pg_wal, and writes a summary file once a minute (or every 16
// segments, or when a backup asks). A temporary replication slot,
// "pgvault_summarizer", keeps the WAL it has not read or not written out yet: a burst of WAL and a
// checkpoint between two polls would otherwise remove segments before they were summarized. The
// slot moves forward with every segment read, goes with the worker and is
// dropped while summarizing fails (a full disk), so a stopped or failing
// summarizer never keeps WAL on disk; what it misses is a gap the
// next incremental reads every page for (and logs why). Without a slot
// (wal_level minimal, no free slot) it summarizes what it can. Every ten
// minutes it removes summaries older than pgvault.wal_summary_keep_time and
// those a later summary replaced.
#include "pgvault/error.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_summarizer.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "error_boundary.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "wal_summarizer.hpp"

namespace pgvault::pg {

void register_static_worker(const char* function, const char* name, int flags);

namespace {

constexpr auto kWaitForBackup = std::chrono::seconds(30);
constexpr long kPollMs = 1000;
// While WAL flows (the last step read a segment), the summarizer follows it
// closely: an incremental backup then waits only for the segment its
// pg_backup_start closed, not for every segment completed since the last
// poll (12-18 ms of a 0.2 s incremental after a second of pgbench).
constexpr long kPollWhileWalFlowsMs = 200;
constexpr long kPollWhileAskedMs = 100;
constexpr long kRetryAfterErrorMs = 10000;
constexpr auto kHousekeepingEvery = std::chrono::minutes(10);
constexpr auto kWriteEvery = std::chrono::minutes(1);

std::filesystem::path summary_directory() {
  return std::filesystem::path(DataDir) / std::string(kWalSummaryDirectory);
}

// The server's WAL for the core summarizer. Every call is on the worker's
// main thread.
class ServerWal final : public WalSource {
 public:
  TimelineId timeline() override {
    return pg_guard([] { return static_cast<TimelineId>(GetWALInsertionTimeLine()); });
  }
  Lsn flushed() override {
    return Lsn{pg_guard([] { return static_cast<std::uint64_t>(GetFlushRecPtr(nullptr)); })};
  }
  bool read_segment(TimelineId timeline, WalSegmentNo segno, std::vector<std::byte>& out) override {
    const auto size = static_cast<std::uint64_t>(wal_segment_size);
    const std::filesystem::path path = std::filesystem::path(DataDir) / "pg_wal" /
                                       WalFileName::segment(timeline, segno, size).name();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return false;
      throw_os_error("could not open \"" + path.string() + "\"", errno);
    }
    out.resize(size);
    std::size_t got = 0;
    try {
      got = pread_fully(fd, out, 0, [&] { return "\"" + path.string() + "\""; });
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    out.resize(got);
    return true;
  }
  bool removed(WalSegmentNo segno) override {
    return pg_guard([] { return static_cast<std::uint64_t>(XLogGetLastRemovedSegno()); }) >= segno;
  }
};

// The temporary slot that keeps the WAL the summarizer has not read yet.
class SummarizerSlot {
 public:
  static constexpr const char* kName = "pgvault_summarizer";

  ~SummarizerSlot() {
    try {
      release();
    } catch (...) {
      // The process is ending: its temporary slot goes with it anyway.
    }
  }

  // Keeps WAL from lsn on (never moving back); creates the slot first.
  void hold_from(Lsn lsn) {
    if (MyReplicationSlot == nullptr && !create()) return;
    pg_guard([&] {
      bool moved = false;
      SpinLockAcquire(&MyReplicationSlot->mutex);
      if (MyReplicationSlot->data.restart_lsn < lsn.value) {
        MyReplicationSlot->data.restart_lsn = lsn.value;
        moved = true;
      }
      SpinLockRelease(&MyReplicationSlot->mutex);
      if (moved) ReplicationSlotsComputeRequiredLSN();
    });
  }

  void release() {
    if (MyReplicationSlot == nullptr) return;
    pg_guard([] {
      ReplicationSlotRelease();
      ReplicationSlotCleanup();  // drops this process's temporary slots
    });
  }

 private:
  bool create() {
    if (failed_) return false;
    // wal_level minimal takes no backups; a slot would be refused.
    if (wal_level < WAL_LEVEL_REPLICA) return false;
    if (max_replication_slots == 0) {
      failed_ = true;
      log_message(LOG, std::string("max_replication_slots is 0: the summarizer keeps no slot \"") +
                           kName +
                           "\", and WAL removed before it is read leaves a gap in the "
                           "summaries");
      return false;
    }
    try {
      pg_guard([] {
        ReplicationSlotCreate(kName, false, RS_TEMPORARY, false);
        ReplicationSlotReserveWal();
        ReplicationSlotsComputeRequiredLSN();
      });
      return true;
    } catch (const std::exception& e) {
      // ReplicationSlotCreate errors while holding its locks; nothing else
      // of this process holds one here.
      pg_guard([] { LWLockReleaseAll(); });
      release();  // created, but no WAL reserved
      failed_ = true;
      log_message(WARNING, std::string("could not create the temporary replication slot \"") +
                               kName + "\" that keeps WAL until it is summarized: " + e.what() +
                               "; WAL removed before it is read leaves a gap in the summaries");
      return false;
    }
  }

  bool failed_ = false;  // once per process: the reason does not change by itself
};

// Publishes how far the summaries reach; wakes a backup waiting for that.
void publish(std::optional<Lsn> summarized, TimelineId timeline, const std::string* problem) {
  lock_shared();
  SummarizerState& s = shared()->summarizer;
  s.summarized = summarized ? summarized->value : 0;
  s.timeline = timeline;
  if (problem) copy_fixed(s.last_problem, kArchiveErrorLen, problem->c_str());
  Latch* waiting = s.requested != 0 && s.summarized >= s.requested ? s.requester_latch : nullptr;
  unlock_shared();
  if (waiting != nullptr) pg_guard([&] { SetLatch(waiting); });
}

class Summarizer {
 public:
  void run() {
    while (!ShutdownRequestPending) {
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        pg_guard([] { ProcessConfigFile(PGC_SIGHUP); });
      }
      long wait_ms = kPollMs;
      if (!guc_wal_summarize) {
        summarizer_.reset();
        reached_ = Lsn{};
        slot_.release();
        publish(std::nullopt, 0, nullptr);
      } else {
        try {
          if (step()) wait_ms = kPollWhileWalFlowsMs;
          if (asked_and_not_reached()) wait_ms = kPollWhileAskedMs;
        } catch (const std::exception& e) {
          const std::string problem = std::string("could not summarize WAL: ") + e.what();
          log_message(WARNING, problem + " (retrying in 10 s)");
          publish(std::nullopt, 0, &problem);
          summarizer_.reset();  // starts again from the newest summary
          reached_ = Lsn{};     // what it reaches then is published anew
          // A summarizer that keeps failing (a full disk, say) must not
          // keep WAL too: the slot comes back with the next good step.
          slot_.release();
          wait_ms = kRetryAfterErrorMs;
        }
      }
      pg_guard([&] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
      });
    }
    // A clean stop writes what was read: the next start resumes after it.
    if (summarizer_ && guc_wal_summarize) {
      try {
        summarizer_->catch_up(true);
      } catch (const std::exception& e) {
        log_message(LOG,
                    std::string("WAL summarizer: could not write its last summary: ") + e.what());
      }
    }
  }

 private:
  // Whether it read a segment it had not read before.
  bool step() {
    if (!summarizer_)
      summarizer_.emplace(summary_directory(), static_cast<std::uint64_t>(wal_segment_size), wal_,
                          [](std::string_view m) {
                            const std::string problem(m);
                            log_message(LOG, "WAL summarizer: " + problem);
                            lock_shared();
                            copy_fixed(shared()->summarizer.last_problem, kArchiveErrorLen,
                                       problem.c_str());
                            unlock_shared();
                          });
    const WalSegmentNo before = summarizer_->next_segment();
    lock_shared();
    const Lsn requested{shared()->summarizer.requested};
    unlock_shared();
    Lsn end;
    const auto now = std::chrono::steady_clock::now();
    if (requested > reached_) {
      end = summarizer_->summarize_to(requested);
      last_written_ = now;
    } else {
      // Caught up, the summary is written once a minute: a busy server
      // completes segments every second, and a file each time would pile up.
      const bool due = now - last_written_ >= kWriteEvery;
      summarizer_->catch_up(due);
      if (due) last_written_ = now;
      end = summarizer_->summarized();
    }
    if (summarizer_->timeline() != timeline_) reached_ = Lsn{};
    timeline_ = summarizer_->timeline();
    reached_ = std::max({reached_, end, summarizer_->summarized()});
    publish(reached_, timeline_, nullptr);
    slot_.hold_from(summarizer_->needed());
    if (now - last_housekeeping_ >= kHousekeepingEvery) {
      last_housekeeping_ = now;
      remove_old_wal_summaries(summary_directory(),
                               std::chrono::minutes(guc_wal_summary_keep_time_min),
                               std::filesystem::file_time_type::clock::now());
    }
    return summarizer_->next_segment() != before;
  }

  bool asked_and_not_reached() {
    lock_shared();
    const Lsn requested{shared()->summarizer.requested};
    unlock_shared();
    return requested > reached_;
  }

  ServerWal wal_;
  SummarizerSlot slot_;
  std::optional<WalSummarizer> summarizer_;
  TimelineId timeline_ = 0;
  Lsn reached_;  // the end of the WAL summarized on timeline_
  std::chrono::steady_clock::time_point last_housekeeping_{};
  std::chrono::steady_clock::time_point last_written_{};
};

void summarizer_main() {
  pg_guard([] { pgstat_report_appname("pgvault summarizer"); });
  lock_shared();
  shared()->summarizer.pid = MyProcPid;
  shared()->summarizer.latch = MyLatch;
  unlock_shared();
  auto stopped = [] {
    lock_shared();
    shared()->summarizer.pid = 0;
    shared()->summarizer.latch = nullptr;
    shared()->summarizer.summarized = 0;
    unlock_shared();
  };
  try {
    Summarizer().run();
  } catch (...) {
    stopped();
    throw;
  }
  stopped();
}

}  // namespace

void register_wal_summarizer() {
  // No database connection: it reads pg_wal and writes files.
  register_static_worker("pgvault_summarizer_main", "pgvault summarizer", BGWORKER_SHMEM_ACCESS);
}

void wake_wal_summarizer() {
  lock_shared();
  Latch* latch = shared()->summarizer.pid != 0 ? shared()->summarizer.latch : nullptr;
  unlock_shared();
  if (latch) pg_guard([&] { SetLatch(latch); });
}

WalChanges wal_changes_since(TimelineId timeline, Lsn from, Lsn to,
                             const std::function<void()>& check_interrupts) {
  if (!guc_wal_summarize) return {std::nullopt, {}, "pgvault.wal_summarize is off"};
  lock_shared();
  SummarizerState& s = shared()->summarizer;
  const pid_t pid = s.pid;
  Latch* latch = s.latch;
  if (pid != 0) {
    s.requested = std::max<uint64>(s.requested, to.value);
    s.requester_latch = MyLatch;
  }
  unlock_shared();
  if (pid == 0) return {std::nullopt, {}, "the pgvault summarizer worker is not running"};
  // However the wait ends (an interrupt throws), the request goes: the
  // summarizer stops reading the segment being written for us, and never
  // sets the latch of a process that is gone.
  struct Withdraw {
    SummarizerState& s;
    ~Withdraw() {
      lock_shared();
      s.requested = 0;
      s.requester_latch = nullptr;
      unlock_shared();
    }
  } withdraw{s};
  pg_guard([&] { SetLatch(latch); });
  const auto deadline = std::chrono::steady_clock::now() + kWaitForBackup;
  bool reached = false;
  while (std::chrono::steady_clock::now() < deadline) {
    lock_shared();
    reached = s.timeline == timeline && s.summarized >= to.value;
    unlock_shared();
    if (reached) break;
    if (check_interrupts) check_interrupts();
    // The summarizer sets our latch when it gets there.
    pg_guard([] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    });
  }
  WalChanges changes = collect_wal_changes(summary_directory(), timeline, from, to);
  if (!changes.summary && !reached) {
    char problem[kArchiveErrorLen];
    lock_shared();
    memcpy(problem, s.last_problem, kArchiveErrorLen);
    unlock_shared();
    changes.why_not += "; the summarizer did not reach " + format_lsn(to) + " within " +
                       std::to_string(kWaitForBackup.count()) + " s";
    if (problem[0] != '\0') changes.why_not += std::string(" (its last problem: ") + problem + ")";
  }
  return changes;
}

}  // namespace pgvault::pg

PGVAULT_WORKER(pgvault_summarizer_main) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  pgvault::pg::summarizer_main();
}

using namespace pgvault;
using namespace pgvault::pg;

// vault._wal_summarizer_state(): the summarizer's shared state and the
// summaries on disk, for vault.wal_summarizer.
PGVAULT_FUNCTION(pgvault_wal_summarizer_state) {
  lock_shared();
  const SummarizerState s = shared()->summarizer;
  unlock_shared();
  // The newest timeline the summarizer reads, or else the newest of the files.
  const std::vector<WalSummaryRange> ranges = list_wal_summaries(summary_directory());
  TimelineId timeline = s.timeline;
  if (timeline == 0 && !ranges.empty()) timeline = ranges.back().timeline;
  const std::optional<WalSummaryRange> covered =
      timeline == 0 ? std::nullopt : newest_covered_stretch(ranges, timeline);
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "vault._wal_summarizer_state must return a record");
    constexpr int kColumns = 8;
    Datum values[kColumns] = {};
    bool nulls[kColumns] = {s.pid == 0, false,    timeline == 0, s.summarized == 0,
                            !covered,   !covered, false,         s.last_problem[0] == '\0'};
    values[0] = Int32GetDatum(s.pid);
    values[1] = BoolGetDatum(guc_wal_summarize);
    values[2] = Int32GetDatum(static_cast<int32>(timeline));
    values[3] = LSNGetDatum(s.summarized);
    if (covered) {
      values[4] = LSNGetDatum(covered->start.value);
      values[5] = LSNGetDatum(covered->end.value);
    }
    values[6] = Int32GetDatum(static_cast<int32>(ranges.size()));
    values[7] = CStringGetTextDatum(s.last_problem);
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
  });
}
