# Every compression algorithm round-trips through backup and restore, and a
# tablespace restores into the directory it is mapped to.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('compression');
my $tblspc = PostgreSQL::Test::Utils::tempdir() . '/tblspc';
mkdir $tblspc or die $!;
$node->safe_psql('postgres', qq{
CREATE TABLESPACE extra LOCATION '$tblspc';
CREATE TABLE in_extra TABLESPACE extra AS SELECT g AS id, repeat(md5(g::text), 4) AS val FROM generate_series(1, 30000) g;
CREATE TABLE in_default AS SELECT g AS id, g * 2 AS val FROM generate_series(1, 30000) g;
});
my $expected_extra = table_digest($node, 'in_extra', 'id');
my $expected_default = table_digest($node, 'in_default', 'id');

foreach my $algorithm (qw(none gzip lz4 zstd)) {
  $node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.compression = '$algorithm'; SELECT pg_reload_conf()");
  my $row = $node->safe_psql('postgres',
    qq{SELECT status, compression, name FROM vault.create_backup(label => '$algorithm')});
  my ($status, $compression, $name) = split /\|/, $row;
  is("$status/$compression", "completed/$algorithm", "$algorithm: backup completed with $algorithm");

  my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
  my $suffix = { none => '', gzip => '.gz', lz4 => '.lz4', zstd => '.zst' }->{$algorithm};
  like($out, qr/"name":\s*"base\.tar\Q$suffix\E"/, "$algorithm: base archive stored as base.tar$suffix");
  like($out, qr/"name":\s*"\d+\.tar\Q$suffix\E"/, "$algorithm: tablespace archive stored");

  my $restored = PostgreSQL::Test::Cluster->new("restored_$algorithm");
  my $new_tblspc = PostgreSQL::Test::Utils::tempdir() . "/tblspc_$algorithm";
  command_ok([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name, '--pgdata', $restored->data_dir,
               '--tablespace-mapping', "$tblspc=$new_tblspc" ], "$algorithm: restore with tablespace mapping");
  $restored->append_conf('postgresql.conf', 'port = ' . $restored->port . "\n");
  $restored->start;
  is(table_digest($restored, 'in_extra', 'id'), $expected_extra, "$algorithm: table in the tablespace restored");
  is(table_digest($restored, 'in_default', 'id'), $expected_default, "$algorithm: table in the default tablespace restored");
  is($restored->safe_psql('postgres', q{SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'extra'}),
     $new_tblspc, "$algorithm: tablespace now lives in the mapped directory");
  $restored->stop;
}

# Without a mapping the original location is used, and it is not empty.
my $target = PostgreSQL::Test::Utils::tempdir() . '/nomap';
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $target ],
  qr/not empty/, 'restore refuses to write into the live tablespace directory');
ok(!-e "$target/PG_VERSION", 'and leaves nothing behind');

$node->stop;
done_testing();
