# Shared set-up for pgvault's TAP tests: a PostgreSQL::Test::Cluster node
# with pgvault preloaded and a file repository of its own.
package PgVault::TestNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(new_vault_node table_digest cluster_state wait_for_status);

sub new_vault_node {
  my ($name, %opts) = @_;
  my $node = PostgreSQL::Test::Cluster->new($name);
  # initdb => [...]: extra initdb options (e.g. --data-checksums).
  $node->init(allows_streaming => 1, ($opts{initdb} ? (extra => $opts{initdb}) : ()));
  # A URL (s3://, azure://, ...) as given, else a directory (default: a new one).
  my $repo = $opts{repository} // PostgreSQL::Test::Utils::tempdir() . '/repo';
  $repo = "file://$repo" unless $repo =~ m{^[a-z0-9]+://};
  $node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgvault'
pgvault.repository = '$repo'
pgvault.compression = '@{[ $opts{compression} // 'zstd' ]}'
} . ($opts{conf} // ''));
  $node->start;
  $node->safe_psql('postgres', 'CREATE EXTENSION pgvault');
  return ($node, $repo);
}

# md5 over a table's rows in key order: equal digests, equal contents.
sub table_digest {
  my ($node, $table, $key) = @_;
  return $node->safe_psql('postgres',
    "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY $key), '')) FROM $table t");
}

# Every table of every database that allows connections, its rows in
# order: equal text, equal data. pgvault's own schema is left out: a backup
# holds its own row as 'running', the server it was taken from says
# 'completed'.
sub cluster_state {
  my ($node) = @_;
  my $out = '';
  for my $db (split /\n/, $node->safe_psql('postgres',
      q{SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1})) {
    for my $t (split /\n/, $node->safe_psql($db,
        q{SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables
          WHERE schemaname <> 'vault' ORDER BY 1})) {
      $out .= "$db $t " . $node->safe_psql($db,
        "SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $t x")
        . "\n";
    }
  }
  return $out;
}

sub wait_for_status {
  my ($node, $id, $status) = @_;
  return $node->poll_query_until('postgres',
    "SELECT status = '$status' FROM vault.backups WHERE id = $id");
}

1;
