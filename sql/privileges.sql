-- issue 12: the privilege boundaries of pgvault's SQL surface.
-- PUBLIC can execute nothing in vault, and has no privilege on its relations.
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'vault'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1::text;
SELECT count(*) >= 16 AS checked_every_function
  FROM pg_proc WHERE pronamespace = 'vault'::regnamespace;
SELECT c.oid::regclass AS public_has_privileges
  FROM pg_class c
 WHERE c.relnamespace = 'vault'::regnamespace AND c.relkind IN ('r', 'v', 'S')
   AND (has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR (c.relkind = 'S' AND has_sequence_privilege('public', c.oid, 'USAGE, SELECT, UPDATE')));
-- Every SECURITY DEFINER function pins search_path.
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'vault'::regnamespace AND p.prosecdef
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);
CREATE ROLE regress_pgvault_ops LOGIN;
GRANT USAGE ON SCHEMA vault TO regress_pgvault_ops;
-- A monitoring role reads vault.status with SELECT on it and EXECUTE on the
-- functions behind it (function privileges in a view are the reader's).
GRANT SELECT ON vault.status TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT scheduler_state IS NOT NULL AS has_state FROM vault.status;
RESET SESSION AUTHORIZATION;
GRANT EXECUTE ON FUNCTION vault._scheduler_state(), vault._setting_problems(), vault._alert_state(), vault._stale_state() TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT scheduler_state IS NOT NULL AS has_state FROM vault.status;
RESET SESSION AUTHORIZATION;
-- vault.wal_summarizer likewise: SELECT alone is refused at its function.
GRANT SELECT ON vault.wal_summarizer TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
\set VERBOSITY terse
SELECT enabled FROM vault.wal_summarizer;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
GRANT EXECUTE ON FUNCTION vault._wal_summarizer_state() TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT enabled, summary_files >= 0 AS counted, incremental_changes FROM vault.wal_summarizer;
RESET SESSION AUTHORIZATION;
-- vault.test_alert() sends through the configured alert channels: refused
-- to a role without EXECUTE on it.
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT * FROM vault.test_alert();
RESET SESSION AUTHORIZATION;
-- issue 19: the SQL API's functions are C functions themselves (an error
-- has no wrapper's CONTEXT line); no internal function stands behind them.
SELECT p.oid::regprocedure AS api_function, l.lanname, p.prosecdef
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'vault'::regnamespace
   AND p.proname IN ('create_backup', 'verify_backup', 'verify_wal', 'cleanup', 'delete_backup',
                     'restore_logical', 'test_alert')
 ORDER BY 1::text;
-- What starts with "_" is internal and says so.
SELECT p.oid::regprocedure AS internal_function,
       obj_description(p.oid, 'pg_proc') LIKE 'pgvault internal: %' AS documented_internal
  FROM pg_proc p
 WHERE p.pronamespace = 'vault'::regnamespace AND p.proname LIKE '\_%'
 ORDER BY 1::text;
-- A role granted vault.verify_backup verifies without any privilege on
-- vault.backups, and the outcome is recorded on the row.
SELECT status FROM vault.create_backup(label => 'privileges');
GRANT EXECUTE ON FUNCTION vault.verify_backup(text, text) TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT verified, objects > 0 AS has_objects, error FROM vault.verify_backup();
UPDATE vault.backups SET location = 'file:///elsewhere';
RESET SESSION AUTHORIZATION;
SELECT verify_status, verified_at IS NOT NULL AS verified_at_set
  FROM vault.history WHERE label = 'privileges';
-- depth => 'stored' checks each object's size and SHA-256 only: it passes,
-- opens no archive (files is NULL) and, proving less than a decoded check,
-- leaves the row as the decoded check left it. Any other depth is refused.
SELECT verified_at AS decoded_verified_at FROM vault.history WHERE label = 'privileges' \gset
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT verified, objects > 0 AS has_objects, files IS NULL AS no_files, bytes_read > 0 AS has_read,
       error FROM vault.verify_backup(depth => 'stored');
SELECT * FROM vault.verify_backup(depth => 'shallow');
RESET SESSION AUTHORIZATION;
SELECT verify_status, verified_at = :'decoded_verified_at' AS verified_at_unchanged
  FROM vault.history WHERE label = 'privileges';
-- Even a granted role cannot write the audit trail: only pgvault (as
-- superuser) writes it.
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON vault.backups TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
UPDATE vault.backups SET location = 'file:///elsewhere';
DELETE FROM vault.backups;
TRUNCATE vault.backups;
INSERT INTO vault.backups (name, kind, trigger, status) VALUES ('forged', 'physical', 'manual', 'completed');
RESET SESSION AUTHORIZATION;
REVOKE ALL ON vault.backups FROM regress_pgvault_ops;
SELECT count(*) AS forged_rows FROM vault.backups WHERE name = 'forged' OR location = 'file:///elsewhere';
-- create_backup(database => X) needs the session user's CONNECT on X.
CREATE DATABASE regress_pgvault_private;
REVOKE CONNECT ON DATABASE regress_pgvault_private FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT status FROM vault.create_backup(kind => 'logical', database => 'regress_pgvault_private');
RESET SESSION AUTHORIZATION;
SELECT count(*) AS backups_of_private FROM vault.backups WHERE database = 'regress_pgvault_private';
GRANT CONNECT ON DATABASE regress_pgvault_private TO regress_pgvault_ops;
SET SESSION AUTHORIZATION regress_pgvault_ops;
SELECT kind, status FROM vault.create_backup(kind => 'logical', database => 'regress_pgvault_private');
RESET SESSION AUTHORIZATION;
SELECT status, database, initiated_by FROM vault.history
 WHERE database = 'regress_pgvault_private';
DROP DATABASE regress_pgvault_private;
REVOKE ALL ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) FROM regress_pgvault_ops;
REVOKE ALL ON FUNCTION vault.verify_backup(text, text) FROM regress_pgvault_ops;
REVOKE ALL ON FUNCTION vault._scheduler_state(), vault._setting_problems(), vault._alert_state(), vault._stale_state() FROM regress_pgvault_ops;
REVOKE ALL ON vault.status FROM regress_pgvault_ops;
REVOKE ALL ON SCHEMA vault FROM regress_pgvault_ops;
-- CREATE EXTENSION refuses a schema vault someone else prepared.
DROP EXTENSION pgvault;
DROP SCHEMA IF EXISTS vault;
CREATE ROLE regress_pgvault_installer SUPERUSER;
SET SESSION AUTHORIZATION regress_pgvault_installer;
CREATE SCHEMA vault AUTHORIZATION regress_pgvault_ops;
CREATE EXTENSION pgvault;
ALTER SCHEMA vault OWNER TO regress_pgvault_installer;
GRANT CREATE ON SCHEMA vault TO regress_pgvault_ops;
CREATE EXTENSION pgvault;
REVOKE CREATE ON SCHEMA vault FROM regress_pgvault_ops;
CREATE VIEW vault.history AS SELECT 1 AS id;
CREATE EXTENSION pgvault;
DROP VIEW vault.history;
-- An empty schema vault of the installing role is fine.
CREATE EXTENSION pgvault;
SELECT extname, extnamespace::regnamespace AS schema, pg_get_userbyid(extowner) AS owner
  FROM pg_extension WHERE extname = 'pgvault';
DROP EXTENSION pgvault;
DROP SCHEMA vault;
RESET SESSION AUTHORIZATION;
CREATE EXTENSION pgvault;
DROP ROLE regress_pgvault_installer;
DROP ROLE regress_pgvault_ops;
