-- pgvault 0.3 -> 0.4. Every change here is also in pgvault--0.4.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.4'" to load this file. \quit

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
