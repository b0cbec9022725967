# Failures never leave a backup half-listed as restorable or a history row
# stuck 'running': an unwritable repository, a second concurrent request,
# a job worker stopped with SIGTERM, and one killed with SIGKILL; and jobs
# back to back with one background worker slot for them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('failures');
# As in production: a crashed backend restarts the server instead of stopping it.
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->reload;
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');

sub listed_backups {
  my ($out) = run_command([ 'pgvault', 'list', '--repo', shift, '--json' ]);
  return scalar @{ decode_json($out) };
}

# 1. Repository not writable: the row fails with the OS error.
my $readonly = PostgreSQL::Test::Utils::tempdir() . '/readonly';
mkdir $readonly or die $!;
chmod 0500, $readonly;
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.repository = 'file://$readonly/repo'; SELECT pg_reload_conf()");
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'backup into an unwritable repository fails');
like($stderr, qr/Permission denied/, 'the error names the OS error');
is($node->safe_psql('postgres', q{SELECT status || ':' || CASE WHEN error_message ~ 'Permission denied' THEN 'os error' ELSE error_message END FROM vault.history ORDER BY id DESC LIMIT 1}),
  'failed:os error', 'history row is failed with the OS error');
my ($list_out, $list_err) = run_command([ 'pgvault', 'list', '--repo', "file://$readonly/repo" ]);
like($list_err, qr/repository file:\/\/\Q$readonly\E\/repo does not exist/,
  'nothing listed as restorable: the repository was never created');
chmod 0700, $readonly;

# Throttle the server so that a backup runs long enough to interfere with.
my ($sysid) = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my ($repo_dir) = $repo =~ m{^file://(.*)$};
# Waits until the backup has written part of its first object: then there
# is a partial backup whose removal the test can prove.
my $wait_for_partial = sub {
  my ($name) = @_;
  ok($node->poll_query_until('postgres',
      "SELECT count(*) > 0 FROM pg_ls_dir('$repo_dir/$sysid/backups/$name', true, false) f WHERE f LIKE 'base.tar%'"),
    "backup $name is writing its first object");
  ok(-e "$repo_dir/$sysid/backups/$name", 'so its partial objects exist in the repository');
};
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.repository = '$repo'; ALTER SYSTEM SET pgvault.max_rate = '32kB'; SELECT pg_reload_conf()");

# 2. A second request while one runs fails at once, naming the running one.
my $id = $node->safe_psql('postgres', q{SELECT id FROM vault.create_backup(wait => false)});
my $name = $node->safe_psql('postgres', "SELECT name FROM vault.history WHERE id = $id");
is($node->safe_psql('postgres', "SELECT status FROM vault.history WHERE id = $id"), 'running',
  'wait => false returns with the backup running');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
like($stderr, qr/backup "\Q$name\E" \(id $id\) is already running/, 'second request names the running backup');

# 3. SIGTERM (pg_terminate_backend): the worker records the failure itself.
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pgvault backup'"),
  'job worker visible in pg_stat_activity');
$wait_for_partial->($name);
$node->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pgvault backup'");
ok(wait_for_status($node, $id, 'failed'), 'terminated backup is recorded as failed');
like($node->safe_psql('postgres', "SELECT error_message FROM vault.history WHERE id = $id"),
  qr/job worker was stopped/, 'the row says the worker was stopped');
ok(!-e "$repo_dir/$sysid/backups/$name", 'partial objects of the terminated backup removed');

# vault.cancel_backup(): the row says 'cancelled' and nothing is left.
$id = $node->safe_psql('postgres', q{SELECT id FROM vault.create_backup(wait => false)});
$name = $node->safe_psql('postgres', "SELECT name FROM vault.history WHERE id = $id");
$wait_for_partial->($name);
is($node->safe_psql('postgres', 'SELECT vault.cancel_backup()'), 't', 'cancel_backup finds the running backup');
ok(wait_for_status($node, $id, 'cancelled'), 'cancelled backup is recorded as cancelled');
ok(!-e "$repo_dir/$sysid/backups/$name", 'partial objects of the cancelled backup removed');
is($node->safe_psql('postgres', 'SELECT vault.cancel_backup()'), 'f', 'nothing left to cancel');

