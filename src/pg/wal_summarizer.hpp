// The "pgvault summarizer" worker (wal_summarizer.cpp) and what incremental
// backups ask of it.
#pragma once
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_summary_file.hpp"

#include <functional>

namespace pgvault::pg {

// Registers the static worker (from _PG_init).
void register_wal_summarizer();

// Wakes the summarizer to read the WAL completed since its last poll now,
// while an incremental backup gets ready (lists the repository, reads its
// parent, runs pg_backup_start): wal_changes_since then waits only for what
// came after. Does nothing when no summarizer runs.
void wake_wal_summarizer();

// For an incremental backup that started at `to` on `timeline`: asks the
// summarizer to summarize up to `to`, waits for it (at most 30 s; it sets
// this process's latch when it gets there; check_interrupts is called while
// waiting and may throw), then collects the summaries of [from, to).
// Without a running summarizer (or with pgvault.wal_summarize off) there is
// none, and why_not says so; a summarizer that did not get there in time
// adds its last problem.
WalChanges wal_changes_since(TimelineId timeline, Lsn from, Lsn to,
                             const std::function<void()>& check_interrupts);

}  // namespace pgvault::pg
