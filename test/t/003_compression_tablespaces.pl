# Every compression algorithm round-trips through backup and restore, and a
# tablespace restores into the directory it is mapped to.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('compression');
$node->append_conf('postgresql.conf', "log_replication_commands = on\n");
$node->reload;
my $tblspc = PostgreSQL::Test::Utils::tempdir() . '/tblspc';
mkdir $tblspc or die $!;
$node->safe_psql('postgres', qq{
CREATE TABLESPACE extra LOCATION '$tblspc';
CREATE TABLE in_extra TABLESPACE extra AS SELECT g AS id, repeat(md5(g::text), 4) AS val FROM generate_series(1, 30000) g;
CREATE TABLE in_default AS SELECT g AS id, g * 2 AS val FROM generate_series(1, 30000) g;
});
my $expected_extra = table_digest($node, 'in_extra', 'id');
my $expected_default = table_digest($node, 'in_default', 'id');

# zstd-parallel: the server compresses with pgvault.compression_workers threads.
foreach my $case (qw(none gzip lz4 zstd zstd-parallel)) {
  my ($algorithm, $parallel) = split /-/, $case;
  my $workers = $parallel ? 2 : 0;
  $node->safe_psql('postgres', qq{
    ALTER SYSTEM SET pgvault.compression = '$algorithm';
    ALTER SYSTEM SET pgvault.compression_workers = $workers;
    SELECT pg_reload_conf()});
  my $row = $node->safe_psql('postgres',
    qq{SELECT id FROM vault.create_backup(label => '$case') \\gset
SELECT status, compression, name FROM vault.history WHERE id = :id});
  my ($status, $compression, $name) = split /\|/, $row;
  is("$status/$compression", "completed/$algorithm", "$case: backup completed with $algorithm");
  if ($parallel) {
    like(slurp_file($node->logfile), qr/BASE_BACKUP .*COMPRESSION_DETAIL 'level=\d+,workers=2'/,
      "$case: the server was asked to compress with 2 workers");
  }

  my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
  my $suffix = { none => '', gzip => '.gz', lz4 => '.lz4', zstd => '.zst' }->{$algorithm};
  like($out, qr/"name":\s*"base\.tar\Q$suffix\E"/, "$case: base archive stored as base.tar$suffix");
  like($out, qr/"name":\s*"\d+\.tar\Q$suffix\E"/, "$case: tablespace archive stored");

  my $restored = PostgreSQL::Test::Cluster->new("restored_$case");
  my $new_tblspc = PostgreSQL::Test::Utils::tempdir() . "/tblspc_$case";
  command_ok([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name, '--pgdata', $restored->data_dir,
               '--tablespace-mapping', "$tblspc=$new_tblspc" ], "$case: restore with tablespace mapping");
  $restored->append_conf('postgresql.conf', 'port = ' . $restored->port . "\n");
  $restored->start;
  is(table_digest($restored, 'in_extra', 'id'), $expected_extra, "$case: table in the tablespace restored");
  is(table_digest($restored, 'in_default', 'id'), $expected_default, "$case: table in the default tablespace restored");
  is($restored->safe_psql('postgres', q{SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'extra'}),
     $new_tblspc, "$case: tablespace now lives in the mapped directory");
  $restored->stop;
}

# pgvault.max_rate caps the rate the data directory is read at. Without
# compression the server throttles (MAX_RATE); with it the server would count
# compressed bytes, so pgvault paces its reading instead. Only a lower bound
# on the duration is checked: a slow machine makes a backup longer, never shorter.
foreach my $algorithm (qw(zstd none)) {
  $node->safe_psql('postgres', qq{
    ALTER SYSTEM SET pgvault.compression = '$algorithm';
    ALTER SYSTEM SET pgvault.compression_workers = 0;
    ALTER SYSTEM SET pgvault.max_rate = '4MB';
    SELECT pg_reload_conf()});
  my $row = $node->safe_psql('postgres', q{
    SELECT id FROM vault.create_backup(label => 'paced') \gset
SELECT status, source_bytes, extract(epoch FROM duration), stored_bytes
    FROM vault.history WHERE id = :id});
  my ($status, $source, $seconds, $stored) = split /\|/, $row;
  is($status, 'completed', "max_rate 4MB, $algorithm: backup completed");
  my $floor = 0.7 * $source / (4 * 1024 * 1024);
  cmp_ok($seconds, '>=', $floor,
    sprintf("max_rate 4MB, $algorithm: %.0f MB read in %.1f s (at least %.1f s)",
      $source / 1048576, $seconds, $floor));
  if ($algorithm ne 'none') {
    cmp_ok($stored * 3, '<', $source, "max_rate 4MB, $algorithm: the stream was compressed (so the pacing is on reads)");
  }
}
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgvault.max_rate; SELECT pg_reload_conf()');

# Without a mapping the original location is used, and it is not empty.
my $target = PostgreSQL::Test::Utils::tempdir() . '/nomap';
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $target ],
  qr/not empty/, 'restore refuses to write into the live tablespace directory');
ok(!-e "$target/PG_VERSION", 'and leaves nothing behind');

$node->stop;
done_testing();
