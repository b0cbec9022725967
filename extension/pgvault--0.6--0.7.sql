-- pgvault 0.6 -> 0.7. Every change here is also in pgvault--0.7.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.7'" to load this file. \quit

-- 0.7 (issue 17, staleness): vault.status.stale, what the alerts worker
-- found stale (pgvault.stale_after), from a new function. The column is
-- added at the end, so the view is replaced in place and keeps its grants
-- and comment; a role that may read vault.status through EXECUTE on
-- vault._alert_state() gets EXECUTE on vault._stale_state() too.
CREATE FUNCTION vault._stale_state() RETURNS text
AS 'MODULE_PATHNAME', 'pgvault_stale_state'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._stale_state() FROM PUBLIC;

DO $$
DECLARE
  grantee regrole;
BEGIN
  FOR grantee IN
    SELECT DISTINCT a.grantee::regrole
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid = 'vault._alert_state()'::pg_catalog.regprocedure
       AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
  LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION vault._stale_state() TO %s', grantee);
  END LOOP;
END
$$;

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

