-- Unknown kinds name the valid ones; nothing is recorded for a refused call.
-- Counts below are of this test's rows (other tests take backups too).
SELECT coalesce(max(id), 0) AS before_kinds FROM vault.backups \gset
SELECT * FROM vault.create_backup(kind => 'differential');
SELECT * FROM vault.create_backup(kind => NULL);
SELECT * FROM vault.create_backup(label => repeat('x', 201));
SELECT * FROM vault.create_backup(label => E'two\nlines');
-- The outcome is committed by a background worker: a snapshot-isolated
-- transaction could never see it.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM vault.create_backup();
ROLLBACK;
SELECT count(*) FROM vault.history WHERE status <> 'completed' AND id > :before_kinds;
-- wait => false returns at once with the running backup's row.
SELECT status IN ('running', 'completed') AS accepted, id IS NOT NULL AS has_id
  FROM vault.create_backup(wait => false);
-- Let it finish before the next test looks at the scheduler's state.
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM vault.history WHERE status = 'running');
    PERFORM pg_sleep(0.1);
  END LOOP;
END
$$;
SELECT status, count(*) FROM vault.history WHERE id > :before_kinds GROUP BY status ORDER BY status;
