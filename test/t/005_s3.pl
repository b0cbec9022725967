# pgvault against a real S3 server that checks signatures: OpenStack Swift
# with its s3api middleware on 127.0.0.1 (test/servers/swift.sh).
use strict;
use warnings;
use Test::More;
use PgVault::ObjectStore;
use PgVault::StoreSuite;

my $s3 = PgVault::ObjectStore->start_s3();
run_store_suite(
  store => $s3, scheme => 's3', label => 'S3',
  part_setting => "pgvault.s3_part_size = '5MB'", part_size => 5 * 1024 * 1024,
  secret_setting => 's3_secret_access_key',
  rejected => qr/S3.*403.*SignatureDoesNotMatch/s,
  uploads_cleaned => 1, request_log => 1);
$s3->stop;
done_testing();
