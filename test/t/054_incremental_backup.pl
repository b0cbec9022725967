# Incremental backups taken by the job worker (issue 16), against a real
# server with data checksums: a full backup; pgbench; an incremental; then a
# TRUNCATE, a dropped table, a new table, a VACUUM FULL (new relfilenode),
# CREATE DATABASE ... STRATEGY FILE_COPY and an extended relation; a second
# incremental. Each incremental stores a fraction of the full and restores
# (pgvault restore of its chain) to exactly the state it was taken at: the
# ordered md5 of every table in every database. A corrupt page fails the
# backup naming the file and the block; retention keeps chains whole; a
# parent cannot be deleted by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

# incremental_fallback = error: an incremental with nothing to be taken
# against fails (the default takes a full instead: 056_incremental_schedule).
my ($node, $repo) = new_vault_node('incr', initdb => ['--data-checksums'],
  conf => "pgvault.backup_workers = 2\npgvault.compression_workers = 2\npgvault.incremental_fallback = error\n"
    # Every incremental reads every page and fails when the WAL summaries
    # miss a page it changed: each scenario below checks the summaries.
    . "pgvault.incremental_changes = check\n");
sub sql { $node->safe_psql('postgres', shift) }
my @conn = ('-h', $node->host, '-p', $node->port);

# The row of a backup: name|kind|parent|stored_bytes|source_bytes
sub backup_row {
  my ($kind) = @_;
  return split /\|/, sql(qq{SELECT id FROM vault.create_backup(kind => '$kind') \\gset
SELECT name || '|' || kind || '|' || coalesce(parent, '') || '|' ||
                                   stored_bytes || '|' || source_bytes
                            FROM vault.history WHERE id = :id});
}

# No full backup yet: an incremental says so and what to do.
my ($rc, $stdout, $stderr) = $node->psql('postgres', q{SELECT * FROM vault.create_backup(kind => 'incremental')});
like($stderr, qr/no physical backup to be a parent for an incremental backup of system \d+ on timeline 1 .*take a full backup first/,
  'an incremental without a full backup is refused with what to do') or diag($stderr);

# Scale 6: pgbench_accounts is 78 MB, above the 64 MB from which a relation
# file is scanned in ranges on the backup workers' threads.
command_ok([ 'pgbench', '-i', '-s', '6', '-q', @conn, 'postgres' ], 'pgbench -i');
cmp_ok(sql(q{SELECT pg_relation_size('pgbench_accounts')}), '>=', 8192 * 8192,
  'pgbench_accounts is large enough to be scanned in ranges');
sql(q{CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g;
      CREATE TABLE todrop AS SELECT g AS id FROM generate_series(1, 10000) g;
      CREATE TABLE tovacuum AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
      CREATE DATABASE tmpl});
$node->safe_psql('tmpl', q{CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g});

my ($full, $full_kind, undef, $full_stored) = backup_row('physical');
is($full_kind, 'physical', "full backup $full");

command_ok([ 'pgbench', '-t', '300', '-c', '2', '-n', @conn, 'postgres' ], 'pgbench runs');
my ($i1, $kind1, $parent1, $stored1, $source1) = backup_row('incremental');
my $state1 = cluster_state($node);
is("$kind1 $parent1", "incremental $full", "incremental $i1 is relative to the full backup");
cmp_ok($stored1, '<', $full_stored / 2, "it stores a fraction of the full ($stored1 of $full_stored bytes)");
cmp_ok($source1, '>', $stored1 * 4, "of a database of $source1 bytes");
like(slurp_file($node->logfile),
  qr/changed pages are read from the blocks \d+ WAL summaries \([0-9A-F\/.]+\) name: \d+ block references in \d+ relation forks since [0-9A-F\/]+; every page is read to check them/,
  'the WAL summaries cover the WAL since the full, and name every changed page (check mode)');
like(sql(qq{SELECT changed_pages FROM vault.history WHERE name = '$i1'}),
  qr/^the blocks \d+ WAL summaries \([0-9A-F\/.]+\) name: \d+ block references in \d+ relation forks; every page read to check them \(check\)$/,
  'vault.history.changed_pages records how it found them');
is(sql(qq{SELECT changed_pages IS NULL FROM vault.history WHERE name = '$full'}), 't',
  'a full backup has no changed_pages');