# 4. SIGKILL mid-backup: the server restarts, the row does not stay running,
#    and the partial backup is neither listed nor left behind.
$id = $node->safe_psql('postgres', q{SELECT id FROM vault.create_backup(wait => false)});
$name = $node->safe_psql('postgres', "SELECT name FROM vault.history WHERE id = $id");
$wait_for_partial->($name);
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM vault.backups WHERE id = $id");
kill 'KILL', $pid;
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM vault.backups WHERE id = $id"),
  'after the crash restart the killed backup is failed, not running');
like($node->safe_psql('postgres', "SELECT error_message FROM vault.history WHERE id = $id"),
  qr/interrupted by server restart/, 'the row says why');
is(listed_backups($repo), 0, 'pgvault list does not list the partial backup');
ok(!-e "$repo_dir/$sysid/backups/$name", 'partial objects of the killed backup removed');

# 5. Once the store is usable again, the next backup succeeds.
$node->safe_psql('postgres', "ALTER SYSTEM RESET pgvault.max_rate; SELECT pg_reload_conf()");
is($node->safe_psql('postgres', 'SELECT status FROM vault.create_backup()'), 'completed', 'next backup succeeds');
is(listed_backups($repo), 1, 'exactly one restorable backup listed');
is($node->safe_psql('postgres', "SELECT count(*) FROM vault.history WHERE status = 'running'"), '0',
  'no row left running');

# 6. A crash that loses the completion's commit (written without waiting for
#    its WAL flush: backup.json in the repository is the durable record).
#    The row is put back as the crash would leave it; after the restart the
#    scheduler reads backup.json and the row says completed again.
my ($done_id, $done_name, $done_sha) = split /\|/, $node->safe_psql('postgres',
  "SELECT id, name, sha256 FROM vault.history WHERE status = 'completed' ORDER BY id DESC LIMIT 1");
$node->safe_psql('postgres', qq{
SET session_replication_role = replica;  -- past the trigger that keeps the audit trail pgvault's
UPDATE vault.backups SET status = 'running', completed_at = NULL, sha256 = NULL, stop_lsn = NULL
WHERE id = $done_id;
});
$node->stop('immediate');
$node->start;
ok($node->poll_query_until('postgres', "SELECT status = 'completed' FROM vault.backups WHERE id = $done_id"),
  'a completed backup whose row was left running is completed again after the restart');
is($node->safe_psql('postgres', "SELECT sha256 || ' ' || (stop_lsn IS NOT NULL) || ' ' || (completed_at IS NOT NULL) FROM vault.backups WHERE id = $done_id"),
  "$done_sha true true", 'its row is filled from backup.json');
ok($node->log_contains(qr/backup "\Q$done_name\E" is complete in the repository; its row now says so/),
  'the server log says the row was settled from the repository');
is(listed_backups($repo), 1, 'still the one restorable backup');

# 7. Back to back with one background worker slot for jobs (the logical
#    replication launcher and pgvault's three static workers take the other
#    four): a backup's caller returns once its worker released the job, while
#    that process may still be exiting; the next backup waits for the slot
#    instead of failing.
$node->append_conf('postgresql.conf', 'max_worker_processes = 5');
$node->restart;
is($node->safe_psql('postgres', join("\n", ('SELECT status FROM vault.create_backup();') x 4)),
  join("\n", ('completed') x 4), 'four backups in a row, one worker slot for them');
is($node->safe_psql('postgres', "SELECT count(*) FROM vault.history WHERE status = 'running'"), '0',
  'no row left running');

$node->stop;
done_testing();
