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
