# pgvault's WAL record reader (src/core/wal/wal_records.cpp, the first
# building block of WAL summaries for incremental backups, issue 16) against
# WAL a real PostgreSQL 15 wrote, with pg_waldump as the oracle: every record
# pg_waldump shows must be read at the same LSN, with the same length, back
# link and block references (relation, fork, block), and reading must stop
# where pg_waldump stops. The comparison itself is the unit test
# WalRecords.MatchesPgWaldumpOnRealWalFromTheEnvironment, which the suite
# builds (run-all passes its path in PGVAULT_UNIT); this file makes the WAL.
#
# The workload writes what a summary must understand: heap and index changes,
# full-page images (plain and wal_compression = zstd, with holes), hint-bit
# images (data checksums), visibility-map and FSM blocks, TRUNCATE, a file
# truncated by VACUUM, VACUUM FULL, CREATE DATABASE with both strategies, DROP
# DATABASE, ALTER TABLE SET TABLESPACE, a 20 MB record that spans two segment
# boundaries, a segment switch, and a crash (immediate stop) that leaves the
# last segment ending in the middle.
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $unit = $ENV{PGVAULT_UNIT} // '';
ok(-x $unit, "the unit test binary is there to compare with ($unit)")
  or BAIL_OUT('PGVAULT_UNIT must name build/pgvault_unit (test/run-all.sh sets it)');

my $node = PostgreSQL::Test::Cluster->new('walrec');
$node->init(extra => ['--data-checksums']);
$node->append_conf('postgresql.conf', "wal_keep_size = '2GB'\nmax_wal_size = '2GB'\n");
$node->start;
sub sql { $node->safe_psql('postgres', shift) }
my ($first, $start) = split /\|/,
  sql(q{SELECT pg_walfile_name(lsn) || '|' || lsn FROM pg_current_wal_lsn() lsn});

my @conn = ('-h', $node->host, '-p', $node->port);
$node->command_ok([ 'pgbench', @conn, '-i', '-s', '3', '-q', 'postgres' ], 'pgbench -i');
sql('CHECKPOINT');
$node->command_ok([ 'pgbench', @conn, '-n', '-t', '300', 'postgres' ], 'pgbench with full-page images');
sql(q{ALTER SYSTEM SET wal_compression = 'zstd'});
sql(q{SELECT pg_reload_conf()});
sql('CHECKPOINT');
$node->command_ok([ 'pgbench', @conn, '-n', '-t', '300', 'postgres' ], 'pgbench with compressed images');
my $tablespace = PostgreSQL::Test::Utils::tempdir();
sql(qq{CREATE TABLESPACE elsewhere LOCATION '$tablespace'});
sql(q{CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 50000) g});
sql(q{CREATE INDEX ON t (h)});
sql(q{VACUUM t});
sql(q{SELECT count(*) FROM pgbench_accounts});  # hint bits: FPI_FOR_HINT
sql(q{TRUNCATE pgbench_history});  # a new relfilenode
sql(q{DELETE FROM t WHERE g > 20000});
sql(q{VACUUM t});  # cuts the empty tail of the file: XLOG_SMGR_TRUNCATE
sql(q{VACUUM FULL pgbench_branches});
sql(q{ALTER TABLE t SET TABLESPACE elsewhere});
sql(q{CREATE DATABASE copied STRATEGY FILE_COPY});
sql(q{CREATE DATABASE logged STRATEGY WAL_LOG});
sql(q{DROP DATABASE copied});
sql(q{SELECT pg_logical_emit_message(false, 'pgvault', repeat('x', 20000000))});
sql(q{SELECT pg_switch_wal()});
sql(q{INSERT INTO t SELECT g, 'after the switch' FROM generate_series(1, 1000) g});
my $last = sql(q{SELECT pg_walfile_name(pg_current_wal_lsn())});
$node->stop('immediate');

# The segments first..last, as the server left them.
my $wal = PostgreSQL::Test::Utils::tempdir();
my $pg_wal = $node->data_dir . '/pg_wal';
opendir(my $dh, $pg_wal) or die "$pg_wal: $!";
my @segments = sort grep { /^[0-9A-F]{24}$/ && $_ ge $first && $_ le $last } readdir $dh;
closedir $dh;
copy("$pg_wal/$_", "$wal/$_") or die "$_: $!" for @segments;
cmp_ok(scalar @segments, '>=', 4, "the workload wrote @{[ scalar @segments ]} segments ($first..$last)");

# pg_waldump reads to the end of the valid WAL and then says why it stopped.
my ($dump_out, $dump_err) = ('', '');
IPC::Run::run([ 'pg_waldump', '-p', $wal, $first, $last ], '>', \$dump_out, '2>', \$dump_err);
like($dump_err, qr/error in WAL record at|invalid record length|reached end of WAL/,
  'pg_waldump read to the end of the valid WAL') or diag($dump_err);
my $dump = "$wal/waldump.txt";
open(my $fh, '>', $dump) or die "$dump: $!";
print $fh $dump_out;
close $fh;

# The workload produced what it is meant to test.
like($dump_out, qr/fork fsm blk/, 'free space map blocks are referenced');
like($dump_out, qr/fork vm blk/, 'visibility map blocks are referenced');
like($dump_out, qr/desc: FPI_FOR_HINT/, 'hint-bit page images');
like($dump_out, qr/rmgr: Storage .*desc: TRUNCATE/, 'a file truncated by VACUUM');
like($dump_out, qr/rmgr: Database .*desc: CREATE_FILE_COPY/, 'CREATE DATABASE STRATEGY FILE_COPY');
like($dump_out, qr/rmgr: Database .*desc: CREATE_WAL_LOG/, 'CREATE DATABASE STRATEGY WAL_LOG');
like($dump_out, qr/rmgr: LogicalMessage len \(rec\/tot\):\s*\d+\/\s*2000\d{4}/,
  'a record of 20 MB, across segments');
like($dump_out, qr/desc: SWITCH/, 'a segment switch');

sub unit_test {
  my ($filter) = @_;
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ $unit, "--gtest_filter=$filter" ], '>', \$out, '2>', \$err,
    init => sub {
      $ENV{PGVAULT_TEST_WAL_DIR} = $wal;
      $ENV{PGVAULT_TEST_WALDUMP} = $dump;
      $ENV{PGVAULT_TEST_WAL_FIRST} = $first;
      $ENV{PGVAULT_TEST_WAL_LAST} = $last;
      $ENV{PGVAULT_TEST_DATA_DIRECTORY} = $node->data_dir;
      $ENV{PGVAULT_TEST_SUMMARY_START} = $start;
    });
  return ($ok && $out =~ /\[  PASSED  \] 1 test/ && $out !~ /SKIPPED/, "$out\n$err");
}
my ($ok, $log) = unit_test('WalRecords.MatchesPgWaldumpOnRealWalFromTheEnvironment');
ok($ok, 'pgvault reads every record pg_waldump reads, with the same blocks') or diag($log);

# The summary of that WAL from $start names every page the cluster left on
# disk with a newer LSN: what an incremental would read instead of them all.
($ok, $log) = unit_test('WalSummary.CoversEveryNewerPageOfARealClusterFromTheEnvironment');
ok($ok, "the WAL summary from $start covers every page changed since") or diag($log);
diag($log =~ /(checked \d+ pages .*)/ ? $1 : '');

done_testing();
