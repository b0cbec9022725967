# A physical backup taken with SQL restores, with the pgvault CLI alone,
# into a new data directory that starts and holds the data as it was.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('primary');
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', q{
CREATE TABLE known AS SELECT g AS id, md5(g::text) AS val, now() AS at FROM generate_series(1, 20000) g;
ALTER TABLE known ADD PRIMARY KEY (id);
});

my %before = (accounts => table_digest($node, 'pgbench_accounts', 'aid'),
           branches => table_digest($node, 'pgbench_branches', 'bid'),
           known    => table_digest($node, 'known', 'id'));

my $row = $node->safe_psql('postgres', q{
SELECT id FROM vault.create_backup(label => 'tap round trip') \gset
SELECT id, status, kind, trigger, initiated_by, label,
       source_bytes > 30000000, stored_bytes > 0, stored_bytes < source_bytes,
       sha256 ~ '^[0-9a-f]{64}$', stop_lsn > start_lsn, timeline, duration > '0'::interval,
       location
  FROM vault.history WHERE id = :id});
my @f = split /\|/, $row;
is($f[1], 'completed', 'backup completed');
is("$f[2]/$f[3]/$f[4]/$f[5]", 'physical/manual/' . $node->safe_psql('postgres', 'SELECT session_user') . '/tap round trip',
  'kind, trigger, initiated_by and label recorded');
is("$f[6]$f[7]$f[8]$f[9]$f[10]$f[12]", 'tttttt', 'sizes, checksum, LSNs and duration recorded');
is($f[11], '1', 'timeline recorded');
like($f[13], qr{^\Q$repo\E/\d+/backups/\d{8}T\d{6}Z-physical/$}, 'location points into the repository');

# The job worker's last line says what the backup cost the server: the
# process's own peak RSS (a backend forked from the postmaster with its
# shared libraries: megabytes, never bytes) and its CPU time.
my $name = $node->safe_psql('postgres', "SELECT name FROM vault.history WHERE id = $f[0]");
my ($rss, $unit, $user, $system) = slurp_file($node->logfile) =~
  /backup "\Q$name\E": job worker peak memory (\d+) (bytes|kB|MB|GB) \(RSS\), CPU (\d+\.\d\d) s user, (\d+\.\d\d) s system/;
ok(defined $rss, 'the job worker logged its peak memory and CPU time');
my $rss_kb = $rss * { bytes => 1 / 1024, kB => 1, MB => 1024, GB => 1048576 }->{$unit // 'bytes'};
cmp_ok($rss_kb, '>', 4096, "peak memory is the process's own ($rss $unit)");
cmp_ok($user + $system, '>', 0, "CPU time counted ($user s user, $system s system)");

# The history row's checksum is sha256sum over the stored objects.
my ($dir) = $f[13] =~ m{^file://(.*)$};
ok(-f "$dir/backup.json", 'backup.json written');
my $recomputed = `cd '$dir' && ls | grep -v '^backup.json\$' | xargs sha256sum | sha256sum`;
($recomputed) = split ' ', $recomputed;
is($recomputed, $node->safe_psql('postgres', "SELECT sha256 FROM vault.history WHERE id = $f[0]"),
  'history sha256 equals sha256sum of the objects');

# The repository alone lists it.
my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo ]);
like($out, qr/\d{8}T\d{6}Z-physical/, 'pgvault list shows the backup');

# Change everything after the backup.
$node->safe_psql('postgres', q{
UPDATE known SET val = 'changed' WHERE id % 3 = 0;
DELETE FROM pgbench_accounts WHERE aid <= 5000;
UPDATE pgbench_branches SET bbalance = bbalance + 1;
});
isnt(table_digest($node, 'known', 'id'), $before{known}, 'data changed after the backup');

# Restore into a new data directory with nothing but the repository.
my $restored = PostgreSQL::Test::Cluster->new('restored');
my $pgdata = $restored->data_dir;
command_ok([ 'pgvault', 'restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $pgdata ],
  'pgvault restore succeeds');
ok(-f "$pgdata/backup_label" && -f "$pgdata/PG_VERSION", 'restored data directory has backup_label');
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $pgdata ],
  qr/not empty/, 'restore refuses a non-empty target');

$restored->append_conf('postgresql.conf', "port = " . $restored->port . "\n");
$restored->start;
is($restored->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'restored server is up and writable');
is(table_digest($restored, 'known', 'id'), $before{known}, 'known table equals its state at backup time');
is(table_digest($restored, 'pgbench_accounts', 'aid'), $before{accounts}, 'pgbench_accounts equal');
is(table_digest($restored, 'pgbench_branches', 'bid'), $before{branches}, 'pgbench_branches equal');
# The restored cluster's own copy of the history row was 'running' when
# copied; its scheduler settles it from the repository, which says complete.
ok($restored->poll_query_until('postgres', "SELECT status = 'completed' FROM vault.backups WHERE id = $f[0]"),
  'restored cluster reconciles the backup row from the repository');
$restored->stop;

# A corrupted object is detected and the target cleaned up.
my ($object) = glob("$dir/base.tar*");
open(my $fh, '+<', $object) or die $!;
binmode $fh;
seek($fh, 1000, 0);
read($fh, my $byte, 1);
seek($fh, 1000, 0);
print $fh chr(ord($byte) ^ 0xff);
close $fh;
my $target = PostgreSQL::Test::Utils::tempdir() . '/corrupt';
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $target ],
  qr/corrupt|mismatch/i, 'restore detects a corrupted object');
ok(!-e "$target/PG_VERSION", 'nothing left behind by the failed restore');

$node->stop;
done_testing();
