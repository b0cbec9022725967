-- The extension installs into schema vault with its audit table and view.
CREATE EXTENSION pgvault;
SELECT extname, extversion, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'pgvault';
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'vault' AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'vault'
 ORDER BY p.proname COLLATE "C";
-- The library is preloaded, so its settings exist with their defaults.
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'pgvault.%'
   AND name NOT IN ('pgvault.repository', 'pgvault.database')
   AND name !~ '^pgvault\.(s3|azure|gcs|storage)_'  -- see storage_settings
 ORDER BY name;
SELECT current_setting('pgvault.repository') ~ '^file:///.+/pgvault$' AS default_repository_is_beside_datadir;
-- The audit trail is empty until a backup runs.
SELECT count(*) FROM vault.history;
