-- ALTER EXTENSION pgvault UPDATE from every earlier version (0.1, through
-- every script after it, and 0.2) gives exactly what a fresh install of the
-- current version gives: the same functions
-- (signature, result, volatility, strictness, SECURITY DEFINER, settings,
-- body, grants, comments), relations, columns in the same order, defaults,
-- constraints, indexes, view definitions, grants and extension membership.
CREATE FUNCTION pg_temp.vault_shape()
RETURNS TABLE(object text, detail text)
LANGUAGE sql STABLE AS $$
  SELECT 'function ' || p.oid::regprocedure::text,
         concat_ws(' | ', pg_get_function_result(p.oid), p.provolatile, p.proisstrict,
                   p.prosecdef, p.proconfig::text, p.proacl::text, md5(p.prosrc), p.probin,
                   pg_get_function_arguments(p.oid), obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p WHERE p.pronamespace = 'vault'::regnamespace
  UNION ALL
  SELECT 'relation ' || c.relname,
         concat_ws(' | ', c.relkind, c.relacl::text, obj_description(c.oid, 'pg_class'),
                   CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
    FROM pg_class c WHERE c.relnamespace = 'vault'::regnamespace
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attname,
         concat_ws(' | ', row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                   format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attacl::text, col_description(c.oid, a.attnum))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'vault'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'vault'::regnamespace
  UNION ALL
  SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = 'vault'::regnamespace
  UNION ALL
  SELECT 'trigger ' || t.tgname, pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'vault'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid), ''
    FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgvault')
  UNION ALL
  SELECT 'extension', concat_ws(' | ', e.extnamespace::regnamespace::text, e.extrelocatable,
                                (SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
                                   FROM unnest(e.extconfig) c)::text, e.extcondition::text)
    FROM pg_extension e WHERE e.extname = 'pgvault'
$$;
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault;
SELECT extversion AS fresh_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vault_shape();
-- The comparison has something to compare.
SELECT count(*) FILTER (WHERE object LIKE 'function %') >= 14 AS has_functions,
       count(*) FILTER (WHERE object LIKE 'column %') >= 30 AS has_columns,
       count(*) FILTER (WHERE object LIKE 'member %') >= 20 AS has_members
  FROM fresh;
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.1';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vault_shape();
-- No difference either way.
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
-- Rows keep working across updates: a 0.1 row gets its repository and
-- system identifier from its location (0.1 -> 0.2); a row left 'queued',
-- which 0.2's constraint allowed though pgvault never wrote it, is settled
-- as failed before 0.3's constraint drops the status (0.2 -> 0.3).
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.1';
INSERT INTO vault.backups (name, kind, trigger, status, location)
VALUES ('20260101T000000Z-physical', 'physical', 'manual', 'completed',
        'file:///srv/pgvault/7300000000000000001/backups/20260101T000000Z-physical/');
ALTER EXTENSION pgvault UPDATE TO '0.2';
INSERT INTO vault.backups (name, kind, trigger, status)
VALUES ('20260102T000000Z-physical', 'physical', 'manual', 'queued');
ALTER EXTENSION pgvault UPDATE;
SELECT name, status, repository, system_identifier, error_message,
       completed_at IS NOT NULL AS has_completed_at
  FROM vault.backups ORDER BY id;
-- And 'queued' is no status any more.
\set VERBOSITY terse
INSERT INTO vault.backups (name, kind, trigger, status)
VALUES ('20260103T000000Z-physical', 'physical', 'manual', 'queued');
\set VERBOSITY default
-- 0.2 -> 0.10 (through 0.3 to 0.9) gives what a fresh 0.10 gives, too.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.2';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_2 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_2)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_2 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
-- 0.3 -> 0.10 (vault.archiving, vault.verify_wal) gives what a fresh 0.10 gives, too.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.3';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_3 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_3)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_3 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
-- The new objects are there (and the comparison saw them).
SELECT count(*) FILTER (WHERE object = 'relation archiving') AS has_archiving_view,
       count(*) FILTER (WHERE object = 'function vault._archiving_state()') AS has_archiving_state
  FROM fresh;
-- 0.4 -> 0.10 (vault.verify_wal) gives what a fresh 0.10 gives, too.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.4';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_4 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_4)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_4 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
-- (0.7, issue 19: verify_wal is a C function itself, _verify_wal is gone.)
SELECT count(*) FILTER (WHERE object = 'function vault.verify_wal(text)') AS has_verify_wal,
       count(*) FILTER (WHERE object = 'function vault._verify_wal(text)') AS has_verify_wal_internal
  FROM fresh;
-- 0.5 -> 0.10 (0.6: vault.status shows incremental_schedule and verify_schedule;
-- vault.metrics) gives what a fresh 0.10 gives, too.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.5';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_5 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_5)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_5 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
SELECT object, split_part(detail, ' | ', 1) AS position FROM fresh
 WHERE object IN ('column status.schedule', 'column status.incremental_schedule',
                  'column status.logical_schedule', 'column status.verify_schedule')
 ORDER BY 2::int;
SELECT count(*) FILTER (WHERE object = 'relation metrics') AS has_metrics_view,
       count(*) FILTER (WHERE object LIKE 'column metrics.%') AS metrics_columns
  FROM fresh;
-- 0.6 -> 0.10 gives what a fresh 0.10 gives, too.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.6';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_6 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_6)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_6 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
-- issue 19: 0.6 -> 0.7 replaces create_backup (a new result): the EXECUTE
-- grants DBAs gave on it are kept, grant option included; the other API
-- functions are replaced in place, so theirs are kept too. Physical rows
-- lose the database they never belonged to; logical rows keep theirs.
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.6';
CREATE ROLE regress_pgvault_upgrade_app;
CREATE ROLE regress_pgvault_upgrade_admin;
GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])
  TO regress_pgvault_upgrade_app;
GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])
  TO regress_pgvault_upgrade_admin WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION vault.verify_backup(text) TO regress_pgvault_upgrade_app;
INSERT INTO vault.backups (name, kind, trigger, status, database)
VALUES ('20260101T000000Z-physical', 'physical', 'manual', 'completed', 'postgres'),
       ('20260101T000001Z-incremental', 'incremental', 'manual', 'completed', 'postgres'),
       ('20260101T000002Z-logical', 'logical', 'manual', 'completed', 'shop');
ALTER EXTENSION pgvault UPDATE TO '0.7';
SELECT r.rolname,
       has_function_privilege(r.oid, 'vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])', 'EXECUTE') AS create_backup,
       has_function_privilege(r.oid, 'vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])', 'EXECUTE WITH GRANT OPTION') AS may_grant_it,
       has_function_privilege(r.oid, 'vault.verify_backup(text)', 'EXECUTE') AS verify_backup
  FROM pg_roles r WHERE r.rolname LIKE 'regress_pgvault_upgrade_%' ORDER BY 1;
SELECT has_function_privilege('public', 'vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[])', 'EXECUTE') AS public_may_create;
SELECT name, kind, database FROM vault.backups ORDER BY id;
DROP EXTENSION pgvault;
DROP ROLE regress_pgvault_upgrade_app;
DROP ROLE regress_pgvault_upgrade_admin;
-- 0.6 -> 0.7 (issue 17): vault.status gains the column stale from a new
-- function, vault._stale_state(); a role that read vault.status through
-- EXECUTE on vault._alert_state() keeps reading it after the update.
CREATE EXTENSION pgvault VERSION '0.6';
CREATE ROLE regress_pgvault_status_reader;
GRANT USAGE ON SCHEMA vault TO regress_pgvault_status_reader;
GRANT SELECT ON vault.status TO regress_pgvault_status_reader;
GRANT EXECUTE ON FUNCTION vault._scheduler_state(), vault._setting_problems(),
                          vault._alert_state() TO regress_pgvault_status_reader;
ALTER EXTENSION pgvault UPDATE;
SET SESSION AUTHORIZATION regress_pgvault_status_reader;
SELECT scheduler_state IS NOT NULL AS reads_status, stale IS NULL AS nothing_stale FROM vault.status;
RESET SESSION AUTHORIZATION;
SELECT has_function_privilege('regress_pgvault_status_reader', 'vault._stale_state()', 'EXECUTE')
       AS granted_with_alert_state,
       has_function_privilege('public', 'vault._stale_state()', 'EXECUTE') AS granted_to_public;
DROP EXTENSION pgvault;
DROP OWNED BY regress_pgvault_status_reader;
DROP ROLE regress_pgvault_status_reader;
-- 0.7 -> 0.10 (0.8, issue 16: vault.wal_summarizer, and vault.history's new
-- last column changed_pages) gives what a fresh 0.10 gives.
CREATE EXTENSION pgvault VERSION '0.7';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_7 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_7)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_7 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
DROP EXTENSION pgvault;
-- The rows stay, the new column empty for them (they did not record it); a
-- role that read vault.history still does, the new column included.
CREATE EXTENSION pgvault VERSION '0.7';
CREATE ROLE regress_pgvault_history_reader;
GRANT USAGE ON SCHEMA vault TO regress_pgvault_history_reader;
GRANT SELECT ON vault.history TO regress_pgvault_history_reader;
INSERT INTO vault.backups (name, kind, trigger, status, parent)
VALUES ('20260101T000000Z-physical', 'physical', 'manual', 'completed', NULL),
       ('20260101T000001Z-incremental', 'incremental', 'manual', 'completed',
        '20260101T000000Z-physical');
