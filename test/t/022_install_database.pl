# CREATE EXTENSION pgvault in another database than pgvault.database is
# refused (issue 13, item 3): one audit trail, where the scheduler runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('install_database');
$node->safe_psql('postgres', 'CREATE DATABASE elsewhere');

my ($ret, $out, $err) = $node->psql('elsewhere', 'CREATE EXTENSION pgvault');
isnt($ret, 0, 'CREATE EXTENSION in another database fails');
like($err, qr/pgvault runs in database "postgres" \(pgvault\.database\), not in "elsewhere"/,
  'the error names both databases');
like($err, qr/HINT:  Connect to database "postgres", or set pgvault\.database = 'elsewhere'/,
  'the hint says what to do');
is($node->safe_psql('elsewhere', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'vault'}), '0',
  'nothing is left behind');

# The 0.1 script had no check; updating it there is refused.
$node->safe_psql('elsewhere', q{CREATE EXTENSION pgvault VERSION '0.1'});
($ret, $out, $err) = $node->psql('elsewhere', 'ALTER EXTENSION pgvault UPDATE');
like($err, qr/pgvault runs in database "postgres"/, 'ALTER EXTENSION UPDATE there is refused too');
($ret, $out, $err) = $node->psql('elsewhere', 'SELECT vault.create_backup()');
like($err, qr/pgvault runs in database "postgres" \(pgvault\.database\), not in "elsewhere"/,
  'and the functions of the 0.1 copy refuse to write an audit trail there');

# pg_restore of a dump of pgvault.database (which holds the extension) into
# another database must not fail on CREATE EXTENSION: that copy is inert.
$node->safe_psql('postgres', 'CREATE DATABASE restored');
($ret, $out, $err) = $node->psql('restored',
  q{SET row_security = off; CREATE EXTENSION pgvault});
is($ret, 0, 'CREATE EXTENSION run by a restore (row_security = off, as pg_dump sets) in another database succeeds');
like($err, qr/WARNING:  pgvault: installed in database "restored" by a restore; its functions run only in "postgres"/,
  'with a WARNING saying it is inert');
for my $call ('vault.create_backup()', 'vault.cleanup()', q{vault.delete_backup('x')},
              'vault.verify_backup()', 'vault.cancel_backup()') {
  ($ret, $out, $err) = $node->psql('restored', "SELECT $call");
  like($err, qr/pgvault runs in database "postgres" \(pgvault\.database\), not in "restored"/,
    "$call refuses to run there");
}

# In pgvault.database it works (new_vault_node did it) and the scheduler runs.
ok($node->poll_query_until('postgres', q{SELECT scheduler_pid IS NOT NULL FROM vault.status}),
  'the scheduler runs in pgvault.database');

done_testing();
