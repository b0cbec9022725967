# pgvault against Azurite, Microsoft's Azure Blob emulator, which checks
# SharedKey signatures (test/servers/azurite.sh).
use strict;
use warnings;
use Test::More;
use PgVault::ObjectStore;
use PgVault::StoreSuite;

my $azure = PgVault::ObjectStore->start_azurite();
run_store_suite(
  store => $azure, scheme => 'azure', label => 'Azure',
  part_setting => "pgvault.azure_block_size = '4MB'", part_size => 4 * 1024 * 1024,
  secret_setting => 'azure_key',
  rejected => qr/Azure.*403/s,
  uploads_cleaned => 0);
$azure->stop;
done_testing();
