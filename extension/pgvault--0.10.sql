-- pgvault 0.10 (fresh install; upgrades run pgvault--0.1--0.2.sql,
-- pgvault--0.2--0.3.sql, pgvault--0.3--0.4.sql, pgvault--0.4--0.5.sql,
-- pgvault--0.5--0.6.sql, pgvault--0.6--0.7.sql, pgvault--0.7--0.8.sql,
-- pgvault--0.8--0.9.sql and pgvault--0.9--0.10.sql)
\echo Use "CREATE EXTENSION pgvault" to load this file. \quit

-- issue 12: privileges. CREATE EXTENSION reuses a schema "vault" that
-- already exists, whoever prepared it. Whoever owns it, may create in it, or
-- put objects in it could shadow what pgvault's superuser code calls: refuse
-- such a schema (an empty one the installing role owns is fine).
DO $squat$
DECLARE
    vault_schema pg_catalog.pg_namespace%ROWTYPE;
BEGIN
    SELECT * INTO vault_schema FROM pg_catalog.pg_namespace WHERE nspname = 'vault';
    IF vault_schema.oid IS NULL THEN
        RETURN;
    END IF;
    IF pg_catalog.pg_get_userbyid(vault_schema.nspowner) OPERATOR(pg_catalog.<>) current_user THEN
        RAISE EXCEPTION 'schema "vault" already exists and is owned by role "%", not by "%" who is installing pgvault',
              pg_catalog.pg_get_userbyid(vault_schema.nspowner), current_user
              USING ERRCODE = 'insufficient_privilege',
                    HINT = 'Drop or rename that schema (pgvault creates its own schema vault), then run CREATE EXTENSION pgvault again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.aclexplode(vault_schema.nspacl) a
                WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                  AND a.grantee OPERATOR(pg_catalog.<>) vault_schema.nspowner) THEN
        RAISE EXCEPTION 'schema "vault" already exists and other roles may create objects in it (%)',
              vault_schema.nspacl
              USING ERRCODE = 'insufficient_privilege',
                    HINT = 'Revoke CREATE on schema vault from every other role, or drop that schema, then run CREATE EXTENSION pgvault again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_depend d
                WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                  AND d.refobjid OPERATOR(pg_catalog.=) vault_schema.oid
                  AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'schema "vault" already exists and is not empty'
              USING ERRCODE = 'duplicate_schema',
                    HINT = 'pgvault installs into an empty schema vault: drop or rename that schema, then run CREATE EXTENSION pgvault again.';
    END IF;
END
$squat$;

-- One row per backup: the audit trail. Rows are never deleted by pgvault;
-- removed backups change status instead.
CREATE TABLE vault.backups (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('physical', 'logical', 'incremental')),
    trigger           text NOT NULL CHECK (trigger IN ('manual', 'scheduled', 'retry', 'pre_restore')),
    status            text NOT NULL CHECK (status IN ('running', 'completed', 'failed',
                                                      'cancelled', 'skipped', 'expired', 'deleted')),
    label             text,
    database          name,
    started_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    source_bytes      bigint,
    stored_bytes      bigint,
    compression       text,
    encrypted         boolean NOT NULL DEFAULT false,
    sha256            text,
    location          text,
    initiated_by      name,
    error_message     text,
    start_lsn         pg_lsn,
    stop_lsn          pg_lsn,
    timeline          integer,
    verified_at       timestamptz,
    system_identifier text,
    pg_version        integer,
    worker_pid        integer,
    scheduled_for     timestamptz,  -- the cron fire time a scheduled run belongs to
    attempt           integer NOT NULL DEFAULT 1,
    cleanup_pending   boolean NOT NULL DEFAULT false,
    options           jsonb,        -- logical: what pg_dump was asked to dump
    key_fingerprint   text,         -- encrypted: the key's public fingerprint
    verify_status     text CHECK (verify_status IN ('passed', 'failed')),
    verify_error      text,
    repository        text,         -- the repository URL it was written to (issue 13)
    parent            text,         -- incremental: the backup it is relative to (issue 16)
    changed_pages     text          -- incremental: how it found the pages that changed (0.8)
);
CREATE INDEX backups_started_at_idx ON vault.backups (started_at);
CREATE INDEX backups_status_idx ON vault.backups (status);

