# The scheduler: backups that run themselves from postgresql.conf, reload
# without restart, retention, retries, skipped and missed runs, NOTIFY
# events, crash recovery, and an idle scheduler that does not burn CPU.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('scheduler');
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->reload;
my ($repo_dir) = $repo =~ m{^file://(.*)$};
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], 'pgbench data loaded');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

sub set_conf {
  my ($sql) = @_;
  $node->safe_psql('postgres', "$sql; SELECT pg_reload_conf()");
}
sub scalar_query { return $node->safe_psql('postgres', shift) }
sub count_rows { return scalar_query("SELECT count(*) FROM vault.history WHERE " . shift) }

# --- 1. '3 seconds' takes backups on its own -------------------------------
set_conf(q{ALTER SYSTEM SET pgvault.schedule = '3 seconds'});
ok($node->poll_query_until('postgres',
    q{SELECT count(*) >= 2 FROM vault.history WHERE trigger = 'scheduled' AND status = 'completed'}),
  'scheduler takes backups by itself');
is(count_rows(q{trigger = 'scheduled' AND (initiated_by <> 'scheduler' OR scheduled_for IS NULL)}), '0',
  'scheduled rows say who and which fire time');
my $status = scalar_query(q{
SELECT scheduler_pid > 0, enabled, schedule, timezone,
       -- not before the fire time of the newest scheduled run, at most one interval ahead
       next_run_at >= (SELECT max(scheduled_for) FROM vault.history WHERE trigger = 'scheduled')
         AND next_run_at <= now() + interval '3 seconds',
       extract(epoch FROM next_run_at)::bigint % 3 = 0,
       backup_today, last_success_name IS NOT NULL, repository = current_setting('pgvault.repository')
  FROM vault.status});
is($status, 't|t|3 seconds|UTC|t|t|t|t|t', 'vault.status: scheduler, schedule, next run, today\'s backup');

# --- 2. enabled = off stops it, on resumes it, with no restart --------------
set_conf(q{ALTER SYSTEM SET pgvault.enabled = off});
ok($node->poll_query_until('postgres', q{SELECT scheduler_state = 'disabled' AND next_run_at IS NULL FROM vault.status}),
  'disabled scheduler says so and has no next run');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM vault.history WHERE status = 'running'}),
  'the last scheduled backup finished');
my $before = count_rows(q{trigger = 'scheduled'});
sleep 5;
is(count_rows(q{trigger = 'scheduled'}), $before, 'no scheduled backup while disabled');
set_conf(q{ALTER SYSTEM SET pgvault.enabled = on});
ok($node->poll_query_until('postgres', "SELECT count(*) > $before FROM vault.history WHERE trigger = 'scheduled'"),
  'scheduling resumes when enabled again');
is(scalar_query('SELECT pg_postmaster_start_time()'), $started, 'all without a restart');

# --- 3. retention_count = 2 -------------------------------------------------
set_conf(q{ALTER SYSTEM SET pgvault.retention_count = 2});
my $completed = count_rows(q{status = 'completed'});
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM vault.history WHERE status = 'expired'}),
  'retention expires old backups after a successful one');
set_conf(q{ALTER SYSTEM SET pgvault.enabled = off});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM vault.history WHERE status = 'running'}),
  'scheduler quiet');
scalar_query('SELECT count(*) FROM vault.cleanup()');
my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
my @listed = map { $_->{name} } @{ decode_json($out) };
is(scalar @listed, 2, 'only two backups remain restorable');
is(join(',', sort @listed), scalar_query(q{SELECT string_agg(name, ',' ORDER BY name) FROM vault.history WHERE status = 'completed'}),
  'they are the rows still completed');
my @dirs = grep { -d } glob("$repo_dir/$sysid/backups/*");
is(scalar @dirs, 2, 'expired backups\' objects are gone from the repository');
is(scalar_query(q{SELECT bool_and(completed_at IS NOT NULL AND sha256 IS NOT NULL) FROM vault.history WHERE status = 'expired'}),
  't', 'expired rows keep their audit trail');
my $newest = scalar_query(q{SELECT name FROM vault.history WHERE status = 'completed' ORDER BY completed_at DESC LIMIT 1});
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT vault.delete_backup('$newest')");
like($stderr, qr/newest complete physical backup of this cluster; pgvault never removes it/, 'delete_backup refuses the newest');
my $older = scalar_query(q{SELECT name FROM vault.history WHERE status = 'completed' ORDER BY completed_at LIMIT 1});
is(scalar_query("SELECT status FROM vault.delete_backup('$older')"), 'deleted', 'delete_backup removes an older one');
ok(!-e "$repo_dir/$sysid/backups/$older", 'its objects are gone');
set_conf(q{ALTER SYSTEM RESET pgvault.retention_count});