sql(q{TRUNCATE big;
      DROP TABLE todrop;
      CREATE TABLE newtab AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
      VACUUM FULL tovacuum;
      CREATE DATABASE copydb TEMPLATE tmpl STRATEGY FILE_COPY;
      INSERT INTO pgbench_accounts SELECT aid + 1000000, bid, abalance, filler FROM pgbench_accounts WHERE aid <= 100000});
$node->safe_psql('copydb', q{INSERT INTO t SELECT g FROM generate_series(5001, 6000) g});
my ($i2, $kind2, $parent2) = backup_row('incremental');
my $state2 = cluster_state($node);
is($parent2, $i1, "the second incremental $i2 is relative to the first");
like($state2, qr/^copydb public\.t 6000:/m, 'the state includes the copied database');
my @checked = slurp_file($node->logfile) =~ /every page is read to check them/g;
is(scalar @checked, 2, 'the summaries named every changed page of the second incremental too');

# vault.verify_backup reads every backup of the chain back.
is(sql(qq{SELECT verified || ' ' || (error IS NULL) FROM vault.verify_backup('$i2')}), 'true true',
  'vault.verify_backup verifies an incremental through its chain');

# Restore each incremental into a new data directory and compare.
my $n = 0;
for my $case ([ $i2, $state2 ], [ $i1, $state1 ]) {
  my ($name, $expected) = @$case;
  my $copy = PostgreSQL::Test::Cluster->new('restored' . ++$n);
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name,
                           '--pgdata', $copy->data_dir ], '>', \$out, '2>', \$err);
  ok($ok, "pgvault restore of $name") or diag("$out\n$err");
  like($out . $err, qr/chain of \d+ backups/, 'it restores through the chain');
  $copy->append_conf('postgresql.conf', 'port = ' . $copy->port . "\n");
  $copy->start;
  is(cluster_state($copy), $expected, "restored $name holds exactly the state it was taken at");
  $copy->stop;
}

# A page corrupted on disk: the incremental fails naming file and block.
my $file = sql(q{SELECT pg_relation_filepath('newtab')});
my $path = $node->data_dir . "/$file";
$node->stop;
my $offset = 8192 * 3 + 4000;
open(my $fh, '+<:raw', $path) or die "open $path: $!";
seek($fh, $offset, 0);
read($fh, my $byte, 1);
seek($fh, $offset, 0);
print $fh chr(ord($byte) ^ 0xFF);
close $fh;
$node->start;
($rc, $stdout, $stderr) = $node->psql('postgres',
  q{SELECT * FROM vault.create_backup(kind => 'incremental')});
isnt($rc, 0, 'an incremental over a corrupt page fails');
like($stderr, qr/checksum verification failed in file "\Q$file\E", block 3/,
  'naming the file and the block') or diag($stderr);
is(sql(q{SELECT status FROM vault.backups ORDER BY id DESC LIMIT 1}), 'failed', 'its row says failed');
$node->stop;
open($fh, '+<:raw', $path) or die "open $path: $!";
seek($fh, $offset, 0);
print $fh $byte;
close $fh;
$node->start;

# A parent cannot be deleted by hand.
($rc, $stdout, $stderr) = $node->psql('postgres', qq{SELECT vault.delete_backup('$i1')});
like($stderr, qr/backup "\Q$i1\E" is the parent of incremental backup\(s\) "\Q$i2\E"/,
  'vault.delete_backup refuses a parent, naming its incrementals');

# Retention keeps a chain whole: keep 1 keeps the newest incremental and
# everything below it; a new full lets the old chain go.
sql(q{ALTER SYSTEM SET pgvault.retention_count = 1; SELECT pg_reload_conf()});
my ($i3) = backup_row('incremental');
my $listed = sql(q{SELECT string_agg(name, ' ' ORDER BY id) FROM vault.backups WHERE status = 'completed'});
is($listed, "$full $i1 $i2 $i3", 'keep 1: the chain of the newest incremental stays whole');
like(slurp_file($node->logfile), qr/retention: backup "\Q$i2\E" stays: incremental backup "\Q$i3\E", which stays/,
  'and the log says why');
my ($full2) = backup_row('physical');
is(sql(q{SELECT string_agg(name, ' ' ORDER BY id) FROM vault.backups WHERE status = 'completed'}), $full2,
  'a new full lets the old chain go');
is(sql(qq{SELECT string_agg(status, ' ' ORDER BY id) FROM vault.backups WHERE name IN ('$full', '$i1', '$i2', '$i3')}),
  'expired expired expired expired', 'all four expired');

done_testing();