COMMENT ON TABLE vault.backups IS 'pgvault: one row per backup (the audit trail)';
COMMENT ON COLUMN vault.backups.sha256 IS
  'SHA-256 over "sha256  object" lines of the backup''s objects sorted by name (sha256sum output)';
COMMENT ON COLUMN vault.backups.source_bytes IS 'bytes of database files backed up';
COMMENT ON COLUMN vault.backups.stored_bytes IS 'bytes stored in the repository';
COMMENT ON COLUMN vault.backups.parent IS
  'incremental: the backup it stores the changes since, restored beneath it';
COMMENT ON COLUMN vault.backups.changed_pages IS
  'incremental: how it found the pages changed since its parent (the blocks the WAL summaries '
  'name, or every page by its LSN and why)';
COMMENT ON COLUMN vault.backups.cleanup_pending IS
  'a failed backup whose partial objects could not be removed yet (store unreachable); '
  'removed after the next successful backup or by vault.cleanup()';

CREATE VIEW vault.history AS
SELECT id, name, kind, trigger, status, started_at, completed_at,
       completed_at - started_at AS duration,
       source_bytes, stored_bytes, compression, encrypted, sha256, location,
       initiated_by, error_message, start_lsn, stop_lsn, timeline, verified_at,
       label, database, scheduled_for, attempt, options, key_fingerprint,
       verify_status, verify_error, parent, changed_pages
  FROM vault.backups;

COMMENT ON VIEW vault.history IS 'pgvault: every backup, its outcome, sizes and checksums';

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

