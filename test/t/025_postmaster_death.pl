# Postmaster death while the job worker waits on its libpq connection
# (LibpqConnection, here pacing a physical backup with pgvault.max_rate):
# the worker exits at once, as PostgreSQL's own processes do, instead of
# working on for a server that is gone; the server then starts again, the
# row does not stay 'running' and the partial backup is neither listed nor
# left behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('pmdeath');
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.max_rate = '32kB'; SELECT pg_reload_conf()");

my $id = $node->safe_psql('postgres', q{SELECT id FROM vault.create_backup(wait => false)});
my $name = $node->safe_psql('postgres', "SELECT name FROM vault.history WHERE id = $id");
ok($node->poll_query_until('postgres',
    "SELECT count(*) > 0 FROM pg_ls_dir('$repo_dir/$sysid/backups/$name', true, false) f WHERE f LIKE 'base.tar%'"),
  "backup $name is streaming");
my $worker = $node->safe_psql('postgres', "SELECT worker_pid FROM vault.backups WHERE id = $id");
my $walsender = $node->safe_psql('postgres',
  q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = 'pgvault'});
ok($worker > 0 && $walsender > 0, 'the job worker and its walsender are running');

$node->kill9;
my $gone = sub {
  my ($pid) = @_;
  foreach (1 .. $PostgreSQL::Test::Utils::timeout_default * 10) {
    return 1 unless kill(0, $pid);
    select(undef, undef, undef, 0.1);
  }
  return 0;
};
ok($gone->($worker), 'the job worker exits when the postmaster dies');
ok($gone->($walsender), 'and so does its walsender');

# The server starts once the last of its old processes is gone (until then
# its shared memory is still in use).
my $started = 0;
foreach (1 .. $PostgreSQL::Test::Utils::timeout_default) {
  last if ($started = $node->start(fail_ok => 1));
  sleep 1;
}
ok($started, 'the server starts again');
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM vault.backups WHERE id = $id"),
  'after the restart the backup is failed, not running');
like($node->safe_psql('postgres', "SELECT error_message FROM vault.history WHERE id = $id"),
  qr/interrupted by server restart/, 'the row says why');
my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
is(scalar @{ decode_json($out) }, 0, 'pgvault list does not list the partial backup');
ok(!-e "$repo_dir/$sysid/backups/$name", 'partial objects of the backup removed');

$node->safe_psql('postgres', "ALTER SYSTEM RESET pgvault.max_rate; SELECT pg_reload_conf()");
is($node->safe_psql('postgres', 'SELECT status FROM vault.create_backup()'), 'completed',
  'the next backup succeeds');
$node->stop;
done_testing();
