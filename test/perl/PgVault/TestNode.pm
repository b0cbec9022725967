# Shared set-up for pgvault's TAP tests: a PostgreSQL::Test::Cluster node
# with pgvault preloaded and a file repository of its own.
package PgVault::TestNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(new_vault_node table_digest wait_for_status);

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

sub wait_for_status {
  my ($node, $id, $status) = @_;
  return $node->poll_query_until('postgres',
    "SELECT status = '$status' FROM vault.backups WHERE id = $id");
}

1;
