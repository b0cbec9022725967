# Staleness (issue 17, item 4): pgvault.stale_after against the newest
# complete backup in the repository, measured by the alerts worker, which
# needs no database. "Never backed up" counts from the set-up time in the
# data directory (made old here by rewriting it, the server stopped), also
# with pgvault.database naming a database that does not exist; a backup
# clears it ("recovered", NOTIFY stale_recovered); a repository whose newest
# backup.json says it completed two days ago is stale at once; and WAL
# archiving that stopped (archive_mode on, nothing archives) is stale once a
# finished WAL file waited longer than wal=….
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgVault::TestNode;
use PgVault::AlertReceiver;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $receiver = PgVault::AlertReceiver->start($tmp);
my ($node, $repo) = new_vault_node('stale-db', conf => "pgvault.alert_webhook_url = '"
    . $receiver->url('/hook') . "'\npgvault.stale_after = 'physical=1d'\n");
sub sql { return $node->safe_psql('postgres', shift) }
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = sql('SELECT system_identifier FROM pg_control_system()');
my $set_up_file = $node->data_dir . '/pgvault_set_up_at';

# The set-up time, recorded at the first start.
ok($node->poll_query_until('postgres', q{SELECT alert_channels = 'webhook' FROM vault.status}),
  'the alerts worker runs');
ok(-e $set_up_file, 'the set-up time is recorded in the data directory');
my ($set_up) = slurp_file($set_up_file) =~ /^(\d+)/;
ok(abs($set_up - time) < 600, 'as the time of the first start');
is(sql('SELECT stale IS NULL FROM vault.status'), 't', 'set up just now: nothing is stale');
is(sql(q{SHOW pgvault.alert_on}), 'backup_failed, archive_failed, verify_failed, misconfigured, stale, anomaly, recovered',
  'stale and anomaly alert by default');
my ($ret, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgvault.stale_after = 'phsyical=26h'});
like($err, qr/pgvault\.stale_after: unknown kind "phsyical"; allowed: a duration such as 26h/, 'a misspelt kind is refused');
($ret, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgvault.stale_after = '26'});
like($err, qr/"26" needs a unit \(s, min, h or d\)/, 'so is a duration without a unit');

# Set up three days ago, never backed up, and pgvault.database does not
# exist: the scheduler cannot run, the alerts worker still says so.
$node->stop;
PostgreSQL::Test::Utils::append_to_file($set_up_file . '.new', (time - 3 * 86400) . "\n");
rename($set_up_file . '.new', $set_up_file) or die $!;
unlink $set_up_file . '.new';
$node->append_conf('postgresql.conf', "pgvault.database = 'no_such_database'\n");
$node->start;
ok($receiver->wait_for_events('stale', 1, kind => 'physical'), 'stale fired with pgvault.database missing');
my ($stale) = $receiver->bodies('stale', kind => 'physical');
like($stale->{text}, qr/^stale-db: no physical backup has completed in the 3d(?: \S+)? since pgvault was set up \(none in the repository; pgvault\.stale_after physical=1d\)$/,
  'saying since when and which limit');
is($stale->{subject}, 'physical backups', 'its subject');
like(sql('SELECT scheduler_state FROM vault.status'), qr/cannot connect to pgvault\.database "no_such_database"/,
  'while the scheduler cannot connect');
like(sql('SELECT stale FROM vault.status'), qr/^physical: no physical backup has completed in the 3d/,
  'vault.status.stale says so');
like(slurp_file($node->logfile), qr/WARNING:  pgvault: no physical backup has completed in the 3d/, 'and the log');

# The database back: a restart alerts again (the worker keeps no state across
# restarts), and the backup that completes clears it, with NOTIFY.
$node->append_conf('postgresql.conf', "pgvault.database = 'postgres'\n");
$node->restart;
ok($receiver->wait_for_events('stale', 2, kind => 'physical'), 'still stale after the restart');
$node->psql('postgres', join(' ', q{LISTEN pgvault; SELECT name FROM vault.create_backup();},
    map { q{SELECT pg_sleep(0.5);} } 1 .. 60), stdout => \$out, stderr => \$err, on_error_stop => 0);
my ($name) = sql(q{SELECT name FROM vault.backups WHERE status = 'completed' ORDER BY id DESC LIMIT 1});
ok($receiver->wait_for_events('recovered', 1, subject => 'physical backups'), 'the backup cleared it');
my ($recovered) = $receiver->bodies('recovered', subject => 'physical backups');
like($recovered->{text}, qr/^stale-db: physical backups are current again: "\Q$name\E" completed at \d{4}-/,
  'naming the backup');
