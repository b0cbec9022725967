-- pgvault 0.9 -> 0.10. Every change here is also in pgvault--0.10.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.10'" to load this file. \quit

-- issue 16: the trigger that keeps vault.backups written by pgvault only is
-- C (a superuser check, the same refusal and hint): its PL/pgSQL body cost
-- every backup's first write 7 ms in each new job worker (the language
-- loaded, the body compiled, a query on pg_roles planned cold). Replaced in
-- place: the trigger, the owner, the revoked EXECUTE and the comment stay.
-- It runs no SQL, so it sets no search_path.
CREATE OR REPLACE FUNCTION vault._backups_write_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgvault_backups_write_guard'
LANGUAGE C;
