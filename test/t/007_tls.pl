# TLS to the object store is verified by default: a server whose certificate
# the system does not trust is refused with an error naming the store, and
# pgvault.storage_ca_file makes the same server trusted — for the server and
# for the pgvault command reading the same configuration.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::ObjectStore;
use PgVault::TestNode;
use PgVault::RoundTrip;

my $azure = PgVault::ObjectStore->start_azurite(tls => 1);
like($azure->endpoint, qr{^https://127\.0\.0\.1:\d+/}, 'Azurite serves HTTPS');
my ($node, $repo) = new_vault_node('tls', repository => 'azure://tls-test', conf => $azure->pgvault_conf);

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'a backup to a server with an untrusted certificate fails');
my $error = $node->safe_psql('postgres', 'SELECT error_message FROM vault.history ORDER BY id DESC LIMIT 1');
like($error, qr/^Azure: .*https:\/\/127\.0\.0\.1.*(certificate|SSL)/i, "the row names the store and the TLS failure: $error");

my $ca = $azure->ca_file;
$node->append_conf('postgresql.conf', "pgvault.storage_ca_file = '$ca'\n");
$node->reload;
is($node->safe_psql('postgres', 'SELECT status FROM vault.create_backup()'), 'completed',
  'with pgvault.storage_ca_file the same server is trusted');
is(scalar @{ cli_list($node) }, 1, 'pgvault list --config trusts it through the same setting');
command_fails_like([ 'pgvault', 'list', '--repo', $repo, '--config', '/dev/null' ], qr/no credentials|storage account/,
  'without the settings the command says what is missing');

$node->stop;
$azure->stop;
done_testing();
