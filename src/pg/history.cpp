#include "history.hpp"

#include "alerts.hpp"
#include "error_boundary.hpp"
#include "spi.hpp"

namespace pgvault::pg::history {

namespace {

SqlValue null_if_empty(const std::string& s) {
  return s.empty() ? SqlValue() : SqlValue(s);
}

// NOTIFY pgvault, '<json>' — delivered when the transaction commits, so a
// listener never hears of a state the table does not have. A backup that
// completed or failed is also an outcome for the alerts worker, queued at
// the same commit (a cancelled or skipped one alerts nobody).
void notify(long long id, const std::string& event) {
  const auto rows = spi_query(
      "WITH e AS (SELECT pg_catalog.json_build_object("
      "'event', $2, 'id', id, 'name', name, 'kind', kind, 'trigger', trigger, "
      "'status', status, 'started_at', started_at, 'completed_at', completed_at, "
      "'stored_bytes', stored_bytes, 'location', location, "
      "'error', pg_catalog.left(error_message, 2000)) AS payload, status "
      "FROM vault.backups WHERE id = $1::pg_catalog.int8) "
      "SELECT pg_catalog.pg_notify('pgvault', payload::pg_catalog.text), "
      "(payload::pg_catalog.jsonb || pg_catalog.jsonb_build_object('source', 'backup', "
      "'ok', status = 'completed'))::pg_catalog.text "
      "FROM e",
      {std::to_string(id), event});
  if ((event == "completed" || event == "failed") && !rows.empty() && rows[0][1])
    queue_alert_outcome_at_commit(*rows[0][1]);
}

}  // namespace

// database: a logical backup's (the one it dumps); NULL for physical and
// incremental backups, which belong to no database (issue 19).
void insert_running(const NewRow& r) {
  in_own_transaction([&] {
    spi_query(
        "INSERT INTO vault.backups (id, name, kind, trigger, status, label, database, "
        "initiated_by, compression, location, worker_pid, started_at, scheduled_for, attempt, "
        "options, repository, system_identifier) "
        "VALUES ($1::pg_catalog.int8, $2, $3, $4, 'running', $5, "
        "CASE WHEN $3 = 'logical' THEN coalesce($12, pg_catalog.current_database()) END, "
        "$6, $7, $8, $9::pg_catalog.int4, "
        "pg_catalog.now(), $10::pg_catalog.timestamptz, $11::pg_catalog.int4, "
        "$13::pg_catalog.jsonb, $14, $15)",
        {std::to_string(r.id), r.name, r.kind, r.trigger, null_if_empty(r.label), r.initiated_by,
         r.compression, r.location, std::to_string(r.worker_pid), null_if_empty(r.scheduled_for),
         std::to_string(r.attempt), null_if_empty(r.database), null_if_empty(r.options),
         r.repository, r.system_identifier});
    notify(r.id, "started");
  });
}

void record_skipped(long long id, const std::string& name, const std::string& kind,
                    const std::string& trigger, const std::string& scheduled_for,
                    const std::string& reason) {
  spi_query(
      "INSERT INTO vault.backups (id, name, kind, trigger, status, database, initiated_by, "
      "started_at, completed_at, scheduled_for, error_message) "
      "VALUES ($1::pg_catalog.int8, $2, $6, $3, 'skipped', "
      "CASE WHEN $6 = 'logical' THEN pg_catalog.current_database() END, "
      "'scheduler', pg_catalog.now(), pg_catalog.now(), $4::pg_catalog.timestamptz, $5)",
      {std::to_string(id), name, trigger, null_if_empty(scheduled_for), reason, kind});
  notify(id, "skipped");
}

void mark_removed(const std::vector<std::string>& names, const std::string& status) {
  for (const auto& name : names) {
    const auto rows = spi_query(
        "UPDATE vault.backups SET status = $2 WHERE name = $1 AND status = 'completed' "
        "RETURNING id",
        {name, status});
    for (const auto& row : rows) notify(std::stoll(row[0].value_or("0")), status);
  }
}

std::vector<PendingCleanup> pending_cleanups() {
  std::vector<PendingCleanup> pending;
  for (const auto& row : spi_query(
           "SELECT name, repository, system_identifier FROM vault.backups WHERE cleanup_pending "
           "ORDER BY id"))
    pending.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or("")});
  return pending;
}

