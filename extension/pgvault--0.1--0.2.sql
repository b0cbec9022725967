-- pgvault 0.1 -> 0.2. Every change here is also in pgvault--0.2.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.2'" to load this file. \quit

-- issue 12: privileges
-- Calls in SECURITY DEFINER bodies and defaults are schema-qualified.
CREATE OR REPLACE FUNCTION vault.create_backup(kind text DEFAULT 'physical',
                                    label text DEFAULT NULL,
                                    wait boolean DEFAULT true,
                                    database name DEFAULT NULL,
                                    schema_only boolean DEFAULT false,
                                    data_only boolean DEFAULT false,
                                    include_tables text[] DEFAULT NULL,
                                    exclude_tables text[] DEFAULT NULL)
RETURNS vault.history
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    backup_id bigint;
    result vault.history;
BEGIN
    backup_id := vault._start_backup(kind, label, wait, database,
        pg_catalog.json_build_object('schema_only', schema_only, 'data_only', data_only,
                                     'include_tables', include_tables,
                                     'exclude_tables', exclude_tables)::pg_catalog.text);
    SELECT * INTO result FROM vault.history h WHERE h.id = backup_id;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION vault.next_runs(schedule text, count integer DEFAULT 5,
                                after timestamptz DEFAULT pg_catalog.now(),
                                timezone text DEFAULT pg_catalog.current_setting('pgvault.timezone'))
RETURNS SETOF timestamptz
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.unnest(vault._next_runs(schedule, count, after, timezone)) $$;

-- verify_backup writes vault.backups: the C function goes behind a
-- SECURITY DEFINER wrapper like the other mutating functions.
DROP FUNCTION vault.verify_backup(text);

CREATE FUNCTION vault._verify_backup(name text,
                                     OUT backup text, OUT verified boolean, OUT objects bigint,
                                     OUT files bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_backup'
LANGUAGE C VOLATILE;

CREATE FUNCTION vault.verify_backup(name text DEFAULT 'latest',
                                    OUT backup text, OUT verified boolean, OUT objects bigint,
                                    OUT files bigint, OUT bytes_read bigint, OUT error text)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM vault._verify_backup($1) $$;

COMMENT ON FUNCTION vault.verify_backup(text) IS
  'pgvault: read a backup back and check it; records verified_at and verify_status';

REVOKE ALL ON FUNCTION vault.verify_backup(text) FROM PUBLIC;
-- vault.backups is the audit trail: pgvault writes it (as superuser: its
-- workers, and its SECURITY DEFINER functions); a role someone granted
-- INSERT, UPDATE, DELETE or TRUNCATE still cannot rewrite it.
CREATE FUNCTION vault._backups_write_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                      WHERE r.rolname OPERATOR(pg_catalog.=) current_user), false) THEN
        RAISE EXCEPTION 'vault.backups is written by pgvault only (% by role "%" refused)',
              TG_OP, current_user
              USING ERRCODE = 'insufficient_privilege',
                    HINT = 'Use vault.create_backup, vault.verify_backup, vault.delete_backup or vault.cleanup.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER backups_written_by_pgvault_only
BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON vault.backups
FOR EACH STATEMENT EXECUTE FUNCTION vault._backups_write_guard();

-- PUBLIC executes nothing in vault; see the README for the grants each
-- function and view needs.
REVOKE ALL ON FUNCTION vault._backups_write_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault._verify_backup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault._scheduler_state() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault._progress() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault._next_runs(text, integer, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.next_runs(text, integer, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON SEQUENCE vault.backups_id_seq FROM PUBLIC;

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

REVOKE ALL ON FUNCTION vault._setting_problems() FROM PUBLIC;

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
