# The round trip of test/t/001 against any repository: data in, a backup
# taken with SQL, the data changed, then the pgvault command alone — given
# nothing but the server's postgresql.conf as --config — lists and restores
# the backup into a new cluster that holds the data as it was.
package PgVault::RoundTrip;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;
use Exporter 'import';

our @EXPORT = qw(load_data digests_of change_data cli_list restore_and_compare);

# pgbench tables at $scale (about 15 MB each) and a table of known rows.
sub load_data {
  my ($node, $scale) = @_;
  $node->command_ok([ 'pgbench', '-i', '-s', $scale, '-q', 'postgres' ], "pgbench data loaded (scale $scale)");
  $node->safe_psql('postgres', q{
CREATE TABLE known AS SELECT g AS id, md5(g::text) AS val FROM generate_series(1, 20000) g;
ALTER TABLE known ADD PRIMARY KEY (id);
});
}

sub digests_of {
  my ($node) = @_;
  return { accounts => table_digest($node, 'pgbench_accounts', 'aid'),
           known    => table_digest($node, 'known', 'id') };
}

sub change_data {
  my ($node) = @_;
  $node->safe_psql('postgres', q{
UPDATE known SET val = 'changed' WHERE id % 3 = 0;
DELETE FROM pgbench_accounts WHERE aid <= 5000;
});
}

# The server's own postgresql.conf is the CLI's --config: it names the
# repository and holds every storage setting (secrets included).
sub cli_list {
  my ($node) = @_;
  my ($out, $err) = run_command([ 'pgvault', 'list', '--json', '--config', $node->data_dir . '/postgresql.conf' ]);
  return eval { decode_json($out) } // die "pgvault list: $out $err";
}

# Restores $backup into a new cluster, starts it and compares its data with
# $digests. Returns the restored (stopped) node.
sub restore_and_compare {
  my ($node, $backup, $digests, $what) = @_;
  my $restored = PostgreSQL::Test::Cluster->new("restored_" . int(rand(1e6)));
  command_ok([ 'pgvault', 'restore', '--config', $node->data_dir . '/postgresql.conf',
               '--backup', $backup, '--pgdata', $restored->data_dir ],
    "$what: pgvault restore with only --config succeeds");
  $restored->append_conf('postgresql.conf', "port = " . $restored->port . "\n");
  $restored->start;
  is(table_digest($restored, 'known', 'id'), $digests->{known}, "$what: known table as at backup time");
  is(table_digest($restored, 'pgbench_accounts', 'aid'), $digests->{accounts},
    "$what: pgbench_accounts as at backup time");
  $restored->stop;
  return $restored;
}

1;
