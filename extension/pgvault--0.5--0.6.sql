-- pgvault 0.5 -> 0.6. Every change here is also in pgvault--0.6.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.6'" to load this file. \quit

-- 0.6 (issue 16): vault.status shows pgvault.incremental_schedule (and
-- pgvault.verify_schedule) beside the other schedules. New columns in the
-- middle of a view: it is made again, with its grants and comment.
DROP VIEW vault.status;

-- 0.6 (issue 17): the alerts worker's delivery state, for vault.status
-- (channel names and errors; never a URL's path or a credential).
CREATE FUNCTION vault._alert_state(OUT channels text, OUT failing boolean, OUT last_error text,
                                   OUT last_error_at timestamptz, OUT last_delivered_at timestamptz)
AS 'MODULE_PATHNAME', 'pgvault_alert_state'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION vault._alert_state() FROM PUBLIC;

CREATE VIEW vault.status AS
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
       a.last_delivered_at AS alert_last_delivered_at
  FROM s, tz, vault._alert_state() a;

COMMENT ON VIEW vault.status IS
  'pgvault: the scheduler at a glance: next run, last run, did today''s backup run';

REVOKE ALL ON vault.status FROM PUBLIC;

-- 0.6 (issue 17): the figures `pgvault metrics` computes from the
-- repository, with the same names and meanings, from this server's audit
-- trail and the archiver's state, one row per sample: what a SQL exporter
-- (sql_exporter, postgres_exporter's custom queries) turns into metrics
-- (metric and type from the row, system_identifier and kind as labels).
-- Plus what only the server knows: the last attempt's status, failures,
-- the archiver's lag. A kind's "last" figures exist once a backup of it is
-- in the repository (status completed); counts are there for every kind.
CREATE VIEW vault.metrics AS
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

COMMENT ON VIEW vault.metrics IS
  'pgvault: one row per metric sample (metric, type, system_identifier, kind, value) in '
  'Prometheus names and base units, for SQL exporters; `pgvault metrics` gives the same from the repository';

REVOKE ALL ON vault.metrics FROM PUBLIC;

-- 0.6 (issue 17): vault.test_alert() sends a test alert through every
-- configured channel (webhook, email) now and reports each one's answer.
CREATE FUNCTION vault._test_alert(OUT channel text, OUT configured boolean,
                                  OUT delivered boolean, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_test_alert'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._test_alert() FROM PUBLIC;

-- SECURITY DEFINER: a role granted EXECUTE needs no other privilege.
CREATE FUNCTION vault.test_alert(OUT channel text, OUT configured boolean,
                                 OUT delivered boolean, OUT error text)
RETURNS SETOF record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM vault._test_alert() $$;

COMMENT ON FUNCTION vault.test_alert() IS
  'pgvault: send a test alert through every configured channel (webhook, email) and report '
  'whether each one delivered it';

REVOKE ALL ON FUNCTION vault.test_alert() FROM PUBLIC;
