-- pgvault 0.7 -> 0.8. Every change here is also in pgvault--0.8.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.8'" to load this file. \quit

-- issue 16: how each incremental found its changed pages. The column is
-- added at the end of vault.backups and of vault.history, so the view is
-- replaced in place and keeps its grants and comment (and vault.delete_backup,
-- which returns its row type, follows).
ALTER TABLE vault.backups ADD COLUMN changed_pages text;
COMMENT ON COLUMN vault.backups.changed_pages IS
  'incremental: how it found the pages changed since its parent (the blocks the WAL summaries '
  'name, or every page by its LSN and why)';

CREATE OR REPLACE VIEW vault.history AS
SELECT id, name, kind, trigger, status, started_at, completed_at,
       completed_at - started_at AS duration,
       source_bytes, stored_bytes, compression, encrypted, sha256, location,
       initiated_by, error_message, start_lsn, stop_lsn, timeline, verified_at,
       label, database, scheduled_for, attempt, options, key_fingerprint,
       verify_status, verify_error, parent, changed_pages
  FROM vault.backups;

-- vault.status ("SELECT *") and vault.metrics ("b.*") read every column of
-- vault.backups, which a view expands when it is created: created again with
-- the same text, they read the new column too (their own columns are
-- unchanged, so they keep their grants and comments).
CREATE OR REPLACE VIEW vault.status AS
WITH s AS (SELECT * FROM vault._scheduler_state()),
     tz AS (SELECT current_setting('pgvault.timezone') AS name),
     last_run AS (SELECT * FROM vault.backups WHERE status <> 'skipped'
                  ORDER BY started_at DESC, id DESC LIMIT 1),
     last_ok AS (SELECT * FROM vault.backups WHERE status IN ('completed', 'expired', 'deleted')
                  AND completed_at IS NOT NULL ORDER BY completed_at DESC, id DESC LIMIT 1),
     running AS (SELECT * FROM vault.backups WHERE status = 'running' ORDER BY id DESC LIMIT 1)
SELECT s.pid AS scheduler_pid,
       s.state AS scheduler_state,
       current_setting('pgvault.enabled')::boolean AS enabled,
       nullif(current_setting('pgvault.schedule'), '') AS schedule,
       nullif(current_setting('pgvault.incremental_schedule'), '') AS incremental_schedule,
       nullif(current_setting('pgvault.logical_schedule'), '') AS logical_schedule,
       nullif(current_setting('pgvault.verify_schedule'), '') AS verify_schedule,
       tz.name AS timezone,
       s.next_run_at,
       s.retry_at,
       (SELECT started_at FROM last_run) AS last_run_at,
       (SELECT status FROM last_run) AS last_status,
       (SELECT error_message FROM last_run) AS last_error,
       (SELECT completed_at FROM last_ok) AS last_success_at,
       (SELECT name FROM last_ok) AS last_success_name,
       coalesce((SELECT completed_at >= (date_trunc('day', now() AT TIME ZONE tz.name) AT TIME ZONE tz.name)
                   FROM last_ok), false) AS backup_today,
       (SELECT name FROM running) AS running_backup,
       (SELECT started_at FROM running) AS running_since,
       current_setting('pgvault.repository') AS repository,
       current_setting('pgvault.retention_count')::integer AS retention_count,
       current_setting('pgvault.retention_days')::integer AS retention_days,
       current_setting('pgvault.logical_retention_count')::integer AS logical_retention_count,
       current_setting('pgvault.logical_retention_days')::integer AS logical_retention_days,
       (SELECT string_agg(p.name || ' (' || p.location || '): ' || p.error, '; ' ORDER BY p.name)
          FROM vault._setting_problems() p) AS setting_problems,
       a.channels AS alert_channels,
       a.failing AS alert_failing,
       a.last_error AS alert_last_error,
       a.last_delivered_at AS alert_last_delivered_at,
       vault._stale_state() AS stale
  FROM s, tz, vault._alert_state() a;

