# Incremental backups that read only the blocks the WAL summaries name
# (issue 16): the "pgvault summarizer" worker keeps summaries of the WAL in
# pg_wal/pgvault_summaries, holding unread WAL with a temporary slot; an
# incremental asks it to summarize up to its start and reads the blocks the
# summaries since its parent name. Against a real server with data checksums:
# pgbench, then a TRUNCATE, a dropped table, a new table, a VACUUM FULL,
# CREATE DATABASE ... STRATEGY FILE_COPY and an extended relation; every
# incremental restores (through its chain) to exactly the state it was taken
# at. Deleted summaries, the summarizer turned off and a restart each fall
# back to reading every page, and the log says why. TAP 054 runs its
# scenarios with pgvault.incremental_changes = check, which compares the
# summaries with every page.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path qw(remove_tree);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('summaries', initdb => ['--data-checksums'],
  conf => "pgvault.backup_workers = 2\npgvault.incremental_fallback = error\n");
sub sql { $node->safe_psql('postgres', shift) }
my @conn = ('-h', $node->host, '-p', $node->port);
my $summaries = $node->data_dir . '/pg_wal/pgvault_summaries';

# Takes a backup; returns its name and what its log said about changed pages.
my $log_offset = 0;
sub backup {
  my ($kind) = @_;
  my $name = sql(qq{SELECT id FROM vault.create_backup(kind => '$kind') \\gset
SELECT name FROM vault.backups WHERE id = :id});
  my $log = slurp_file($node->logfile, $log_offset);
  $log_offset = -s $node->logfile;
  my ($how) = $log =~ /backup "\Q$name\E": ((?:changed pages are read|every page is read)[^\n]*)/;
  return ($name, $how // '');
}

my @restored;
sub restores_to {
  my ($name, $expected, $what) = @_;
  my $copy = PostgreSQL::Test::Cluster->new('restored' . (@restored + 1));
  push @restored, $copy;
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name,
                           '--pgdata', $copy->data_dir ], '>', \$out, '2>', \$err);
  ok($ok, "pgvault restore of $name ($what)") or diag("$out\n$err");
  $copy->append_conf('postgresql.conf', 'port = ' . $copy->port . "\n");
  $copy->start;
  is(cluster_state($copy), $expected, "restored $name holds exactly the state it was taken at ($what)");
  $copy->stop;
}

