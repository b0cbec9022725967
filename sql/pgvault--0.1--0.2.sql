-- pgvault 0.1 -> 0.2. Every change here is also in pgvault--0.2.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.2'" to load this file. \quit

-- Issue 13 (server side): pgvault is installed in pgvault.database only (and
-- the install wakes the scheduler); the pgvault.* lines of the configuration
-- files that PostgreSQL rejected, shown in vault.status; retention per kind.
CREATE FUNCTION vault._installing()
RETURNS void
AS 'MODULE_PATHNAME', 'pgvault_installing'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._installing() FROM PUBLIC;

SELECT vault._installing();

-- delete_backup(NULL) is an error, not an all-NULL row.
ALTER FUNCTION vault._delete_backup(text) CALLED ON NULL INPUT;

CREATE FUNCTION vault._setting_problems(OUT name text, OUT location text, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_setting_problems'
LANGUAGE C VOLATILE;

ALTER TABLE vault.backups ADD COLUMN repository text;
-- Rows written by 0.1: the repository is the location up to /<system id>/backups/<name>/.
UPDATE vault.backups
   SET repository = substring(location FROM '^(.*)/[0-9]+/backups/[^/]+/$')
 WHERE location IS NOT NULL;
UPDATE vault.backups
   SET system_identifier = substring(location FROM '/([0-9]+)/backups/[^/]+/$')
 WHERE location IS NOT NULL AND system_identifier IS NULL;

COMMENT ON COLUMN vault.backups.repository IS
  'the repository URL the backup was written to (pending cleanups are done there)';

COMMENT ON FUNCTION vault._setting_problems() IS
  'pgvault: pgvault.* lines of postgresql.conf / postgresql.auto.conf that PostgreSQL rejected '
  'or does not know (it runs on the default or previous value instead)';

CREATE OR REPLACE VIEW vault.status AS
WITH s AS (SELECT * FROM vault._scheduler_state()),
     tz AS (SELECT current_setting('pgvault.timezone') AS name),
     last_run AS (SELECT * FROM vault.backups WHERE status NOT IN ('queued', 'skipped')
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
