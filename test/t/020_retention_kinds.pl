# Retention per kind (issue 13, item 1): physical backups and the logical
# backups of each database are kept and expired each by their own count, so
# a logical dump never expires the cluster's only physical backup; the
# newest backup of each kind is never removed, by retention or by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('retention_kinds', conf => "pgvault.retention_count = 1\n");
$node->safe_psql('postgres', 'CREATE DATABASE tiny; CREATE DATABASE other');
$node->safe_psql('tiny', 'CREATE TABLE t AS SELECT 1 AS x');

sub sql { return $node->safe_psql('postgres', shift) }
sub backup {
  my ($args) = @_;
  return sql("SELECT (vault.create_backup($args)).id");
}
sub status_of { return sql("SELECT status FROM vault.backups WHERE id = " . shift) }

my $p1 = backup('');
my $p2 = backup('');
is(status_of($p1), 'expired', 'count 1: the older physical backup expires');
is(status_of($p2), 'completed', 'the newest physical backup stays');

my $l1 = backup(q{kind => 'logical', database => 'tiny'});
is(status_of($p2), 'completed', 'a logical dump of another database does not expire the physical backup');
my $l2 = backup(q{kind => 'logical', database => 'tiny'});
is(status_of($l1), 'expired', 'the older dump of tiny expires by the count of its own kind');
my $o1 = backup(q{kind => 'logical', database => 'other'});
is(status_of($l2), 'completed', 'a dump of another database does not expire tiny\'s');
my $s1 = backup(q{kind => 'logical', database => 'tiny', schema_only => true});
is(status_of($l2), 'completed', 'a schema-only dump is counted apart from the full dumps');
is(sql('SELECT count(*) FROM vault.cleanup()'), '0', 'cleanup: nothing more to expire');
is(sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM vault.backups WHERE status = 'completed'"),
  "$p2,$l2,$o1,$s1", 'one backup of each kind and database is left');

# The newest physical backup is refused by hand too, although newer dumps exist.
my ($ret, $out, $err) = $node->psql('postgres', "SELECT vault.delete_backup(name) FROM vault.backups WHERE id = $p2");
like($err, qr/newest complete physical backup of this cluster; pgvault never removes it/,
  'delete_backup refuses the newest physical backup while newer logical ones exist');

# Settings per kind: keep 3 dumps per database, 1 physical.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.logical_retention_count = 3; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.logical_retention_count') = '3'");
my $l3 = backup(q{kind => 'logical', database => 'tiny'});
my $l4 = backup(q{kind => 'logical', database => 'tiny'});
my $l5 = backup(q{kind => 'logical', database => 'tiny'});
is(join(',', map { status_of($_) } ($l2, $l3, $l4, $l5)), 'expired,completed,completed,completed',
  'logical_retention_count keeps 3 dumps of tiny');
my $p3 = backup('');
is(join(',', map { status_of($_) } ($p2, $p3, $l3)), 'expired,completed,completed',
  'retention_count still keeps 1 physical backup');
is(sql("SELECT logical_retention_count FROM vault.status"), '3', 'vault.status shows the logical count');

done_testing();
