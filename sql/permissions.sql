-- Mutating functions are not for PUBLIC.
-- Counts below are of this test's rows (other tests take backups too).
SELECT coalesce(max(id), 0) AS before_permissions FROM vault.backups \gset
CREATE ROLE regress_pgvault_app LOGIN;
GRANT USAGE ON SCHEMA vault TO regress_pgvault_app;
SET ROLE regress_pgvault_app;
SELECT * FROM vault.create_backup();
SELECT * FROM vault.history;
-- Connection settings may hold a password: superuser only.
SHOW pgvault.replication_conninfo;
RESET ROLE;
-- A granted role can take a backup; initiated_by records who asked.
GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) TO regress_pgvault_app;
GRANT SELECT ON vault.history TO regress_pgvault_app;
SET SESSION AUTHORIZATION regress_pgvault_app;
-- create_backup returns what a person wants to see then (issue 19)...
SELECT id > :before_permissions AS new_id, name ~ '^\d{8}T\d{6}Z-physical(-\d+)?$' AS named, kind,
       status, duration > '0' AS took_time, source_size ~ '^\d+ (bytes|kB|MB|GB)$' AS source_size,
       stored_size ~ '^\d+ (bytes|kB|MB|GB)$' AS stored_size, location ~ '^file://' AS location
  FROM vault.create_backup(label => 'regress');
-- ... and vault.history has the whole row.
SELECT kind, trigger, status, initiated_by, label, database, stored_bytes > 0 AS stored,
       source_bytes > stored_bytes AS compressed, length(sha256) AS sha256_length,
       stop_lsn > start_lsn AS lsn_advanced, timeline, compression, error_message
  FROM vault.history WHERE label = 'regress';
-- Still no direct access to the internals.
SELECT * FROM vault._scheduler_state();
RESET SESSION AUTHORIZATION;
SELECT count(*) AS backups, count(*) FILTER (WHERE status = 'completed') AS completed
  FROM vault.history WHERE id > :before_permissions;
REVOKE ALL ON vault.history FROM regress_pgvault_app;
REVOKE ALL ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) FROM regress_pgvault_app;
REVOKE ALL ON SCHEMA vault FROM regress_pgvault_app;
DROP ROLE regress_pgvault_app;
