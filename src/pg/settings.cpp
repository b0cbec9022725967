#include "pgvault/backup/backup_request.hpp"
#include "pgvault/cron/schedule.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include "storage_settings.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "error_boundary.hpp"
#include "settings.hpp"
#include "alerts.hpp"

namespace pgvault::pg {

char* guc_repository = nullptr;
char* guc_database = nullptr;
char* guc_replication_conninfo = nullptr;
char* guc_encryption_key_file = nullptr;
char* guc_encryption_passphrase = nullptr;
int guc_max_rate_kb = 0;
int guc_max_backup_size_mb = 0;
char* guc_schedule = nullptr;
char* guc_logical_schedule = nullptr;
char* guc_incremental_schedule = nullptr;
char* guc_logical_database = nullptr;
char* guc_verify_schedule = nullptr;
bool guc_enabled = true;
char* guc_timezone = nullptr;
int guc_catchup_window_s = 3600;
int guc_retry_max = 3;
int guc_retry_delay_s = 60;
int guc_retention_days = 0;
int guc_retention_count = 0;
int guc_logical_retention_days = -1;
int guc_logical_retention_count = -1;
int guc_logical_lock_timeout_ms = 60000;
int guc_archive_parallel = 4;
int guc_backup_workers = 2;
int guc_incremental_fallback = static_cast<int>(IncrementalFallback::full);
int guc_incremental_changes = static_cast<int>(IncrementalChanges::wal_summary);
bool guc_wal_summarize = true;
int guc_wal_summary_keep_time_min = 10 * 24 * 60;

namespace {

// pgvault.compression holds a Compression value; configured_compression()
// is the only reader.
int guc_compression = static_cast<int>(Compression::zstd);
int guc_compression_level = 0;
int guc_compression_workers = 0;

const config_enum_entry compression_options[] = {
    {"none", static_cast<int>(Compression::none), false},
    {"gzip", static_cast<int>(Compression::gzip), false},
    {"lz4", static_cast<int>(Compression::lz4), false},
    {"zstd", static_cast<int>(Compression::zstd), false},
    {nullptr, 0, false},
};

const config_enum_entry incremental_changes_options[] = {
    {"wal_summary", static_cast<int>(IncrementalChanges::wal_summary), false},
    {"page_scan", static_cast<int>(IncrementalChanges::page_scan), false},
    {"check", static_cast<int>(IncrementalChanges::check), false},
    {nullptr, 0, false},
};

const config_enum_entry incremental_fallback_options[] = {
    {"full", static_cast<int>(IncrementalFallback::full), false},
    {"error", static_cast<int>(IncrementalFallback::error), false},
    {nullptr, 0, false},
};

// A check hook must not throw or ereport: it reports through GUC_check_errmsg.
bool check_repository(char** newval, void**, GucSource) {
  try {
    validate_repository_url(*newval ? *newval : "");
    return true;
  } catch (const std::exception& e) {
    // Our message replaces PostgreSQL's, which names the setting: so do we.
    GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
    GUC_check_errmsg("pgvault.repository: %s", e.what());
    return false;
  }
}

bool check_replication_conninfo(char** newval, void**, GucSource) {
  if (*newval == nullptr || **newval == '\0') return true;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(*newval, &err);
  if (opts == nullptr) {
    std::string reason = err ? err : "out of memory";
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    GUC_check_errmsg("invalid connection string in pgvault.replication_conninfo: %s",
                     reason.c_str());
    GUC_check_errhint(
        "Use libpq keyword=value pairs, e.g. 'host=/var/run/postgresql port=5432 user=postgres'.");
    if (err) PQfreemem(err);
    return false;
  }
  bool has_password = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (strcmp(o->keyword, "password") == 0 && o->val != nullptr && o->val[0] != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(opts);
  if (has_password) {
    // PostgreSQL writes the new value of a changed setting to the server log
    // on reload, superuser-only or not: a password here would end up there.
    GUC_check_errmsg("pgvault.replication_conninfo must not contain a password");
    GUC_check_errdetail("The server writes changed settings to its log.");
    GUC_check_errhint(
        "Use a password file (passfile=/path, or ~/.pgpass of the server's OS user), or allow "
        "the local replication connection in pg_hba.conf (peer or trust).");
    return false;
  }
  return true;
}

bool check_max_rate(int* newval, void**, GucSource) {
  // BASE_BACKUP accepts MAX_RATE between 32 kB/s and 1 GB/s.
  if (*newval == 0 || (*newval >= 32 && *newval <= 1048576)) return true;
  GUC_check_errmsg("pgvault.max_rate must be 0 (unlimited) or between 32kB and 1GB per second");
  return false;
}

bool check_schedule_named(char** newval, const char* setting) {
  if (*newval == nullptr || **newval == '\0') return true;  // empty: no scheduled backups
  try {
    (void)Schedule::parse(*newval);
    return true;
  } catch (const std::exception& e) {
    GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
    GUC_check_errmsg("%s: %s", setting, e.what());
    GUC_check_errhint(
        "Use five cron fields (minute hour day-of-month month day-of-week), a macro such as "
        "@daily, 'N seconds' (1-59), or '' to turn scheduling off.");
    return false;
  }
}

bool check_schedule(char** newval, void**, GucSource) {
  return check_schedule_named(newval, "pgvault.schedule");
}
bool check_logical_schedule(char** newval, void**, GucSource) {
  return check_schedule_named(newval, "pgvault.logical_schedule");
}
bool check_incremental_schedule(char** newval, void**, GucSource) {
  return check_schedule_named(newval, "pgvault.incremental_schedule");
}
bool check_verify_schedule(char** newval, void**, GucSource) {
  return check_schedule_named(newval, "pgvault.verify_schedule");
}

bool check_timezone(char** newval, void**, GucSource) {
  if (*newval != nullptr && **newval != '\0' && pg_tzset(*newval) != nullptr) return true;
  GUC_check_errmsg("pgvault.timezone: unknown time zone \"%s\"", *newval ? *newval : "");
  GUC_check_errhint(
      "Use a time zone name such as 'UTC', 'Europe/Berlin' or 'America/New_York' "
      "(see pg_timezone_names).");
  return false;
}

const char* show_passphrase() {
  return guc_encryption_passphrase && *guc_encryption_passphrase ? "********" : "";
}

// The default repository is a directory beside the data directory: outside
// it (a backup must not live inside what it backs up) and writable by the
// server's OS user in every standard layout, so it works with no settings.
// The CLI's --config computes the same (default_repository_url).
const char* default_repository() {
  const std::string url = default_repository_url(DataDir ? DataDir : ".");
  return MemoryContextStrdup(TopMemoryContext, url.c_str());
}

}  // namespace

BackupCompression configured_compression() {
  return {static_cast<Compression>(guc_compression), guc_compression_level,
          guc_compression_workers};
}

void define_settings() {
  DefineCustomStringVariable(
      "pgvault.repository", "Where backups are stored.",
      "file:///absolute/path, s3://bucket[/prefix], azure://container[/prefix] or "
      "gs://bucket[/prefix]. Default: the directory 'pgvault' beside the data directory.",
      &guc_repository, default_repository(), PGC_SIGHUP, 0, check_repository, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.database",
                             "Database in which the pgvault extension is installed; pgvault's "
                             "background processes connect to it.",
                             nullptr, &guc_database, "postgres", PGC_POSTMASTER, 0, nullptr,
                             nullptr, nullptr);
  DefineCustomEnumVariable("pgvault.compression", "Compression of backups.",
                           "Physical backups are compressed by the server while it sends them.",
                           &guc_compression, static_cast<int>(Compression::zstd),
                           compression_options, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.compression_level",
                          "Compression level; 0 means the algorithm's default.",
                          "zstd: 1..22, lz4: 1..12, gzip: 1..9.", &guc_compression_level, 0, 0, 22,
                          PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "pgvault.compression_workers",
      "Extra threads zstd compresses a physical or incremental backup with; 0: one thread.",
      "zstd only; threads of the server process that sends a full backup, or of the job worker "
      "for an incremental, each using a core while a backup runs. Logical backups are "
      "compressed on one thread.",
      &guc_compression_workers, 0, 0, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "pgvault.backup_workers", "Threads that read the data directory for an incremental backup.",
      "They read and select the changed pages of the next files while the job worker writes "
      "the backup; 1..32.",
      &guc_backup_workers, 2, 1, 32, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgvault.replication_conninfo",
      "libpq connection string pgvault uses to stream physical backups from this server.",
      "Empty: the server's own Unix socket and port, as the bootstrap superuser.",
      &guc_replication_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_replication_conninfo,
      nullptr, nullptr);
  DefineCustomStringVariable(
      "pgvault.encryption_key_file",
      "File holding the raw 32-byte key backups are encrypted with (AES-256-GCM).",
      "Empty: no encryption (unless pgvault.encryption_passphrase is set). The file must not be "
      "accessible to other users (chmod 600).",
      &guc_encryption_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
  // Hidden like the storage secrets; its reload message is rewritten by the
  // log filter in storage_settings.cpp.
  DefineCustomStringVariable(
      "pgvault.encryption_passphrase",
      "Passphrase backups are encrypted with, stretched with scrypt and a per-backup salt.",
      "Empty: no encryption (unless pgvault.encryption_key_file is set).",
      &guc_encryption_passphrase, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, nullptr,
      nullptr, show_passphrase);
  DefineCustomIntVariable(
      "pgvault.max_rate",
      "Maximum rate at which a physical backup reads the data directory; 0 = unlimited.",
      "Counted before compression. Logical backups are not throttled.", &guc_max_rate_kb, 0, 0,
      1048576, PGC_SIGHUP, GUC_UNIT_KB, check_max_rate, nullptr, nullptr);
  DefineCustomIntVariable(
      "pgvault.max_backup_size", "Most bytes one backup may store in the repository; 0 = no limit.",
      "A backup that passes it is stopped and fails (nothing of it kept, no earlier backup "
      "removed), with a backup_failed alert.",
      &guc_max_backup_size_mb, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MB, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.schedule",
                             "When physical backups run: a cron line, a macro, or 'N seconds'.",
                             "Empty: no scheduled backups.", &guc_schedule, "", PGC_SIGHUP, 0,
                             check_schedule, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.logical_schedule",
                             "When logical backups (pg_dump) run: a cron line, a macro, or "
                             "'N seconds'.",
                             "Empty: no scheduled logical backups.", &guc_logical_schedule, "",
                             PGC_SIGHUP, 0, check_logical_schedule, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.incremental_schedule",
                             "When incremental physical backups run: a cron line, a macro, or "
                             "'N seconds'.",
                             "Empty: no scheduled incremental backups. A time pgvault.schedule "
                             "also fires at takes the full backup only.",
                             &guc_incremental_schedule, "", PGC_SIGHUP, 0,
                             check_incremental_schedule, nullptr, nullptr);
  DefineCustomEnumVariable(
      "pgvault.incremental_fallback",
      "What an incremental backup becomes when no backup can be its parent.",
      "full: a full physical backup is taken instead (and said so); error: the incremental "
      "fails and says why.",
      &guc_incremental_fallback, static_cast<int>(IncrementalFallback::full),
      incremental_fallback_options, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomEnumVariable(
      "pgvault.incremental_changes",
      "How an incremental backup finds the pages changed since its parent.",
      "wal_summary: reads the blocks the WAL summaries name, or every page when they do not "
      "cover the WAL since the parent (the backup's log says why); page_scan: reads every "
      "page; check: reads every page and fails the backup when a changed page is missing from "
      "the summaries.",
      &guc_incremental_changes, static_cast<int>(IncrementalChanges::wal_summary),
      incremental_changes_options, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable(
      "pgvault.wal_summarize",
      "Whether the pgvault summarizer worker summarizes the WAL for incremental backups.",
      "It reads each WAL file once soon after it is written and keeps the blocks it changed in "
      "pg_wal/pgvault_summaries. Off: incremental backups read every page.",
      &guc_wal_summarize, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.wal_summary_keep_time",
                          "How long WAL summaries are kept; 0 = for ever.",
                          "An incremental backup needs the summaries since its parent's start.",
                          &guc_wal_summary_keep_time_min, 10 * 24 * 60, 0, INT_MAX / 60, PGC_SIGHUP,
                          GUC_UNIT_MIN, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.verify_schedule",
                             "When the newest backup is read back and verified: a cron line, a "
                             "macro, or 'N seconds'.",
                             "Empty: no scheduled verification.", &guc_verify_schedule, "",
                             PGC_SIGHUP, 0, check_verify_schedule, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.logical_database",
                             "The database scheduled logical backups dump.",
                             "Empty: pgvault.database.", &guc_logical_database, "", PGC_SIGHUP, 0,
                             nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("pgvault.enabled", "Whether the scheduler starts scheduled backups.",
                           nullptr, &guc_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pgvault.timezone", "Time zone in which schedules are read.", nullptr,
                             &guc_timezone, "UTC", PGC_SIGHUP, 0, check_timezone, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.catchup_window",
                          "A scheduled run missed by less than this while the server was down "
                          "runs once at start-up; an older one is skipped.",
                          nullptr, &guc_catchup_window_s, 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.retry_max",
                          "How many times a failed scheduled backup is retried.", nullptr,
                          &guc_retry_max, 3, 0, 100, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.retry_delay",
                          "Delay before the first retry of a failed scheduled backup; it doubles "
                          "with each further attempt.",
                          nullptr, &guc_retry_delay_s, 60, 1, 86400, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.retention_count",
                          "Keep at least this many newest complete physical backups; 0 = no "
                          "count rule.",
                          nullptr, &guc_retention_count, 0, 0, 100000, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("pgvault.retention_days",
                          "Expire complete physical backups older than this many days (beyond "
                          "retention_count); 0 = no age rule.",
                          nullptr, &guc_retention_days, 0, 0, 36500, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("pgvault.logical_retention_count",
                          "Keep at least this many newest complete logical backups of each "
                          "database; 0 = no count rule, -1 = pgvault.retention_count.",
                          nullptr, &guc_logical_retention_count, -1, -1, 100000, PGC_SIGHUP, 0,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.logical_retention_days",
                          "Expire complete logical backups older than this many days (beyond "
                          "logical_retention_count); 0 = no age rule, -1 = "
                          "pgvault.retention_days.",
                          nullptr, &guc_logical_retention_days, -1, -1, 36500, PGC_SIGHUP, 0,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.logical_lock_timeout",
                          "How long a logical backup's pg_dump waits for a lock on a table "
                          "before it fails naming the session that holds it; 0 = no limit.",
                          "pg_dump --lock-wait-timeout.", &guc_logical_lock_timeout_ms, 60000, 0,
                          INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgvault.archive_parallel",
                          "How many WAL files the archiver pushes into the repository at once.",
                          "With archive_library = 'pgvault': the file PostgreSQL asks for plus "
                          "the next .ready files, pushed ahead on archive_parallel - 1 threads; "
                          "1 = one file at a time.",
                          &guc_archive_parallel, 4, 1, 32, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  define_storage_settings();
  define_alert_settings();
  MarkGUCPrefixReserved("pgvault");
}

std::string SettingProblem::describe() const {
  return name + " (" + where + "): " + error;
}

namespace {

struct FileSetting {
  std::string name;  // lower case
  std::string value;
  std::string where;
};

// The pgvault.* lines of the configuration files, the last of each name.
std::vector<FileSetting> pgvault_file_settings() {
  const std::string auto_conf = std::string(DataDir) + "/" + PG_AUTOCONF_FILENAME;
  ConfigVariable* head = nullptr;
  ConfigVariable* tail = nullptr;
  pg_guard([&] {
    // A syntax error stops the server from starting and a reload from
    // applying the file: PostgreSQL reports it itself; take what parsed.
    (void)ParseConfigFile(ConfigFileName, true, nullptr, 0, 0, DEBUG1, &head, &tail);
    (void)ParseConfigFile(auto_conf.c_str(), false, nullptr, 0, 0, DEBUG1, &head, &tail);
  });
  std::vector<FileSetting> out;
  for (ConfigVariable* item = head; item != nullptr; item = item->next) {
    if (item->name == nullptr || item->value == nullptr || item->errmsg != nullptr) continue;
    std::string name = ascii_lower(item->name);
    if (name.rfind("pgvault.", 0) != 0) continue;
    std::string where =
        std::string(item->filename ? item->filename : "?") + ":" + std::to_string(item->sourceline);
    auto same =
        std::find_if(out.begin(), out.end(), [&](const FileSetting& f) { return f.name == name; });
    if (same != out.end()) out.erase(same);
    out.push_back({std::move(name), item->value, std::move(where)});
  }
  pg_guard([&] { FreeConfigVariables(head); });
  return out;
}

}  // namespace

std::vector<SettingProblem> setting_problems() {
  std::vector<SettingProblem> problems;
  for (const FileSetting& f : pgvault_file_settings()) {
    const bool known =
        pg_guard([&] { return GetConfigOption(f.name.c_str(), true, false) != nullptr; });
    if (!known) {
      problems.push_back({f.name, f.where, "unknown setting, ignored by PostgreSQL (mistyped?)"});
      continue;
    }
    try {
      // Validates without applying (changeVal false): check hooks and type
      // parsing run as they did when the file was loaded.
      pg_guard([&] {
        (void)set_config_option(f.name.c_str(), f.value.c_str(), PGC_POSTMASTER, PGC_S_FILE,
                                GUC_ACTION_SET, false, ERROR, false);
      });
    } catch (const PgError& e) {
      problems.push_back({f.name, f.where,
                          std::string(e.what()) + "; PostgreSQL ignored this line and uses " +
                              (guc_repository && f.name == "pgvault.repository"
                                   ? std::string("\"") + guc_repository + "\""
                                   : std::string("the default or previous value"))});
    }
  }
  return problems;
}

std::optional<SettingProblem> repository_problem(const std::vector<SettingProblem>& problems) {
  for (const SettingProblem& p : problems)
    if (p.name == "pgvault.repository") return p;
  return std::nullopt;
}

void require_chosen_repository() {
  if (const auto p = repository_problem(setting_problems())) {
    throw Error(ErrorKind::invalid_argument,
                "pgvault.repository is invalid, so pgvault uses no repository (not one the DBA "
                "did not choose): " +
                    p->describe() + "; fix the line and reload (SELECT pg_reload_conf())");
  }
}

void require_pgvault_database() {
  const std::string here = pg_guard([] { return std::string(get_database_name(MyDatabaseId)); });
  if (here == guc_database) return;
  throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "pgvault runs in database \"" + std::string(guc_database) +
                    "\" (pgvault.database), not in \"" + here + "\"",
                "Its scheduler and its backup history (vault.backups) live in one database, so "
                "that the audit trail is not split.",
                "Connect to database \"" + std::string(guc_database) +
                    "\", or set pgvault.database = '" + here +
                    "' in postgresql.conf and restart the server.");
}

EncryptionSettings configured_encryption() {
  return {guc_encryption_key_file ? guc_encryption_key_file : "",
          guc_encryption_passphrase ? guc_encryption_passphrase : ""};
}

}  // namespace pgvault::pg