# --- 4. NOTIFY pgvault ------------------------------------------------------
($ret, $stdout, $stderr) = $node->psql('postgres',
  q{LISTEN pgvault; SELECT status FROM vault.create_backup(label => 'notify'); SELECT 1});
my @events = map { decode_json($_) } $stdout =~ /Asynchronous notification "pgvault" with payload "(\{.*?\})" received/g;
my @kinds = map { $_->{event} } grep { ($_->{kind} // '') eq 'physical' } @events;
is(join(',', @kinds), 'started,completed', 'a listener hears started and completed');
ok($events[-1]{stored_bytes} > 0 && $events[-1]{name} =~ /physical/, 'payload carries name and sizes');
sub events_of {
  my ($sql) = @_;
  my ($r, $o, $e) = $node->psql('postgres', "LISTEN pgvault; $sql; SELECT 1");
  return map { decode_json($_) } $o =~ /Asynchronous notification "pgvault" with payload "(\{.*?\})" received/g;
}
set_conf(q{ALTER SYSTEM SET pgvault.retention_count = 1});
@events = events_of(q{SELECT status FROM vault.create_backup(label => 'notify expired')});
my @expired = grep { $_->{event} eq 'expired' } @events;
ok(@expired >= 1 && $expired[0]{status} eq 'expired', 'a listener hears expired, with the expired backup\'s name')
  or diag explain \@events;
set_conf(q{ALTER SYSTEM RESET pgvault.retention_count});
my $nowhere = PostgreSQL::Test::Utils::tempdir() . '/file';
open(my $touch, '>', $nowhere) or die $!;
close $touch;
set_conf(qq{ALTER SYSTEM SET pgvault.repository = 'file://$nowhere/repo'});
@events = events_of(q{SELECT status FROM vault.create_backup(label => 'notify failed')});
my ($failed) = grep { $_->{event} eq 'failed' } @events;
ok($failed && $failed->{error} =~ /Not a directory/, 'a listener hears failed, with the error') or diag explain \@events;
set_conf(qq{ALTER SYSTEM SET pgvault.repository = '$repo'});

# --- 5. skipped while a backup runs; retries ---------------------------------
set_conf(q{ALTER SYSTEM SET pgvault.max_rate = '32kB'});
my $slow = scalar_query(q{SELECT id FROM vault.create_backup(wait => false)});
set_conf(q{ALTER SYSTEM SET pgvault.enabled = on});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM vault.history WHERE status = 'skipped' AND error_message LIKE 'skipped: backup %is already running%'}),
  'a run due while a backup runs is skipped and recorded');
# Disabled before the slot frees up: otherwise the next fire time could
# start a scheduled backup at 32kB/s that outlives the rest of the test.
set_conf(q{ALTER SYSTEM SET pgvault.enabled = off});
ok($node->poll_query_until('postgres', q{SELECT scheduler_state = 'disabled' FROM vault.status}),
  'scheduler disabled while the slow backup still runs');
scalar_query('SELECT vault.cancel_backup()');
ok($node->poll_query_until('postgres', "SELECT status = 'cancelled' FROM vault.history WHERE id = $slow"), 'slow backup cancelled');
set_conf(q{ALTER SYSTEM RESET pgvault.max_rate});

# Failures: an unwritable repository, retried twice with growing delay.
my $readonly = PostgreSQL::Test::Utils::tempdir() . '/readonly';
mkdir $readonly or die $!;
chmod 0500, $readonly;
my $last_id = scalar_query('SELECT max(id) FROM vault.backups');
set_conf(qq{ALTER SYSTEM SET pgvault.repository = 'file://$readonly/repo';
  ALTER SYSTEM SET pgvault.retry_max = 2; ALTER SYSTEM SET pgvault.retry_delay = '1s';
  ALTER SYSTEM SET pgvault.schedule = '20 seconds'; ALTER SYSTEM SET pgvault.enabled = on});
ok($node->poll_query_until('postgres',
    "SELECT count(*) = 2 FROM vault.history WHERE id > $last_id AND trigger = 'retry' AND status = 'failed'"),
  'a failed scheduled backup is retried');