CREATE OR REPLACE VIEW vault.metrics AS
WITH this_system AS (
       SELECT s.system_identifier::pg_catalog.text AS id FROM pg_catalog.pg_control_system() s),
     kinds(kind) AS (VALUES ('incremental'), ('logical'), ('physical')),
     backup_rows AS (
       SELECT b.*, coalesce(b.system_identifier, (SELECT id FROM this_system)) AS sysid
         FROM vault.backups b),
     systems AS (SELECT DISTINCT sysid FROM backup_rows UNION SELECT id FROM this_system),
     newest AS (
       SELECT DISTINCT ON (sysid, kind) sysid, kind, started_at, completed_at, source_bytes, stored_bytes
         FROM backup_rows WHERE status = 'completed' AND completed_at IS NOT NULL
        ORDER BY sysid, kind, completed_at DESC, id DESC),
     verified AS (
       SELECT DISTINCT ON (sysid, kind) sysid, kind, verified_at, verify_status
         FROM backup_rows WHERE status = 'completed' AND verified_at IS NOT NULL
        ORDER BY sysid, kind, verified_at DESC, id DESC),
     attempted AS (
       SELECT DISTINCT ON (sysid, kind) sysid, kind, status
         FROM backup_rows WHERE status IN ('completed', 'failed', 'cancelled', 'expired', 'deleted')
        ORDER BY sysid, kind, started_at DESC, id DESC),
     totals AS (
       SELECT s.sysid, k.kind,
              count(r.id) FILTER (WHERE r.status = 'completed') AS backups,
              coalesce(sum(r.stored_bytes) FILTER (WHERE r.status = 'completed'), 0) AS stored_bytes,
              count(r.id) FILTER (WHERE r.status = 'completed' AND r.verify_status = 'failed')
                AS failed_verifications,
              count(r.id) FILTER (WHERE r.status = 'failed') AS failures
         FROM systems s CROSS JOIN kinds k
         LEFT JOIN backup_rows r ON r.sysid = s.sysid AND r.kind = k.kind
        GROUP BY s.sysid, k.kind),
     archiver AS (
       SELECT a.* FROM vault.archiving a WHERE a.enabled)
