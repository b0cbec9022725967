# Settings PostgreSQL rejected at start-up (issue 13, item 4): it runs on the
# defaults after a WARNING; pgvault remembers, refuses to back up into a
# repository the DBA did not choose, and says so in vault.status and the log.
# And a pgvault.database that does not exist is named in vault.status.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('misconfigured');
my $default_repo = $node->data_dir;
$default_repo =~ s{/[^/]+$}{/pgvault};
$node->append_conf('postgresql.conf', q{
pgvault.repository = 'relative/path'
pgvault.schedule = '61 * * * *'
pgvault.enabled = 'maybe'
pgvault.schedul = '@daily'
});
$node->restart;

sub sql { return $node->safe_psql('postgres', shift) }

my $problems = sql('SELECT setting_problems FROM vault.status');
like($problems, qr/pgvault\.repository \(.*postgresql\.conf:\d+\): pgvault\.repository: invalid repository URL "relative/,
  'vault.status names the rejected repository line and why');
like($problems, qr/pgvault\.schedule \(.*\): pgvault\.schedule: invalid minute/, 'and the schedule');
like($problems, qr/pgvault\.enabled \(.*\): .*Boolean/, 'and the boolean PostgreSQL could not parse');
like($problems, qr/pgvault\.schedul \(.*\): unknown setting/, 'and the mistyped name');
ok($node->poll_query_until('postgres', q{SELECT scheduler_state LIKE 'misconfigured%' FROM vault.status}),
  'the scheduler says misconfigured, not idle');

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT vault.create_backup()');
isnt($ret, 0, 'create_backup refuses');
like($err, qr/pgvault\.repository is invalid, so pgvault uses no repository \(not one the DBA did not choose\): pgvault\.repository \(/,
  'naming the setting and its error');
ok(!-e $default_repo, 'nothing was written to the default repository');
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM vault.cleanup()');
like($err, qr/pgvault\.repository is invalid/, 'cleanup does not act on the default repository either');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM vault.verify_backup()});
like($err, qr/pgvault\.repository is invalid/, 'verify_backup does not say "not found" in the default repository');
like(slurp_file($node->logfile), qr/WARNING:  pgvault: invalid setting pgvault\.repository/,
  'the scheduler logs a WARNING at start');

# Fixed in postgresql.auto.conf (the last word): backups work again.
sql("ALTER SYSTEM SET pgvault.repository = '$repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = '$repo'") or die;
like(sql('SELECT (vault.create_backup()).id'), qr/^\d+$/, 'after the fix a backup is written');
unlike(sql('SELECT setting_problems FROM vault.status'), qr/pgvault\.repository/,
  'and the repository is no longer listed');

# A replication connection the server refuses (the full's walsender
# connection is started before the history row is written, and completed
# after it): the backup fails with libpq's reason and the hint, on its row.
my ($host, $port) = ($node->host, $node->port);
sql("ALTER SYSTEM SET pgvault.replication_conninfo = 'host=$host port=$port user=no_such_role'; "
  . 'SELECT pg_reload_conf()');
$node->poll_query_until('postgres',
  q{SELECT current_setting('pgvault.replication_conninfo') LIKE '%no_such_role%'}) or die;
($ret, $out, $err) = $node->psql('postgres', 'SELECT vault.create_backup()');
isnt($ret, 0, 'a full whose replication connection is refused fails');
like($err, qr/could not open a replication connection to this server: .*no_such_role.* \(set pgvault\.replication_conninfo/s,
  'with the server\'s reason and what to set');
is(sql(q{SELECT status || ' ' || (error_message LIKE '%role "no_such_role" does not exist%')
         FROM vault.history ORDER BY id DESC LIMIT 1}),
  'failed true', 'its history row says failed, with the reason');
sql('ALTER SYSTEM RESET pgvault.replication_conninfo; SELECT pg_reload_conf()');
$node->poll_query_until('postgres', q{SELECT current_setting('pgvault.replication_conninfo') = ''})
  or die;
like(sql('SELECT (vault.create_backup()).id'), qr/^\d+$/, 'reset, a full is taken again');

# pgvault.database naming a database that does not exist.
$node->append_conf('postgresql.conf', "pgvault.database = 'nodb'\n");
$node->restart;
ok($node->poll_query_until('postgres',
    q{SELECT scheduler_state LIKE '%cannot connect to pgvault.database "nodb": database "nodb" does not exist%' FROM vault.status}),
  'vault.status says why the scheduler is not running');

done_testing();