# The summarizer (a worker without a database connection, so not in
# pg_stat_activity) holds the WAL it has not read with a temporary slot.
ok($node->poll_query_until('postgres',
  q{SELECT temporary AND active FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'}),
  'the summarizer holds unread WAL with a temporary replication slot');
my $holder = sql(q{SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'});
like(slurp_file("/proc/$holder/cmdline"), qr/pgvault summarizer/, 'held by the pgvault summarizer worker');

command_ok([ 'pgbench', '-i', '-s', '2', '-q', @conn, 'postgres' ], 'pgbench -i');
sql(q{CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g;
      CREATE TABLE todrop AS SELECT g AS id FROM generate_series(1, 10000) g;
      CREATE TABLE tovacuum AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
      CREATE DATABASE tmpl});
$node->safe_psql('tmpl', q{CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g});
my ($full) = backup('physical');

command_ok([ 'pgbench', '-t', '300', '-c', '2', '-n', @conn, 'postgres' ], 'pgbench runs');
my ($i1, $how1) = backup('incremental');
my $state1 = cluster_state($node);
like($how1, qr/^changed pages are read from the blocks \d+ WAL summaries \([0-9A-F\/.]+\) name: \d+ block references in \d+ relation forks since [0-9A-F\/]+$/,
  "incremental $i1 reads the blocks the WAL summaries name") or diag($how1);
my @files = glob("$summaries/*.summary");
cmp_ok(scalar @files, '>=', 1, 'summaries are kept in pg_wal/pgvault_summaries');
# vault.history records it; vault.wal_summarizer shows the worker, how far
# it read and what its summaries cover: back past the parent's start, which
# is what let this incremental read them.
like(sql(qq{SELECT changed_pages FROM vault.history WHERE name = '$i1'}),
  qr/^the blocks \d+ WAL summaries \([0-9A-F\/.]+\) name: \d+ block references in \d+ relation forks$/,
  'vault.history.changed_pages says so');
is(sql(qq{SELECT w.pid = $holder, w.enabled, w.timeline, w.summarized_to >= h.start_lsn,
                 w.covered_from <= p.start_lsn, w.covered_to >= h.start_lsn, w.summary_files >= 1,
                 w.incremental_changes, w.last_problem IS NULL
            FROM vault.wal_summarizer w, vault.history h, vault.history p
           WHERE h.name = '$i1' AND p.name = '$full'}),
  't|t|1|t|t|t|t|wal_summary|t',
  'vault.wal_summarizer: the worker, how far it read, summaries covering the parent\'s start on');

sql(q{TRUNCATE big;
      DROP TABLE todrop;
      CREATE TABLE newtab AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
      VACUUM FULL tovacuum;
      CREATE DATABASE copydb TEMPLATE tmpl STRATEGY FILE_COPY;
      INSERT INTO pgbench_accounts SELECT aid + 1000000, bid, abalance, filler FROM pgbench_accounts WHERE aid <= 50000;
      UPDATE pgbench_branches SET bbalance = bbalance + 1});
$node->safe_psql('copydb', q{INSERT INTO t SELECT g FROM generate_series(5001, 6000) g});
my ($i2, $how2) = backup('incremental');
my $state2 = cluster_state($node);
like($how2, qr/^changed pages are read from the blocks/, "incremental $i2 too") or diag($how2);
like($state2, qr/^copydb public\.t 6000:/m, 'the state includes the copied database');

restores_to($i2, $state2, 'through summaries: truncate, drop, new, vacuum full, file copy, extension');
restores_to($i1, $state1, 'through summaries: pgbench');

# A restart: the slot went with the worker; the summarizer resumes after its
# newest summary, whose WAL is still in pg_wal.
$node->restart;
command_ok([ 'pgbench', '-t', '200', '-c', '2', '-n', @conn, 'postgres' ], 'pgbench after a restart');
my ($i3, $how3) = backup('incremental');
like($how3, qr/^changed pages are read from the blocks/,
  'after a restart the summaries meet the ones before it') or diag($how3);
my $state3 = cluster_state($node);

# Summaries deleted while the server is down: the summarizer starts afresh,
# every page is read, and the log says which WAL is not covered.
$node->stop;
remove_tree($summaries);
$node->start;
sql(q{UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 97 = 0});
my ($i4, $how4) = backup('incremental');
like($how4, qr/^every page is read to find the changed ones: no WAL summary of timeline 1 covers [0-9A-F\/]+\.\.[0-9A-F\/]+/,
  'deleted summaries: every page is read, and the log says which WAL is not covered') or diag($how4);
like(sql(qq{SELECT changed_pages FROM vault.history WHERE name = '$i4'}),
  qr/^every page, by its LSN: no WAL summary of timeline 1 covers /, 'and so does vault.history');
is(sql(qq{SELECT w.covered_from > p.start_lsn FROM vault.wal_summarizer w, vault.history p
           WHERE p.name = '$i3'}),
  't', 'vault.wal_summarizer: the summaries now start after the parent\'s start');
my $state4 = cluster_state($node);
restores_to($i4, $state4, 'after the summaries were deleted');

# The summarizer turned off: its slot goes, incrementals read every page.
sql(q{ALTER SYSTEM SET pgvault.wal_summarize = off; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres',
  q{SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'}),
  'pgvault.wal_summarize = off drops the slot');
sql(q{UPDATE pgbench_tellers SET tbalance = tbalance + 3});
my ($i5, $how5) = backup('incremental');
is($how5, 'every page is read to find the changed ones: pgvault.wal_summarize is off',
  'and incrementals say why they read every page');
is(sql(qq{SELECT changed_pages FROM vault.history WHERE name = '$i5'}),
  'every page, by its LSN: pgvault.wal_summarize is off', 'vault.history too');
is(sql(q{SELECT enabled, summarized_to IS NULL FROM vault.wal_summarizer}), 'f|t',
  'vault.wal_summarizer: off, nothing summarized');
# While it is off, checkpoints remove the WAL it did not read: turned on
# again it starts afresh (and says so), so the next incremental, whose parent
# started before, reads every page; the one after that reads summaries.
for (1 .. 3) {
  sql(q{CREATE TABLE IF NOT EXISTS filler (x text); INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 2000);
        SELECT pg_switch_wal(); CHECKPOINT});
}
sql(q{ALTER SYSTEM RESET pgvault.wal_summarize; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres',
  q{SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'}),
  'turned on again, the summarizer holds its slot again');
ok($node->wait_for_log(qr/WAL summarizer: the WAL after the newest summary \(timeline 1, [0-9A-F\/.]+\) has left pg_wal; summarizing from segment [0-9A-F]{24} on/, $log_offset),
  'it says the WAL after its newest summary has left pg_wal');
my ($i6, $how6) = backup('incremental');
like($how6, qr/^every page is read/, 'the first incremental after it reads every page');
sql(q{UPDATE pgbench_tellers SET tbalance = tbalance + 5});
my ($i7, $how7) = backup('incremental');
like($how7, qr/^changed pages are read from the blocks/, 'the next one reads the summaries again')
  or diag($how7);
my $state7 = cluster_state($node);
restores_to($i7, $state7, 'a chain mixing both ways of finding changes');

# A summarizer that cannot write its summaries (here: a file where its
# directory should be) says so and keeps no WAL: its slot goes until it can
# write again.
remove_tree($summaries);
open(my $blocker, '>', $summaries) or die "create $summaries: $!";
close $blocker;
sql(q{INSERT INTO filler SELECT repeat('y', 1000) FROM generate_series(1, 2000); SELECT pg_switch_wal()});
ok($node->wait_for_log(qr/WARNING:  pgvault: could not summarize WAL: .*pgvault_summaries.*\(retrying in 10 s\)/, $log_offset),
  'a summarizer that cannot write its summaries says so');
like(sql(q{SELECT last_problem FROM vault.wal_summarizer}), qr/^could not summarize WAL: .*pgvault_summaries/,
  'vault.wal_summarizer shows its last problem');
ok($node->poll_query_until('postgres',
  q{SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'}),
  'and keeps no WAL while it fails');
unlink $summaries or die "unlink $summaries: $!";
ok($node->poll_query_until('postgres',
  q{SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = 'pgvault_summarizer'}),
  'once it can write again it holds its slot again');

done_testing();
