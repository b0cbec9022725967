// pgvault's GUCs (postgresql.conf settings). Defined in settings.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pgvault {
struct BackupCompression;
struct EncryptionSettings;
}  // namespace pgvault

namespace pgvault::pg {

extern char* guc_repository;
extern char* guc_database;
extern char* guc_replication_conninfo;
extern char* guc_encryption_key_file;
extern char* guc_encryption_passphrase;
extern int guc_max_rate_kb;
extern int guc_max_backup_size_mb;  // pgvault.max_backup_size; 0 = no limit
extern int guc_backup_workers;
extern char* guc_schedule;
extern char* guc_logical_schedule;
extern char* guc_incremental_schedule;
extern char* guc_logical_database;
extern char* guc_verify_schedule;
extern bool guc_enabled;
extern char* guc_timezone;
extern int guc_catchup_window_s;
extern int guc_retry_max;
extern int guc_retry_delay_s;
extern int guc_retention_days;
extern int guc_retention_count;
extern int guc_logical_retention_days;   // -1: guc_retention_days
extern int guc_logical_retention_count;  // -1: guc_retention_count
extern int guc_logical_lock_timeout_ms;  // pg_dump --lock-wait-timeout; 0 = none
extern int guc_archive_parallel;         // WAL files pushed at once by the archiver

// pgvault.incremental_fallback: what an incremental backup with no backup to
// be taken against becomes.
enum class IncrementalFallback { full, error };
extern int guc_incremental_fallback;       // an IncrementalFallback
extern int guc_incremental_changes;        // a pgvault::IncrementalChanges
extern bool guc_wal_summarize;             // the summarizer worker keeps WAL summaries
extern int guc_wal_summary_keep_time_min;  // 0: summaries are kept for ever

void define_settings();

// pgvault.compression, _level and _workers: the algorithm becomes the core's
// Compression here, once.
BackupCompression configured_compression();

// A pgvault.* line of postgresql.conf (its includes) or postgresql.auto.conf
// that PostgreSQL rejects (a check hook, a value of the wrong type) or does
// not know (a mistyped name). PostgreSQL only logs a WARNING and runs on the
// default (at start-up) or on the previous value (at reload): pgvault says so.
struct SettingProblem {
  std::string name;
  std::string where;  // "file:line"
  std::string error;
  std::string describe() const;  // "pgvault.x (file:line): error"
};

// Reads the configuration files now, the last line of each name counting
// (as pg_file_settings does), and checks each pgvault.* line.
std::vector<SettingProblem> setting_problems();

// The problem with pgvault.repository, if its line was rejected.
std::optional<SettingProblem> repository_problem(const std::vector<SettingProblem>& problems);

// Throws Error(invalid_argument) naming pgvault.repository and its error when
// its line was rejected: nothing is written to or read from a repository the
// DBA did not choose (reading the default one would say "not found").
void require_chosen_repository();

// Throws (with a hint naming pgvault.database) unless the current database is
// pgvault.database: pgvault's audit trail and scheduler live there only, so
// backups, cleanup and verification refuse to run in a copy of the extension
// elsewhere (one restored from a dump of pgvault.database, say).
void require_pgvault_database();

// pgvault.encryption_key_file and pgvault.encryption_passphrase as set now.
EncryptionSettings configured_encryption();

}  // namespace pgvault::pg
