// Staleness, the alarm for the backup that silently stopped: how long ago
// the newest complete backup (of a kind) in the repository completed, or how
// long a finished WAL file has waited to be archived, against
// pgvault.stale_after. Pure decisions; the alerts worker (src/pg/alerts.cpp)
// lists the repository, looks at pg_wal/archive_status and feeds them in.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault::alert {

// pgvault.stale_after: "" / "0" / "off" (none), one duration for backups of
// any kind ("26h"), and/or per kind ("physical=26h, logical=8d, wal=1h").
// Kinds are vault.history's ("physical" = full physical only, "incremental",
// "logical") and "wal" (a finished WAL file waiting to be archived); the bare
// duration ("backup") never applies to WAL. Durations: one or more
// <number><unit> with unit s, min, h or d ("1d 12h"); 0 turns one entry off.
struct StaleLimits {
  std::map<std::string, std::int64_t> seconds;  // "backup" (any kind), a kind, "wal"
  bool empty() const { return seconds.empty(); }
  // "physical=26h" as the setting said it (for messages).
  std::string describe(const std::string& kind) const;
};

// Throws Error(invalid_argument) saying what is wrong and what is allowed.
StaleLimits parse_stale_after(std::string_view text);
// "26h", "1d 12h", "90s" -> seconds; throws Error(invalid_argument).
std::int64_t parse_duration_seconds(std::string_view text);
// 97200 -> "1d 3h"; 300 -> "5min"; 42 -> "42s" (two largest units at most).
std::string human_duration(std::int64_t seconds);

// One kind's state: stale or fresh, with the sentence an alert carries.
struct Freshness {
  std::string kind;  // "backup", "physical", "incremental", "logical", "wal"
  bool stale = false;
  std::int64_t age_seconds =
      0;  // since the newest completion (or set-up, or the oldest waiting WAL)
  std::int64_t limit_seconds = 0;
  std::string newest_name;          // the newest complete backup ("" = none)
  std::string newest_completed_at;  // its completed_at (ISO 8601 UTC)
  // "no physical backup has completed for 1d 3h (the newest, \"x\", completed
  // at ...; pgvault.stale_after physical=26h)" / "physical backups are current
  // again: \"y\" completed at ..."
  std::string reason;
};

// Every backup entry of limits against complete (one system's complete
// backups, any order), at now_unix; "never backed up" counts from
// set_up_unix. A kind with no backup yet and set-up less than the limit ago is fresh.
std::vector<Freshness> backup_freshness(const StaleLimits& limits,
                                        const std::vector<BackupMeta>& complete,
                                        std::int64_t set_up_unix, std::int64_t now_unix);

// The "wal" entry of limits: stale when the oldest finished WAL file still
// waiting to be archived (its .ready file's time) waited longer than the
// limit; an idle server (nothing waiting) is never stale. nullopt when limits
// has no "wal" entry.
std::optional<Freshness> wal_freshness(const StaleLimits& limits,
                                       std::optional<std::int64_t> oldest_waiting_unix,
                                       std::size_t waiting_files, std::int64_t now_unix);

}  // namespace pgvault::alert
