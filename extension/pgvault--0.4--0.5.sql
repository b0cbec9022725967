-- pgvault 0.4 -> 0.5. Every change here is also in pgvault--0.5.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.5'" to load this file. \quit

-- 0.5 (issue 15): the archived WAL a physical backup needs, checked from
-- SQL as `pgvault verify --wal` checks it: no gap from the backup's start to
-- the newest archived segment of its timeline's path, every object's
-- SHA-256, the history files on the way.
CREATE FUNCTION vault._verify_wal(name text,
                                  OUT backup text, OUT verified boolean,
                                  OUT timelines integer[], OUT from_lsn pg_lsn,
                                  OUT to_lsn pg_lsn, OUT to_timeline integer,
                                  OUT first_segment text, OUT last_segment text,
                                  OUT objects bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_wal'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION vault._verify_wal(text) FROM PUBLIC;

-- SECURITY DEFINER: a role granted EXECUTE needs no other privilege.
CREATE FUNCTION vault.verify_wal(name text DEFAULT 'latest',
                                 OUT backup text, OUT verified boolean,
                                 OUT timelines integer[], OUT from_lsn pg_lsn,
                                 OUT to_lsn pg_lsn, OUT to_timeline integer,
                                 OUT first_segment text, OUT last_segment text,
                                 OUT objects bigint, OUT bytes_read bigint, OUT error text)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM vault._verify_wal($1) $$;

COMMENT ON FUNCTION vault.verify_wal(text) IS
  'pgvault: check that the archived WAL from a physical backup to the newest archived segment '
  'is whole (no gap, every checksum); the window a point-in-time restore from it can reach';

REVOKE ALL ON FUNCTION vault.verify_wal(text) FROM PUBLIC;

-- 0.5 (issue 16): incremental backups. A row of kind 'incremental' names its
-- parent; vault.history shows it (appended: existing columns keep their place).
ALTER TABLE vault.backups DROP CONSTRAINT backups_kind_check;
ALTER TABLE vault.backups ADD CONSTRAINT backups_kind_check
  CHECK (kind IN ('physical', 'logical', 'incremental'));
ALTER TABLE vault.backups ADD COLUMN parent text;
COMMENT ON COLUMN vault.backups.parent IS
  'incremental: the backup it stores the changes since, restored beneath it';

CREATE OR REPLACE VIEW vault.history AS
SELECT id, name, kind, trigger, status, started_at, completed_at,
       completed_at - started_at AS duration,
       source_bytes, stored_bytes, compression, encrypted, sha256, location,
       initiated_by, error_message, start_lsn, stop_lsn, timeline, verified_at,
       label, database, scheduled_for, attempt, options, key_fingerprint,
       verify_status, verify_error, parent
  FROM vault.backups;

-- vault.status reads vault.backups through SELECT *, fixed when a view is
-- made: made again, it has what a fresh 0.5 has (its columns are unchanged).
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
