# vault.verify_backup reads a backup back and records the outcome on its
# row; a changed byte fails it naming the object; pgvault.verify_schedule
# verifies the newest backup on its own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('verifysql');
my $q = sub { $node->safe_psql('postgres', shift) };
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], 'pgbench data loaded');

my ($name, $location) = split /\|/, $q->('SELECT name, location FROM vault.create_backup()');
is($q->('SELECT backup || verified || objects || (files > 900) || (error IS NULL) FROM vault.verify_backup()'),
  "${name}true2truetrue", 'vault.verify_backup() verifies the newest backup: both objects, every file');
is($q->("SELECT verify_status || (verified_at > completed_at) FROM vault.history WHERE name = '$name'"), 'passedtrue',
  'the row records when and that it passed');
my ($lname) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical')});
is($q->("SELECT verified FROM vault.verify_backup('$lname')"), 't', 'a logical backup verifies');
is($q->("SELECT verified || ' ' || objects || ' ' || (files IS NULL) FROM vault.verify_backup('$lname', depth => 'stored')"),
  'true 1 true', 'and its stored bytes check (depth stored), which opens no archive');

# One changed byte in one object.
my ($dir) = $location =~ m{^file://(.*)$};
my ($object) = glob("$dir/base.tar*");
open(my $fh, '+<:raw', $object) or die $!;
seek($fh, 4000, 0);
read($fh, my $byte, 1);
seek($fh, 4000, 0);
print $fh chr(ord($byte) ^ 1);
close $fh;
# The check of the stored bytes alone finds it, and its failure is recorded
# (a pass of it is not: regress privileges).
my ($stored_ok, $stored_error) = split /\|/, $q->("SELECT verified, error FROM vault.verify_backup('$name', 'stored')");
is($stored_ok, 'f', 'depth stored fails on the changed byte');
like($stored_error, qr/object "base\.tar[^"]*" of backup "\Q$name\E" is corrupt: SHA-256 mismatch/, "naming the object: $stored_error");
is($q->("SELECT verify_status || ':' || (verify_error = '$stored_error') FROM vault.history WHERE name = '$name'"), 'failed:true',
  'and the row records that failure');
$q->("UPDATE vault.backups SET verify_status = NULL, verify_error = NULL WHERE name = '$name'");
my ($verified, $error) = split /\|/, $q->("SELECT verified, error FROM vault.verify_backup('$name')");
is($verified, 'f', 'a changed byte fails verification');
like($error, qr/object "base\.tar[^"]*" of backup "\Q$name\E" is corrupt: SHA-256 mismatch/, "naming the object: $error");
is($q->("SELECT verify_status || ':' || (verify_error = '$error') FROM vault.history WHERE name = '$name'"), 'failed:true',
  'the row records the failure and why');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM vault.verify_backup('20000101T000000Z-physical')});
like($err, qr/not found|no backup/i, 'an unknown backup is an error');

# Scheduled verification of the newest backup.
my ($newest) = $q->('SELECT name FROM vault.create_backup()');
$node->append_conf('postgresql.conf', "pgvault.verify_schedule = '2 seconds'\n");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT verify_status = 'passed' FROM vault.history WHERE name = '$newest'"),
  'pgvault.verify_schedule verified the newest backup');
$node->append_conf('postgresql.conf', "pgvault.verify_schedule = ''\n");
$node->reload;

$node->stop;
done_testing();
