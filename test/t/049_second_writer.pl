# One writer per system and timeline. A copy restored from an older backup
# without a recovery target runs on the original's timeline, behind it, and
# has the original's repository in its postgresql.conf: its backups would mix
# with the original's under one system identifier. The repository refuses
# them, saying what to do; the original's backups stay as they were and the
# original goes on backing up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('original');
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');

my $older = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'older')});
$node->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(1001, 2000) g');
my $newer = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'newer')});
isnt($older, $newer, 'two backups of the original');

sub listed_backups {
  my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
  return join ',', sort map { $_->{name} } @{ decode_json($out) };
}
my $before = listed_backups();

# The copy: the older backup, no recovery target, the original's settings.
my $copy = PostgreSQL::Test::Cluster->new('copy');
command_ok([ 'pgvault', 'restore', '--repo', $repo, '--backup', $older, '--pgdata', $copy->data_dir ],
  'the older backup restores into a copy');
$copy->append_conf('postgresql.conf', "port = " . $copy->port . "\n");
$copy->start;
is($copy->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', 'the copy holds the older state');
is($copy->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'),
  $node->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'),
  'the copy runs on the original\'s timeline');

my ($ret, $stdout, $stderr) = $copy->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'a backup of the copy into the original\'s repository fails');
like($stderr, qr/backup "\Q$newer\E" of system \d+ in this repository ends at [0-9A-F]+\/[0-9A-F]+ on timeline 1, after this server's position [0-9A-F]+\/[0-9A-F]+: another server of the same system writes into this repository on the same timeline/,
  'the error names the newer backup, both positions and the cause');
like($stderr, qr/Give this server its own repository \(pgvault\.repository\), or restore it with a recovery target/,
  'the error says what to do');
is($copy->safe_psql('postgres', q{SELECT status FROM vault.history ORDER BY id DESC LIMIT 1}), 'failed',
  'the copy\'s history row is failed, not running');
is(listed_backups(), $before, 'the repository lists the original\'s backups only, unchanged');
$copy->stop;

# The original, ahead of everything in the repository, is not a second writer.
is($node->safe_psql('postgres', q{SELECT status FROM vault.create_backup(label => 'after')}), 'completed',
  'the original still backs up');

done_testing();