SELECT m.metric, m.type, m.system_identifier, m.kind, m.value::double precision AS value
  FROM (
    SELECT 1 AS n, 'pgvault_backup_last_completion_timestamp_seconds' AS metric, 'gauge' AS type,
           sysid AS system_identifier, kind, extract(epoch FROM completed_at) AS value FROM newest
    UNION ALL
    SELECT 2, 'pgvault_backup_since_last_completion_seconds', 'gauge', sysid, kind,
           greatest(extract(epoch FROM now() - completed_at), 0) FROM newest
    UNION ALL
    SELECT 3, 'pgvault_backup_last_duration_seconds', 'gauge', sysid, kind,
           greatest(extract(epoch FROM completed_at - started_at), 0) FROM newest
    UNION ALL
    SELECT 4, 'pgvault_backup_last_source_size_bytes', 'gauge', sysid, kind, source_bytes
      FROM newest WHERE source_bytes IS NOT NULL
    UNION ALL
    SELECT 5, 'pgvault_backup_last_stored_size_bytes', 'gauge', sysid, kind, stored_bytes
      FROM newest WHERE stored_bytes IS NOT NULL
    UNION ALL
    SELECT 6, 'pgvault_repository_backups', 'gauge', sysid, kind, backups FROM totals
    UNION ALL
    SELECT 7, 'pgvault_repository_backup_stored_bytes', 'gauge', sysid, kind, stored_bytes FROM totals
    UNION ALL
    SELECT 10, 'pgvault_verification_last_timestamp_seconds', 'gauge', sysid, kind,
           extract(epoch FROM verified_at) FROM verified
    UNION ALL
    SELECT 11, 'pgvault_verification_since_last_seconds', 'gauge', sysid, kind,
           greatest(extract(epoch FROM now() - verified_at), 0) FROM verified
    UNION ALL
    SELECT 12, 'pgvault_verification_last_status', 'gauge', sysid, kind,
           CASE WHEN verify_status = 'passed' THEN 1 ELSE 0 END FROM verified
    UNION ALL
    SELECT 13, 'pgvault_verification_failed_backups', 'gauge', sysid, kind, failed_verifications
      FROM totals
    UNION ALL
    SELECT 20, 'pgvault_backup_last_status', 'gauge', sysid, kind,
           CASE WHEN status = 'failed' OR status = 'cancelled' THEN 0 ELSE 1 END FROM attempted
    UNION ALL
    SELECT 21, 'pgvault_backup_failures_total', 'counter', sysid, kind, failures FROM totals
    UNION ALL
    SELECT 30, 'pgvault_wal_last_archived_timestamp_seconds', 'gauge', (SELECT id FROM this_system),
           NULL, extract(epoch FROM last_archived_time)
      FROM archiver WHERE last_archived_time IS NOT NULL
    UNION ALL
    SELECT 31, 'pgvault_wal_since_last_archived_seconds', 'gauge', (SELECT id FROM this_system),
           NULL, greatest(extract(epoch FROM now() - last_archived_time), 0)
      FROM archiver WHERE last_archived_time IS NOT NULL
    UNION ALL
    SELECT 32, 'pgvault_wal_archived_total', 'counter', (SELECT id FROM this_system), NULL,
           archived_count FROM archiver
    UNION ALL
    SELECT 33, 'pgvault_wal_archive_failures_total', 'counter', (SELECT id FROM this_system), NULL,
           failed_count FROM archiver
    UNION ALL
    SELECT 34, 'pgvault_wal_archive_failing', 'gauge', (SELECT id FROM this_system), NULL,
           CASE WHEN failing THEN 1 ELSE 0 END FROM archiver
    UNION ALL
    SELECT 35, 'pgvault_wal_archive_waiting_segments', 'gauge', (SELECT id FROM this_system), NULL,
           waiting FROM archiver WHERE waiting IS NOT NULL
    UNION ALL
    SELECT 36, 'pgvault_wal_archive_lag_bytes', 'gauge', (SELECT id FROM this_system), NULL,
           bytes_behind FROM archiver WHERE bytes_behind IS NOT NULL
  ) m
 ORDER BY m.n, m.system_identifier, m.kind;

-- 0.8 (issue 16): the pgvault summarizer worker, whose WAL summaries let an
-- incremental read only the blocks that changed: whether it runs, how far
-- it read, what the summaries on disk cover, its last problem.
CREATE FUNCTION vault._wal_summarizer_state(OUT pid integer, OUT enabled boolean,
                                            OUT timeline integer, OUT summarized_to pg_lsn,
                                            OUT covered_from pg_lsn, OUT covered_to pg_lsn,
                                            OUT summary_files integer, OUT last_problem text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgvault_wal_summarizer_state'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._wal_summarizer_state() FROM PUBLIC;

CREATE VIEW vault.wal_summarizer AS
SELECT s.pid, s.enabled, s.timeline, s.summarized_to, s.covered_from, s.covered_to,
       s.summary_files, current_setting('pgvault.incremental_changes') AS incremental_changes,
       s.last_problem
  FROM vault._wal_summarizer_state() s;

COMMENT ON VIEW vault.wal_summarizer IS
  'pgvault: the summarizer worker (pid, how far it read) and its WAL summaries (the newest '
  'stretch they cover with no gap): an incremental whose parent started at or after '
  'covered_from reads only the blocks they name';

REVOKE ALL ON vault.wal_summarizer FROM PUBLIC;

COMMENT ON FUNCTION vault._wal_summarizer_state() IS
  'pgvault internal: the summarizer''s shared state and the summaries in pg_wal/pgvault_summaries, '
  'for vault.wal_summarizer (grant EXECUTE to roles that read it)';
-- 0.8: it was the only internal function without the comment that says so.
COMMENT ON FUNCTION vault._stale_state() IS
  'pgvault internal: what the alerts worker found stale (pgvault.stale_after), for vault.status '
  '(grant EXECUTE to roles that read it)';
