-- pgvault 0.8 -> 0.9. Every change here is also in pgvault--0.9.sql (a
-- fresh install); the upgrade test checks that both give the same objects.
\echo Use "ALTER EXTENSION pgvault UPDATE TO '0.9'" to load this file. \quit

-- issue 16: vault.verify_backup gains depth ('decoded', the default, as
-- before; 'stored': the stored bytes only, as `pgvault verify --stored-only`).
-- A new argument is a new signature: the function is created anew and the
-- EXECUTE grants DBAs gave on the old one are carried over, grant option
-- included, before it is dropped.
CREATE FUNCTION vault.verify_backup(name text DEFAULT 'latest', depth text DEFAULT 'decoded',
                                    OUT backup text, OUT verified boolean, OUT objects bigint,
                                    OUT files bigint, OUT bytes_read bigint, OUT error text)
AS 'MODULE_PATHNAME', 'pgvault_verify_backup'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION vault.verify_backup(text, text) IS
  'pgvault: read a backup back and check it (depth decoded: everything restore reads; stored: '
  'the stored bytes only); records verified_at and verify_status';

REVOKE ALL ON FUNCTION vault.verify_backup(text, text) FROM PUBLIC;

DO LANGUAGE plpgsql $grants$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT a.grantee, a.is_grantable
          FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid OPERATOR(pg_catalog.=) 'vault.verify_backup(text)'::pg_catalog.regprocedure
           AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        EXECUTE pg_catalog.format(
            'GRANT EXECUTE ON FUNCTION vault.verify_backup(text, text) TO %s%s',
            CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
            CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$grants$;
DROP FUNCTION vault.verify_backup(text);
