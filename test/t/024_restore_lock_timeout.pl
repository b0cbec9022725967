# restore_logical(replace => true) does not wait forever on a table another
# session holds locked (issue 13, item 6): its pre_restore pg_dump gives up
# after pgvault.logical_lock_timeout and the error names the session.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('restore_lock', conf => "pgvault.logical_lock_timeout = '2s'\n");
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', 'CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 100) g');
my $id = $node->safe_psql('postgres', q{SELECT (vault.create_backup(kind => 'logical', database => 'shop')).id});
my $name = $node->safe_psql('postgres', "SELECT name FROM vault.backups WHERE id = $id");

# An idle-in-transaction session holding an ACCESS EXCLUSIVE lock.
my $holder = $node->background_psql('shop', on_error_stop => 1);
$holder->query_safe(q{SET application_name = 'lock_holder'});
$holder->query_safe(q{BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE});
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
$holder_pid =~ s/\s+//g;

my ($ret, $out, $err) = $node->psql('postgres',
  "SELECT * FROM vault.restore_logical('$name', 'shop', replace => true)", timeout => 120);
isnt($ret, 0, 'restore_logical fails instead of waiting forever');
like($err, qr/pgvault\.logical_lock_timeout/, 'naming the setting');
like($err, qr/pid $holder_pid \(user [^,]+, application "lock_holder", state idle in transaction\)/,
  'and the session that holds the lock');
is($node->safe_psql('shop', 'SELECT count(*) FROM pg_class WHERE relname = \'orders\''), '1',
  'the database was not touched');
$holder->quit;

my $pre = $node->safe_psql('postgres', "SELECT count(*) FROM vault.backups WHERE trigger = 'pre_restore' AND status = 'failed'");
is($pre, '1', 'the pre_restore backup is recorded as failed');

done_testing();
