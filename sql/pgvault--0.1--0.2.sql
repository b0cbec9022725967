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
