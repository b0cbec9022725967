-- Schedules are checked when set: the field, the value and what is allowed.
ALTER SYSTEM SET pgvault.schedule = '61 2 * * *';
ALTER SYSTEM SET pgvault.schedule = '0 2 * *';
ALTER SYSTEM SET pgvault.schedule = '0 2 * * FUN';
ALTER SYSTEM SET pgvault.schedule = '@reboot';
ALTER SYSTEM SET pgvault.schedule = '90 seconds';
ALTER SYSTEM SET pgvault.schedule = '0 0 31 4,6,9,11 *';
ALTER SYSTEM SET pgvault.timezone = 'Mars/Olympus_Mons';
ALTER SYSTEM SET pgvault.retry_max = -1;
ALTER SYSTEM SET pgvault.schedule = '0 2 * * MON-FRI';
ALTER SYSTEM SET pgvault.timezone = 'Europe/Berlin';
ALTER SYSTEM RESET pgvault.schedule;
ALTER SYSTEM RESET pgvault.timezone;
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('pgvault.schedule', 'pgvault.enabled', 'pgvault.timezone', 'pgvault.catchup_window',
                'pgvault.retry_max', 'pgvault.retry_delay', 'pgvault.retention_days',
                'pgvault.retention_count')
 ORDER BY name;

-- vault.next_runs: check a cron line before putting it in postgresql.conf.
SET timezone = 'UTC';
SELECT * FROM vault.next_runs('30 2 * * *', 3, '2026-03-06 12:00+00', 'America/New_York');
-- 02:30 does not exist on 2026-03-08 in New York: it runs once, at 03:00 EDT.
SELECT * FROM vault.next_runs('30 2 * * *', 3, '2026-03-07 12:00+00', 'America/New_York');
-- 01:30 happens twice on 2026-11-01 in New York: it runs once, the first time.
SELECT * FROM vault.next_runs('30 1 * * *', 2, '2026-10-31 12:00+00', 'America/New_York');
-- Every 15 minutes across the repeated hour: no time runs twice.
SELECT * FROM vault.next_runs('*/15 * * * *', 6, '2026-11-01 04:50+00', 'America/New_York');
-- Berlin: the same rules in another zone.
SELECT * FROM vault.next_runs('30 2 * * *', 2, '2026-03-28 12:00+00', 'Europe/Berlin');
SELECT * FROM vault.next_runs('30 2 * * *', 2, '2026-10-24 12:00+00', 'Europe/Berlin');
-- Day of month and day of week combine as in cron: the 13th or a Friday.
SELECT to_char(t, 'Dy YYYY-MM-DD') FROM vault.next_runs('0 0 13 * FRI', 8, '2026-11-01 00:00+00', 'UTC') t;
SELECT * FROM vault.next_runs('0 0 29 2 *', 2, '2026-01-01 00:00+00', 'UTC');
SELECT * FROM vault.next_runs('@weekly', 2, '2026-11-24 00:00+00', 'UTC');
SELECT * FROM vault.next_runs('3 seconds', 3, '2026-11-24 00:00:01+00', 'UTC');
-- Bad input names what is allowed.
SELECT * FROM vault.next_runs('0 25 * * *');
SELECT * FROM vault.next_runs('@daily', 5, now(), 'Nowhere/Special');
SELECT * FROM vault.next_runs('@daily', 0);
RESET timezone;

-- The scheduler's view, the statistics and the progress of a running backup.
SELECT ordinal_position, column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'vault' AND table_name = 'status' ORDER BY ordinal_position;
SELECT enabled, schedule, timezone, next_run_at, running_backup FROM vault.status;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'vault' AND table_name = 'stats' ORDER BY ordinal_position;
-- A backup of its own, for the statistics to count.
SELECT status FROM vault.create_backup();
SELECT total >= 1 AS has_backups, completed >= 1 AS has_completed, success_rate_percent > 0 AS rate
  FROM vault.stats;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'vault' AND table_name = 'progress' ORDER BY ordinal_position;
-- Idle: no backup running.
SELECT count(*) FROM vault.progress;
-- Nothing to expire without a retention setting; delete_backup checks names.
SELECT * FROM vault.cleanup();
DO $$
BEGIN
  PERFORM vault.delete_backup('no-such-backup');
EXCEPTION WHEN undefined_object THEN
  RAISE NOTICE '%', regexp_replace(SQLERRM, ' in repository .*', ' in repository ...');
END
$$;
SELECT vault.delete_backup('../etc');
SELECT vault.delete_backup(NULL);