ok($node->poll_query_until('postgres', 'SELECT stale IS NULL FROM vault.status'), 'vault.status.stale is empty again');
like($out, qr/Asynchronous notification "pgvault" with payload "\{.*"event":"stale_recovered".*"kind":"physical"/,
  'LISTEN pgvault heard stale_recovered');

# The newest backup in the repository completed two days ago (its
# backup.json says so): stale as soon as the worker lists the repository.
my $meta_file = "$repo_dir/$sysid/backups/$name/backup.json";
my $meta = decode_json(slurp_file($meta_file));
my @t = gmtime(time - 2 * 86400 - 3600);
$meta->{completed_at} = sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
open my $fh, '>', $meta_file or die $!;
print $fh encode_json($meta);
close $fh;
sql('SELECT pg_reload_conf()');  # the worker lists the repository again at a reload
ok($receiver->wait_for_events('stale', 3, kind => 'physical'), 'an old newest backup is stale');
($stale) = reverse $receiver->bodies('stale', kind => 'physical');
like($stale->{text}, qr/no physical backup has completed for 2d 1h \(the newest, "\Q$name\E", completed at \Q$meta->{completed_at}\E; pgvault\.stale_after physical=1d\)/,
  'naming the newest backup and its age');
is($stale->{newest_backup}, $name, 'with the newest backup as a field');
my $second = sql(q{SELECT name FROM vault.create_backup()});
ok($receiver->wait_for_events('recovered', 2, subject => 'physical backups'), 'the next backup clears it');

# WAL archiving that stopped: archive_mode on, nothing configured to archive.
sql(q{ALTER SYSTEM SET archive_mode = 'on'; ALTER SYSTEM SET pgvault.stale_after = 'physical=1d, wal=5s'});
$node->restart;
sql(q{CREATE TABLE w AS SELECT g FROM generate_series(1, 1000) g; SELECT pg_switch_wal()});
ok($receiver->wait_for_events('stale', 1, kind => 'wal'), 'WAL waiting longer than wal=5s is stale');
($stale) = $receiver->bodies('stale', kind => 'wal');
like($stale->{text}, qr/^stale-db: WAL archiving is behind: the oldest of \d+ finished WAL files? waiting in pg_wal has waited \S+ to be archived \(pgvault\.stale_after wal=5s\)$/,
  'saying how long it waited');
is($stale->{subject}, 'WAL archiving', 'its subject');
is(scalar($receiver->bodies('stale', kind => 'physical')), 3, 'physical backups are not stale');
sql(q{ALTER SYSTEM SET archive_library = 'pgvault'; SELECT pg_reload_conf()});
ok($receiver->wait_for_events('recovered', 1, kind => 'wal'), 'archiving again clears it');
($recovered) = $receiver->bodies('recovered', kind => 'wal');
like($recovered->{text}, qr/^stale-db: WAL archiving caught up/, 'saying so');

# The simplest set-up: pgvault.stale_after = '5s' (backups of any kind) and
# no schedule at all: stale once the newest backup is 5 s old, cleared by the
# next backup.
sql(q{ALTER SYSTEM SET pgvault.stale_after = '5s'; SELECT pg_reload_conf()});
is(sql('SHOW pgvault.schedule') . sql('SHOW pgvault.incremental_schedule') . sql('SHOW pgvault.logical_schedule'),
  '', 'no schedule');
ok($receiver->wait_for_events('stale', 1, kind => 'backup'), "stale_after = '5s': the newest backup turns stale");
($stale) = $receiver->bodies('stale', kind => 'backup');
like($stale->{text}, qr/^stale-db: no backup has completed for \S+ \(the newest, "[^"]+", completed at [^;]+; pgvault\.stale_after 5s\)$/,
  'saying how old the newest backup is, against 5s');
ok($node->poll_query_until('postgres', q{SELECT stale LIKE 'backup: no backup has completed for %' FROM vault.status}),
  'vault.status.stale says so');
my $third = sql(q{SELECT name FROM vault.create_backup()});
ok($receiver->wait_for_events('recovered', 1, subject => 'backups'), 'the next backup clears it');
($recovered) = $receiver->bodies('recovered', subject => 'backups');
like($recovered->{text}, qr/"\Q$third\E" completed at/, 'naming that backup');

$receiver->stop;
done_testing();
