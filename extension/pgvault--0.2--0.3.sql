-- pgvault 0.2 -> 0.3. Every change here is also in pgvault--0.3.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.3'" to load this file. \quit

-- The status 'queued' was never written (a backup is 'running' from its
-- first committed row on). Should a row hold it anyway, it is settled like
-- any backup that never ran, before the constraint stops allowing it.
UPDATE vault.backups
   SET status = 'failed',
       completed_at = coalesce(completed_at, pg_catalog.now()),
       error_message = coalesce(error_message,
                                'never started (status queued, settled by the update to pgvault 0.3)')
 WHERE status = 'queued';

ALTER TABLE vault.backups DROP CONSTRAINT backups_status_check;
ALTER TABLE vault.backups ADD CONSTRAINT backups_status_check
    CHECK (status IN ('running', 'completed', 'failed',
                      'cancelled', 'skipped', 'expired', 'deleted'));

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
       nullif(current_setting('pgvault.logical_schedule'), '') AS logical_schedule,
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
          FROM vault._setting_problems() p) AS setting_problems
  FROM s, tz;

-- 0.3 (issue 14): where a backup is stored is recorded when it starts, in
-- repository and system_identifier; location is for people to read. Rows of
-- 0.1 got both from location in the update to 0.2.
COMMENT ON COLUMN vault.backups.system_identifier IS
  'the system identifier of the cluster backed up (with repository: where the backup is stored)';
COMMENT ON COLUMN vault.backups.location IS
  'where the backup is stored, for people to read: repository/system_identifier/backups/name/';