ALTER EXTENSION pgvault UPDATE;
SET SESSION AUTHORIZATION regress_pgvault_history_reader;
SELECT name, kind, parent, changed_pages IS NULL AS not_recorded FROM vault.history ORDER BY id;
RESET SESSION AUTHORIZATION;
SELECT object, split_part(detail, ' | ', 1) AS position FROM fresh
 WHERE object IN ('column history.parent', 'column history.changed_pages')
 ORDER BY 2::int;
SELECT count(*) FILTER (WHERE object = 'relation wal_summarizer') AS has_view,
       count(*) FILTER (WHERE object = 'function vault._wal_summarizer_state()') AS has_state,
       count(*) FILTER (WHERE object LIKE 'column wal_summarizer.%') AS view_columns
  FROM fresh;
-- Not for PUBLIC: it names the server's WAL positions.
SELECT has_table_privilege('public', 'vault.wal_summarizer', 'SELECT') AS public_may_read,
       has_function_privilege('public', 'vault._wal_summarizer_state()', 'EXECUTE') AS public_may_call;
DROP EXTENSION pgvault;
DROP OWNED BY regress_pgvault_history_reader;
DROP ROLE regress_pgvault_history_reader;
-- 0.8 -> 0.10 (0.9, issue 16): vault.verify_backup gains depth, a new signature;
-- gives what a fresh 0.10 gives, and the EXECUTE grants DBAs gave on the old
-- one are kept, grant option included.
CREATE EXTENSION pgvault VERSION '0.8';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_8 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_8)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_8 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
DROP EXTENSION pgvault;
CREATE EXTENSION pgvault VERSION '0.8';
CREATE ROLE regress_pgvault_verifier;
CREATE ROLE regress_pgvault_verify_admin;
GRANT EXECUTE ON FUNCTION vault.verify_backup(text) TO regress_pgvault_verifier;
GRANT EXECUTE ON FUNCTION vault.verify_backup(text) TO regress_pgvault_verify_admin WITH GRANT OPTION;
ALTER EXTENSION pgvault UPDATE;
SELECT r.rolname,
       has_function_privilege(r.oid, 'vault.verify_backup(text, text)', 'EXECUTE') AS verify_backup,
       has_function_privilege(r.oid, 'vault.verify_backup(text, text)', 'EXECUTE WITH GRANT OPTION') AS may_grant_it
  FROM pg_roles r WHERE r.rolname LIKE 'regress_pgvault_verif%' ORDER BY 1;
SELECT has_function_privilege('public', 'vault.verify_backup(text, text)', 'EXECUTE') AS public_may_verify,
       to_regprocedure('vault.verify_backup(text)') IS NULL AS old_signature_gone;
SELECT object FROM fresh WHERE object LIKE 'function vault.verify_backup%';
DROP EXTENSION pgvault;
DROP ROLE regress_pgvault_verifier;
DROP ROLE regress_pgvault_verify_admin;
-- 0.9 -> 0.10 (issue 16): the trigger that keeps vault.backups written by
-- pgvault only is C (no search_path to set: it runs no SQL); gives what a
-- fresh 0.10 gives, and the replaced function still refuses a role granted
-- every write, by name and operation, while a superuser writes.
CREATE EXTENSION pgvault VERSION '0.9';
ALTER EXTENSION pgvault UPDATE;
SELECT extversion AS upgraded_version FROM pg_extension WHERE extname = 'pgvault';
CREATE TEMP TABLE upgraded_from_0_9 AS SELECT * FROM pg_temp.vault_shape();
(SELECT 'only fresh' AS side, * FROM fresh EXCEPT SELECT 'only fresh', * FROM upgraded_from_0_9)
UNION ALL
(SELECT 'only upgraded', * FROM upgraded_from_0_9 EXCEPT SELECT 'only upgraded', * FROM fresh)
ORDER BY 2, 1;
SELECT l.lanname, p.prosrc, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid = 'vault._backups_write_guard()'::regprocedure;
CREATE ROLE regress_pgvault_forger;
GRANT USAGE ON SCHEMA vault TO regress_pgvault_forger;
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON vault.backups TO regress_pgvault_forger;
SET SESSION AUTHORIZATION regress_pgvault_forger;
INSERT INTO vault.backups (name, kind, trigger, status) VALUES ('forged', 'physical', 'manual', 'completed');
UPDATE vault.backups SET location = 'file:///elsewhere';
DELETE FROM vault.backups;
TRUNCATE vault.backups;
RESET SESSION AUTHORIZATION;
INSERT INTO vault.backups (name, kind, trigger, status)
VALUES ('20260104T000000Z-physical', 'physical', 'manual', 'completed') RETURNING name, status;
DROP EXTENSION pgvault;
DROP OWNED BY regress_pgvault_forger;
DROP ROLE regress_pgvault_forger;
CREATE EXTENSION pgvault;
