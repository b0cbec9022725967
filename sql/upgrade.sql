-- ALTER EXTENSION pgvault UPDATE from every earlier version gives exactly
-- what a fresh install of the current version gives: the same functions
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
