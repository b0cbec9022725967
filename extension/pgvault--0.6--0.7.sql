-- pgvault 0.6 -> 0.7. Every change here is also in pgvault--0.7.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.7'" to load this file. \quit

-- issue 19 (item 5): SQL output people can read.
-- The public functions become LANGUAGE C themselves (SECURITY DEFINER, the
-- search_path pinned): an error they raise reads as one message, with no
-- CONTEXT line of a PL/pgSQL or SQL wrapper, and the internal functions
-- they wrapped go. Functions whose result stays the same are replaced in
-- place, which keeps every grant on them.
CREATE OR REPLACE FUNCTION vault.verify_backup(name text DEFAULT 'latest',
                                    OUT backup text, OUT verified boolean, OUT objects bigint,
                                    OUT files bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_backup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._verify_backup(text);

CREATE OR REPLACE FUNCTION vault.cleanup(OUT name text, OUT action text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_cleanup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._cleanup();

-- Not STRICT: delete_backup(NULL) is an error, not an all-NULL row.
CREATE OR REPLACE FUNCTION vault.delete_backup(name text)
RETURNS vault.history
AS 'MODULE_PATHNAME', 'pgvault_delete_backup_row'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._delete_backup(text);

CREATE OR REPLACE FUNCTION vault.restore_logical(name text, target_database name,
                                      replace boolean DEFAULT false)
RETURNS TABLE(backup text, source_database name, database name, pre_restore_backup text,
              restored_bytes bigint, duration interval)
AS 'MODULE_PATHNAME', 'pgvault_restore_logical'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._restore_logical(text, name, boolean);

CREATE OR REPLACE FUNCTION vault.verify_wal(name text DEFAULT 'latest',
                                 OUT backup text, OUT verified boolean,
                                 OUT timelines integer[], OUT from_lsn pg_lsn,
                                 OUT to_lsn pg_lsn, OUT to_timeline integer,
                                 OUT first_segment text, OUT last_segment text,
                                 OUT objects bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_wal'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._verify_wal(text);

CREATE OR REPLACE FUNCTION vault.test_alert(OUT channel text, OUT configured boolean,
                                 OUT delivered boolean, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_test_alert'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
DROP FUNCTION vault._test_alert();

-- create_backup's result changes (its id, name, kind, status, duration,
-- sizes and location instead of the 28 columns of vault.history), so it is
-- created again; the old one is renamed out of the way first, the EXECUTE
-- grants DBAs gave on it are given again from its ACL, then it is dropped.
ALTER FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])
  RENAME TO _create_backup_0_6;
DROP FUNCTION vault._start_backup(text, text, boolean, name, text);

-- SECURITY DEFINER so that a role granted EXECUTE on create_backup needs no
-- other privilege; initiated_by still records session_user. LANGUAGE C
-- (issue 19): no wrapper, so an error reads as one message, without a
-- PL/pgSQL CONTEXT line. It returns what a person wants to see then; the
-- whole row is in vault.history (same id).
CREATE FUNCTION vault.create_backup(kind text DEFAULT 'physical',
                                    label text DEFAULT NULL,
                                    wait boolean DEFAULT true,
                                    database name DEFAULT NULL,
                                    schema_only boolean DEFAULT false,
                                    data_only boolean DEFAULT false,
                                    include_tables text[] DEFAULT NULL,
                                    exclude_tables text[] DEFAULT NULL,
                                    OUT id bigint, OUT name text, OUT kind text, OUT status text,
                                    OUT duration interval, OUT source_size text,
                                    OUT stored_size text, OUT location text)
AS 'MODULE_PATHNAME', 'pgvault_create_backup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) IS
  'pgvault: take a backup now (physical, or logical with pg_dump); returns its id, name, kind, '
  'status (running when wait => false), duration, sizes and location; vault.history has the rest';

REVOKE ALL ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) FROM PUBLIC;

DO LANGUAGE plpgsql $grants$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT a.grantee, a.is_grantable
          FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid OPERATOR(pg_catalog.=) 'vault._create_backup_0_6(text, text, boolean, name, boolean, boolean, text[], text[])'::pg_catalog.regprocedure
           AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        EXECUTE pg_catalog.format(
            'GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, '
            'boolean, text[], text[]) TO %s%s',
            CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
            CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$grants$;
DROP FUNCTION vault._create_backup_0_6(text, text, boolean, name, boolean, boolean, text[], text[]);

-- A physical or incremental backup belongs to no database: the rows that
-- 0.1 to 0.6 wrote with the database the job ran in (always pgvault.database,
-- "postgres" by default) say nothing, and are cleared, as new rows are
-- written. Logical backups keep theirs.
UPDATE vault.backups SET database = NULL
 WHERE kind OPERATOR(pg_catalog.<>) 'logical' AND database IS NOT NULL;

-- The functions whose names start with "_" are pgvault's internals: the
-- views call them (vault.status, vault.progress, vault.archiving,
-- vault.metrics), a trigger guards vault.backups, the install checks its
-- database. They stay in vault, under the names the README's GRANT lines
-- use, and say so.
COMMENT ON FUNCTION vault._scheduler_state() IS
  'pgvault internal: the scheduler''s live state, for vault.status (grant EXECUTE to roles that read it)';
COMMENT ON FUNCTION vault._progress() IS
  'pgvault internal: the running backup''s progress, for vault.progress (grant EXECUTE to roles that read it)';
COMMENT ON FUNCTION vault._next_runs(text, integer, timestamptz, text) IS
  'pgvault internal: the fire times behind vault.next_runs() (grant EXECUTE with it)';
COMMENT ON FUNCTION vault._alert_state() IS
  'pgvault internal: the alerts worker''s delivery state, for vault.status (grant EXECUTE to roles that read it)';
COMMENT ON FUNCTION vault._backups_write_guard() IS
  'pgvault internal: the trigger that keeps vault.backups written by pgvault only';
COMMENT ON FUNCTION vault._installing() IS
  'pgvault internal: run by CREATE EXTENSION (pgvault.database only, wakes the scheduler)';
COMMENT ON FUNCTION vault._setting_problems() IS
  'pgvault internal: pgvault.* lines of postgresql.conf / postgresql.auto.conf that PostgreSQL '
  'rejected or does not know, for vault.status (grant EXECUTE to roles that read it)';
COMMENT ON FUNCTION vault._archiving_state() IS
  'pgvault internal: what the archiver last did (shared memory) and the .ready files in '
  'pg_wal/archive_status, for vault.archiving and vault.metrics (grant EXECUTE to roles that read them)';
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