-- Reads a backup back from the repository and checks it (SHA-256 and size of
-- every object, decryption, decompression, every file against
-- backup_manifest); records verified_at and the outcome on its row. depth =>
-- 'stored' checks only the stored bytes (size and SHA-256 of every object,
-- the check pgbackrest verify makes): a pass proves less than readability and
-- is not recorded as a verification, a failure is.
-- SECURITY DEFINER: a role granted EXECUTE needs no privilege on vault.backups.
CREATE FUNCTION vault.verify_backup(name text DEFAULT 'latest', depth text DEFAULT 'decoded',
                                    OUT backup text, OUT verified boolean, OUT objects bigint,
                                    OUT files bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_backup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.verify_backup(text, text) IS
  'pgvault: read a backup back and check it (depth decoded: everything restore reads; stored: '
  'the stored bytes only); records verified_at and verify_status';

-- The scheduler's live state, from shared memory.
CREATE FUNCTION vault._scheduler_state(OUT pid integer, OUT state text, OUT next_run_at timestamptz,
                                       OUT retry_at timestamptz)
AS 'MODULE_PATHNAME', 'pgvault_scheduler_state'
LANGUAGE C VOLATILE STRICT;

-- The running backup's progress, from shared memory (no row when idle).
CREATE FUNCTION vault._progress(OUT id bigint, OUT name text, OUT phase text, OUT started_at timestamptz,
                                OUT bytes_done bigint, OUT bytes_total bigint, OUT bytes_stored bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_progress'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION vault._next_runs(schedule text, count integer, after timestamptz, timezone text)
RETURNS timestamptz[]
AS 'MODULE_PATHNAME', 'pgvault_next_runs'
LANGUAGE C STABLE STRICT;

-- When a schedule fires: check a cron line before putting it in postgresql.conf.
CREATE FUNCTION vault.next_runs(schedule text, count integer DEFAULT 5,
                                after timestamptz DEFAULT pg_catalog.now(),
                                timezone text DEFAULT pg_catalog.current_setting('pgvault.timezone'))
RETURNS SETOF timestamptz
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.unnest(vault._next_runs(schedule, count, after, timezone)) $$;

COMMENT ON FUNCTION vault.next_runs(text, integer, timestamptz, text) IS
  'pgvault: the next fire times of a schedule (the scheduler uses the same code)';

-- pgvault.* lines of the configuration files PostgreSQL rejected (vault.status).
CREATE FUNCTION vault._setting_problems(OUT name text, OUT location text, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_setting_problems'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._setting_problems() FROM PUBLIC;

-- 0.6 (issue 17): the alerts worker's delivery state, for vault.status
-- (channel names and errors; never a URL's path or a credential).
CREATE FUNCTION vault._alert_state(OUT channels text, OUT failing boolean, OUT last_error text,
                                   OUT last_error_at timestamptz, OUT last_delivered_at timestamptz)
AS 'MODULE_PATHNAME', 'pgvault_alert_state'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION vault._alert_state() FROM PUBLIC;

-- 0.7 (issue 17): what the alerts worker found stale (pgvault.stale_after),
-- for vault.status.stale.
CREATE FUNCTION vault._stale_state() RETURNS text
AS 'MODULE_PATHNAME', 'pgvault_stale_state'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._stale_state() FROM PUBLIC;

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
       a.last_delivered_at AS alert_last_delivered_at,
       vault._stale_state() AS stale
  FROM s, tz, vault._alert_state() a;

COMMENT ON VIEW vault.status IS
  'pgvault: the scheduler at a glance: next run, last run, did today''s backup run';

CREATE VIEW vault.stats AS
SELECT count(*) AS total,
       count(*) FILTER (WHERE status IN ('completed', 'expired', 'deleted')) AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       round(100.0 * count(*) FILTER (WHERE status IN ('completed', 'expired', 'deleted'))
             / nullif(count(*) FILTER (WHERE status IN ('completed', 'expired', 'deleted', 'failed')), 0), 1)
         AS success_rate_percent,
       avg(completed_at - started_at) FILTER (WHERE status IN ('completed', 'expired', 'deleted'))
         AS average_duration,
       coalesce(sum(stored_bytes) FILTER (WHERE status = 'completed'), 0) AS stored_bytes,
       count(*) FILTER (WHERE started_at > now() - interval '7 days') AS last_7_days,
       count(*) FILTER (WHERE started_at > now() - interval '7 days'
                          AND status IN ('completed', 'expired', 'deleted')) AS completed_last_7_days,
       count(*) FILTER (WHERE started_at > now() - interval '30 days') AS last_30_days,
       count(*) FILTER (WHERE started_at > now() - interval '30 days'
                          AND status IN ('completed', 'expired', 'deleted')) AS completed_last_30_days,
       (SELECT stored_bytes FROM vault.backups WHERE status = 'completed'
         ORDER BY completed_at DESC LIMIT 1)
       - (SELECT stored_bytes FROM vault.backups WHERE status IN ('completed', 'expired', 'deleted')
           AND completed_at < now() - interval '30 days' ORDER BY completed_at DESC LIMIT 1)
         AS stored_bytes_growth_30_days
  FROM vault.backups;

COMMENT ON VIEW vault.stats IS 'pgvault: totals, success rate, durations, sizes';

CREATE VIEW vault.progress AS
SELECT id, name, phase, started_at, now() - started_at AS elapsed,
       bytes_done, bytes_total,
       CASE WHEN bytes_total > 0 THEN round(100.0 * least(bytes_done, bytes_total) / bytes_total, 1) END
         AS percent_done,
       bytes_stored,
       CASE WHEN extract(epoch FROM now() - started_at) > 0
            THEN (bytes_done / extract(epoch FROM now() - started_at))::bigint END AS bytes_per_second
  FROM vault._progress();

COMMENT ON VIEW vault.progress IS 'pgvault: the running backup: bytes done, rate, elapsed';

-- Applies retention now (it also runs after every successful backup).
CREATE FUNCTION vault.cleanup(OUT name text, OUT action text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_cleanup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.cleanup() IS
  'pgvault: apply retention now; returns what was removed (expired backups, leftovers of incomplete ones)';

-- Not STRICT: delete_backup(NULL) is an error, not an all-NULL row.
CREATE FUNCTION vault.delete_backup(name text)
RETURNS vault.history
AS 'MODULE_PATHNAME', 'pgvault_delete_backup_row'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.delete_backup(text) IS
  'pgvault: remove one backup from the repository (never the running one or the newest complete one)';

CREATE FUNCTION vault.cancel_backup()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgvault_cancel_backup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION vault.cancel_backup() IS
  'pgvault: ask the running backup to stop; true if one was running';

-- Restores a logical backup of this cluster with the server's own pg_restore
-- into a new database (or, with replace => true, over an existing one, after
-- a logical backup of it with trigger pre_restore). SECURITY DEFINER: a role
-- granted EXECUTE can create and replace databases with it.
CREATE FUNCTION vault.restore_logical(name text, target_database name,
                                      replace boolean DEFAULT false)
RETURNS TABLE(backup text, source_database name, database name, pre_restore_backup text,
              restored_bytes bigint, duration interval)
AS 'MODULE_PATHNAME', 'pgvault_restore_logical'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.restore_logical(text, name, boolean) IS
  'pgvault: restore a logical backup with pg_restore into a new database; an existing one only '
  'with replace => true, after a logical backup of it (trigger pre_restore)';

REVOKE ALL ON FUNCTION vault.restore_logical(text, name, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION vault.cancel_backup() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.cleanup() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.delete_backup(text) FROM PUBLIC;
REVOKE ALL ON vault.status FROM PUBLIC;
REVOKE ALL ON vault.stats FROM PUBLIC;
REVOKE ALL ON vault.progress FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.verify_backup(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) FROM PUBLIC;
REVOKE ALL ON vault.backups FROM PUBLIC;
REVOKE ALL ON vault.history FROM PUBLIC;

-- issue 12: privileges
-- vault.backups is the audit trail: pgvault writes it (as superuser: its
-- workers, and its SECURITY DEFINER functions); a role someone granted
-- INSERT, UPDATE, DELETE or TRUNCATE still cannot rewrite it.
-- 0.10: in C (a superuser check; the PL/pgSQL body cost every backup's
-- first write 7 ms in a new job worker). It runs no SQL.
CREATE FUNCTION vault._backups_write_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgvault_backups_write_guard'
LANGUAGE C;

CREATE TRIGGER backups_written_by_pgvault_only
BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON vault.backups
FOR EACH STATEMENT EXECUTE FUNCTION vault._backups_write_guard();

-- PUBLIC executes nothing in vault; see the README for the grants each
-- function and view needs.
REVOKE ALL ON FUNCTION vault._backups_write_guard() FROM PUBLIC;
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


COMMENT ON COLUMN vault.backups.repository IS
  'the repository URL the backup was written to (pending cleanups are done there)';

COMMENT ON FUNCTION vault._setting_problems() IS
  'pgvault: pgvault.* lines of postgresql.conf / postgresql.auto.conf that PostgreSQL rejected '
  'or does not know (it runs on the default or previous value instead)';

-- 0.3 (issue 14): where a backup is stored is recorded when it starts, in
-- repository and system_identifier; location is for people to read.
COMMENT ON COLUMN vault.backups.system_identifier IS
  'the system identifier of the cluster backed up (with repository: where the backup is stored)';
COMMENT ON COLUMN vault.backups.location IS
  'where the backup is stored, for people to read: repository/system_identifier/backups/name/';

-- 0.4 (issue 15): WAL archiving at a glance. The archiver (archive_library =
-- 'pgvault') keeps its own part in shared memory; what pg_stat_archiver
-- already counts comes from there.
CREATE FUNCTION vault._archiving_state(OUT archiver_pid integer, OUT repository text,
                                       OUT failing boolean, OUT failures bigint,
                                       OUT last_error text, OUT last_error_at timestamptz,
                                       OUT waiting bigint, OUT bytes_behind bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgvault_archiving_state'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION vault._archiving_state() IS
  'pgvault: what the archiver last did (shared memory) and the .ready files in pg_wal/archive_status';

REVOKE ALL ON FUNCTION vault._archiving_state() FROM PUBLIC;

CREATE VIEW vault.archiving AS
SELECT current_setting('archive_mode') <> 'off'
         AND current_setting('archive_library') = 'pgvault' AS enabled,
       current_setting('archive_mode') AS archive_mode,
       current_setting('archive_library') AS archive_library,
       coalesce(a.repository, current_setting('pgvault.repository')) AS repository,
       s.last_archived_wal,
       s.last_archived_time,
       s.last_failed_wal,
       s.last_failed_time,
       a.last_error,
       a.last_error_at,
       a.failing,
       a.failures AS failures_since_start,
       s.archived_count,
       s.failed_count,
       s.stats_reset,
       a.waiting,
       a.bytes_behind,
       current_setting('pgvault.archive_parallel')::integer AS parallel,
       a.archiver_pid
  FROM pg_stat_archiver s, vault._archiving_state() a;

COMMENT ON VIEW vault.archiving IS
  'pgvault: WAL archiving into the repository: on or off, last archived and failed file, '
  'last error, files waiting in pg_wal, bytes behind';

REVOKE ALL ON vault.archiving FROM PUBLIC;

-- 0.5 (issue 15): the archived WAL a physical backup needs, checked from
-- SQL as `pgvault verify --wal` checks it: no gap from the backup's start to
-- the newest archived segment of its timeline's path, every object's
-- SHA-256, the history files on the way.
-- SECURITY DEFINER: a role granted EXECUTE needs no other privilege.
CREATE FUNCTION vault.verify_wal(name text DEFAULT 'latest',
                                 OUT backup text, OUT verified boolean,
                                 OUT timelines integer[], OUT from_lsn pg_lsn,
                                 OUT to_lsn pg_lsn, OUT to_timeline integer,
                                 OUT first_segment text, OUT last_segment text,
                                 OUT objects bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_wal'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.verify_wal(text) IS
  'pgvault: check that the archived WAL from a physical backup to the newest archived segment '
  'is whole (no gap, every checksum); the window a point-in-time restore from it can reach';

REVOKE ALL ON FUNCTION vault.verify_wal(text) FROM PUBLIC;

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
-- SECURITY DEFINER: a role granted EXECUTE needs no other privilege.
CREATE FUNCTION vault.test_alert(OUT channel text, OUT configured boolean,
                                 OUT delivered boolean, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgvault_test_alert'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.test_alert() IS
  'pgvault: send a test alert through every configured channel (webhook, email) and report '
  'whether each one delivered it';

REVOKE ALL ON FUNCTION vault.test_alert() FROM PUBLIC;

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

-- issue 19: the functions whose names start with "_" are pgvault's
-- internals: the views call them (vault.status, vault.progress,
-- vault.archiving, vault.metrics), a trigger guards vault.backups, the
-- install checks its database. They stay in vault, under the names the
-- README's GRANT lines use, and say so.
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
COMMENT ON FUNCTION vault._wal_summarizer_state() IS
  'pgvault internal: the summarizer''s shared state and the summaries in pg_wal/pgvault_summaries, '
  'for vault.wal_summarizer (grant EXECUTE to roles that read it)';
COMMENT ON FUNCTION vault._stale_state() IS
  'pgvault internal: what the alerts worker found stale (pgvault.stale_after), for vault.status '
  '(grant EXECUTE to roles that read it)';