my $attempts = scalar_query("SELECT string_agg(trigger || ':' || attempt, ',' ORDER BY id) FROM vault.history
  WHERE id > $last_id AND scheduled_for = (SELECT min(scheduled_for) FROM vault.history WHERE id > $last_id AND trigger = 'scheduled')");
is($attempts, 'scheduled:1,retry:2,retry:3', 'retried retry_max times for the same fire time');
is(scalar_query("SELECT bool_and(error_message ~ 'Permission denied') FROM vault.history WHERE id > $last_id AND status = 'failed'"),
  't', 'each attempt records the error');
# Lower bounds only: the delays are minimums, whatever the machine's load.
is(scalar_query("SELECT extract(epoch FROM t[2] - t[1]) >= 1 AND extract(epoch FROM t[3] - t[2]) >= 2
  FROM (SELECT array_agg(started_at ORDER BY id) AS t FROM vault.history
         WHERE id > $last_id AND scheduled_for = (SELECT min(scheduled_for) FROM vault.history
                                                 WHERE id > $last_id AND trigger = 'scheduled')) a"),
  't', 'the delay grows: 1 s before the first retry, 2 s before the second');
set_conf(qq{ALTER SYSTEM SET pgvault.enabled = off; ALTER SYSTEM SET pgvault.repository = '$repo'});
chmod 0700, $readonly;

# --- 6. a server killed mid-backup comes back with the row failed ------------
set_conf(q{ALTER SYSTEM SET pgvault.max_rate = '32kB'});
my $killed = scalar_query(q{SELECT id FROM vault.create_backup(wait => false)});
$node->stop('immediate');
$node->start;
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM vault.history WHERE id = $killed"),
  'after an immediate shutdown the running backup is failed');
like(scalar_query("SELECT error_message FROM vault.history WHERE id = $killed"), qr/interrupted by server restart/,
  'the row says why');
set_conf(q{ALTER SYSTEM RESET pgvault.max_rate});

# --- 7. missed runs: caught up inside the window, skipped outside it ---------
set_conf(q{ALTER SYSTEM SET pgvault.schedule = '3 seconds'; ALTER SYSTEM SET pgvault.enabled = on});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM vault.history WHERE trigger = 'scheduled' AND status = 'completed' AND started_at > pg_postmaster_start_time()}),
  'scheduled backups run again');
$node->stop;
sleep 4;
$node->start;
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM vault.history WHERE trigger = 'scheduled'
    AND scheduled_for < pg_postmaster_start_time() AND started_at >= pg_postmaster_start_time()}),
  'a run missed while down (inside catchup_window) runs at start-up');
# Make the newest missed run an hourly one long past: the top of this hour.
set_conf(q{ALTER SYSTEM SET pgvault.catchup_window = '1s'; ALTER SYSTEM SET pgvault.schedule = '@hourly'});
$node->stop;
$node->start;
$node->safe_psql('postgres', q{UPDATE vault.backups SET scheduled_for = scheduled_for - interval '2 hours' WHERE trigger = 'scheduled'});
$node->restart;
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM vault.history WHERE status = 'skipped'
    AND error_message LIKE 'missed while the server was down%' AND started_at >= pg_postmaster_start_time()}),
  'a run missed longer ago than catchup_window is skipped and recorded');

# --- 8. an idle scheduler sleeps -------------------------------------------------
set_conf(q{ALTER SYSTEM SET pgvault.schedule = '0 3 * * *'; ALTER SYSTEM RESET pgvault.catchup_window});
ok($node->poll_query_until('postgres', q{SELECT scheduler_state = 'sleeping' AND next_run_at > now() + interval '1 minute' FROM vault.status}),
  'scheduler sleeping until 03:00');
my $pid = scalar_query('SELECT scheduler_pid FROM vault.status');
sub cpu_ticks {
  open(my $fh, '<', "/proc/$pid/stat") or return -1;
  my @f = split ' ', (split /\)\s/, <$fh>)[1];
  return $f[11] + $f[12];    # utime + stime
}
my $t0 = cpu_ticks();
sleep 10;
my $used = cpu_ticks() - $t0;
note("scheduler CPU over 10 s idle: $used ticks");
ok($t0 >= 0 && $used <= 5, "idle scheduler used $used clock ticks in 10 s (sleeps on its latch)");

$node->stop;
done_testing();
