# Parallel WAL archiving into the S3 server (OpenStack Swift with s3api):
# a burst of uncompressed 16 MB segments (multipart uploads) archived once
# each with archive_parallel = 3; then the store goes away while the server
# writes: the server stays up, WAL waits in pg_wal, vault.archiving shows the
# backlog and the error (without the secret key); the store comes back:
# everything archived, no gap between the first and the last segment
# (`pgvault verify --wal` of the backup taken before the outage passes), and a
# point-in-time restore to a moment during the outage holds exactly what was
# committed before it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::ObjectStore;
use PgVault::TestNode;
use PgVault::WalArchive;

my $s3 = PgVault::ObjectStore->start_s3();
$s3->create_bucket('walbucket');
my $parallel = 3;
my ($node, $repo) = new_vault_node('s3_archiver', compression => 'none',
  repository => 's3://walbucket/cluster',
  conf => $s3->pgvault_conf
    . "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '2GB'\n"
    . "pgvault.archive_parallel = $parallel\npgvault.storage_connect_timeout = '2s'\n");
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $pg_wal = $node->data_dir . '/pg_wal';
$node->safe_psql('postgres', 'CREATE TABLE filler (x int, pad text)');

# What each segment of a burst holds: about 500 kB of rows.
my $fill = q{INSERT INTO filler SELECT g, repeat('w', 200) FROM generate_series(1, 2000) g};

# Segment name => number of objects for it in the bucket.
sub stored_counts {
  my %count;
  for my $key ($s3->list_keys('walbucket', "cluster/$sysid/wal/")) {
    $count{$1}++ if $key =~ m{/([0-9A-F]{24})-[0-9a-f]{64}$};
  }
  return %count;
}

# 1. A burst of 20 segments, each a multipart upload of 16 MB.
my $started = time;
my ($first, $last) = burst($node, 20, $fill);
ok($node->poll_query_until('postgres',
    "SELECT last_archived_wal >= '$last' AND waiting = 0 FROM vault.archiving"),
  "the burst $first .. $last is archived and nothing waits");
my @burst = segment_range($first, $last);
note(sprintf('%d segments of 16 MB archived into S3 in about %d s with archive_parallel = %d',
    scalar @burst, time - $started, $parallel));
my %stored = stored_counts();
is(join(' ', grep { ($stored{$_} // 0) != 1 } @burst), '', 'each segment of the burst is stored once');
is($s3->count_multipart_uploads('walbucket'), 0, 'no upload left unfinished');
my $pid = archiver_pid($node);
my $hwm = proc_status($pid, 'VmHWM');
note("archiver VmHWM after the burst into S3 (compression none, parallel $parallel): $hwm kB");
# The bound of src/core/wal/README.md: parallel x 32 MiB per upload (the
# single-PUT buffer grown past 8 MiB, then two 8 MiB parts), above a
# PostgreSQL process's own ~20-60 MB.
cmp_ok($hwm, '<', 64 * 1024 + $parallel * 32 * 1024, 'the archiver stays within its bound');

# A backup before the outage, the base of the restore below.
my $conf = $node->data_dir . '/postgresql.conf';
is($node->safe_psql('postgres', q{SELECT status FROM vault.create_backup(label => 'before the outage')}),
  'completed', 'a backup before the outage');

# 2. The store goes away while the server writes.
$s3->stop;
my $failures = archiving($node, 'failures_since_start');
$node->safe_psql('postgres', q{CREATE TABLE outage (batch int); INSERT INTO outage VALUES (1)});
my ($outage_first, $outage_last) = burst($node, 4, $fill);
my $during = $node->safe_psql('postgres', q{
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')});
# The next commit is surely after $during (clock resolution aside).
$node->poll_query_until('postgres', "SELECT clock_timestamp() > '$during'::timestamptz + interval '10 ms'");
$node->safe_psql('postgres', q{INSERT INTO outage VALUES (2)});
$node->safe_psql('postgres', q{INSERT INTO filler SELECT g, repeat('o', 500) FROM generate_series(1, 50000) g});
ok($node->poll_query_until('postgres',
    "SELECT failing AND failures_since_start > $failures AND waiting >= 4 FROM vault.archiving"),
  'vault.archiving shows the failures and the backlog');
my ($error, $waiting, $behind) = split /\|/, archiving($node, 'last_error, waiting, bytes_behind');
ok($error ne '', "the last error is shown: $error");
my $secret = $s3->secret_access_key;
unlike($error, qr/\Q$secret\E/, 'without the secret key');
unlike($error, qr/Signature=|X-Amz-Signature/i, 'and without a signature');
cmp_ok($behind, '>=', 4 * 16 * 1024 * 1024, 'bytes_behind counts the waiting segments');
ok(-f "$pg_wal/$outage_first" && -f "$pg_wal/archive_status/$outage_first.ready",
  "$outage_first waits in pg_wal");
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM filler'), 't', 'the server keeps serving');
isnt(archiver_pid($node), '', 'the archiver is alive');

# 3. The store comes back: everything is archived, no gap.
$s3->start_again;
my (undef, $wake) = burst($node, 1, $fill);    # a new segment wakes the archiver at once
ok($node->poll_query_until('postgres',
    "SELECT NOT failing AND last_archived_wal >= '$wake' AND waiting = 0 FROM vault.archiving"),
  'caught up after the outage, nothing waits');
%stored = stored_counts();
my @all = segment_range($first, $wake);
is(join(' ', grep { ($stored{$_} // 0) != 1 } @all), '',
  "every segment from $first to $wake is stored once: no gap");

command_ok([ 'pgvault', 'verify', '--config', $conf, '--backup', 'latest', '--wal' ],
  'pgvault verify --wal of the backup before the outage passes: no gap, every object intact');

# 4. Restore to a time during the outage: batch 1 was committed before it, batch 2 after.
$node->stop;
my $copy = PostgreSQL::Test::Cluster->new('during_outage');
command_ok([ 'pgvault', 'restore', '--config', $conf, '--backup', 'latest',
             '--target-time', $during, '--pgdata', $copy->data_dir ],
  "restore to $during, during the outage");
$copy->append_conf('postgresql.conf', "port = " . $copy->port . "\n");
$copy->start;
ok($copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the copy recovered and promoted');
is($copy->safe_psql('postgres', 'SELECT string_agg(batch::text, \',\' ORDER BY batch) FROM outage'), '1',
  'it holds exactly what was committed before the target');
$copy->stop;
$s3->stop;
done_testing();