void clear_cleanup_pending(const std::vector<std::string>& names) {
  for (const auto& name : names)
    spi_query("UPDATE vault.backups SET cleanup_pending = false WHERE name = $1", {name});
}

void set_cleanup_pending(long long id) {
  in_own_transaction([&] { record_cleanup_pending(id); });
}

long long last_scheduled_for(const std::string& kind) {
  const auto rows = spi_query(
      "SELECT coalesce(extract(epoch FROM pg_catalog.max(scheduled_for))::pg_catalog.int8, 0) "
      "FROM vault.backups "
      "WHERE trigger = 'scheduled' AND kind = $1",
      {kind});
  return rows.empty() ? 0 : std::stoll(rows[0][0].value_or("0"));
}

void record_completed(long long id, const BackupMeta& m) {
  spi_query(
      "UPDATE vault.backups SET status = 'completed', completed_at = pg_catalog.now(), "
      "source_bytes = $2::pg_catalog.int8, stored_bytes = $3::pg_catalog.int8, sha256 = $4, "
      "start_lsn = nullif($5, '')::pg_catalog.pg_lsn, "
      "stop_lsn = nullif($6, '')::pg_catalog.pg_lsn, "
      "timeline = nullif($7::pg_catalog.int4, 0), "
      "system_identifier = $8, pg_version = $9::pg_catalog.int4, error_message = NULL, "
      "encrypted = $10 <> 'none', key_fingerprint = nullif($11, ''), parent = nullif($12, ''), "
      "changed_pages = nullif($13, '') "
      "WHERE id = $1::pg_catalog.int8",
      {std::to_string(id), std::to_string(m.source_bytes), std::to_string(m.stored_bytes),
       m.digest(), m.start_lsn, m.stop_lsn, std::to_string(m.timeline), m.system_identifier,
       std::to_string(m.pg_version), m.encryption, m.key_fingerprint, m.parent, m.changed_pages});
  notify(id, "completed");
}

void record_failed(long long id, const std::string& error_message, const std::string& status) {
  spi_query(
      "UPDATE vault.backups SET status = $3, completed_at = pg_catalog.now(), error_message = $2 "
      "WHERE id = $1::pg_catalog.int8 AND status = 'running'",
      {std::to_string(id), error_message, status});
  notify(id, status);
}

void record_cleanup_pending(long long id) {
  spi_query("UPDATE vault.backups SET cleanup_pending = true WHERE id = $1::pg_catalog.int8",
            {std::to_string(id)});
}

// The commit does not wait for its WAL to reach disk. The backup's durable
// record is its backup.json, fsynced in the repository before this; a crash
// that loses this commit leaves the row 'running', and the scheduler, when
// the server starts again, reads backup.json and marks it completed
// (settle_interrupted_backups; TAP 002). Waiting cost a full backup 20-45 ms
// whenever this was the first commit after the backup's WAL switch and
// PostgreSQL had no recycled segment ready: the commit created and fsynced
// the next 16 MB segment, work pg_basebackup leaves to the server's next
// writer (2 of 4 backups of a 1 GB cluster).
void mark_completed(long long id, const BackupMeta& meta) {
  in_own_transaction([&] {
    spi_query("SELECT pg_catalog.set_config('synchronous_commit', 'off', true)");
    record_completed(id, meta);
  });
}

void mark_failed(long long id, const std::string& error_message, const std::string& status) {
  in_own_transaction([&] { record_failed(id, error_message, status); });
}

std::vector<UnfinishedRow> unfinished(long long except_id) {
  std::vector<UnfinishedRow> rows;
  for (const auto& row :
       spi_query("SELECT id, name, repository, system_identifier FROM vault.backups "
                 "WHERE status = 'running' AND id <> $1::pg_catalog.int8 ORDER BY id",
                 {std::to_string(except_id)}))
    rows.push_back({std::stoll(row[0].value_or("0")), row[1].value_or(""), row[2].value_or(""),
                    row[3].value_or("")});
  return rows;
}

}  // namespace pgvault::pg::history
