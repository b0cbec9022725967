# A segment whose first page says XLP_FIRST_IS_OVERWRITE_CONTRECORD (0x0008)
# is archived by pgvault like any other. PostgreSQL 15 writes that flag when
# crash recovery finds a record cut off at the end of the WAL that survived
# (its continuation segment is gone) and writes new WAL over it; pgvault used
# to refuse such a segment as having "unknown page flags", which stalled
# archiving for good. Made here as PostgreSQL's own test
# 026_overwrite_contrecord makes it: a large record that crosses into a new
# segment, an immediate stop, that segment removed, a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('overwrite', compression => 'none',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\nautovacuum = off\n");
sub sql { $node->safe_psql('postgres', shift) }
sql('CREATE TABLE filler (a int, b text)');

# Fill the current segment until less than two pages are left, so that the
# next large record starts in it and continues in the next one.
sql(q{DO $$
DECLARE
  segment int := setting::int FROM pg_settings WHERE name = 'wal_segment_size';
  page int := setting::int FROM pg_settings WHERE name = 'wal_block_size';
BEGIN
  LOOP
    INSERT INTO filler SELECT g, 'x' FROM generate_series(1, 10) g;
    EXIT WHEN segment - (pg_current_wal_insert_lsn() - '0/0') % segment < 2 * page;
  END LOOP;
END $$});
my $start_file = sql('SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
sql(q{SELECT pg_logical_emit_message(true, 'pgvault 067', repeat('xyzxz', 123456))});
my $end_file = sql('SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
isnt($end_file, $start_file, "the large record crosses from $start_file into $end_file");

# The continuation is lost: crash recovery overwrites the cut-off record.
$node->stop('immediate');
my $pg_wal = $node->data_dir . '/pg_wal';
unlink "$pg_wal/$end_file" or die "could not remove $pg_wal/$end_file: $!";
$node->start;
sql(q{INSERT INTO filler VALUES (-1, 'after the overwrite')});
my $overwritten = sql('SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
is($overwritten, $end_file, "new WAL goes on in $end_file");
sql('SELECT pg_switch_wal()');

# Its first page carries the flag (XLP_LONG_HEADER | XLP_FIRST_IS_OVERWRITE_CONTRECORD).
open(my $fh, '<:raw', "$pg_wal/$end_file") or die "$end_file: $!";
read($fh, my $header, 4) == 4 or die "$end_file: short read";
close $fh;
my $info = unpack('v', substr($header, 2, 2));
is($info & 0x000A, 0x000A, sprintf('%s starts with xlp_info 0x%04X: an overwritten contrecord', $end_file, $info));

ok($node->poll_query_until('postgres', "SELECT '$end_file' <= last_archived_wal FROM pg_stat_archiver"),
  "pgvault archived $end_file");
is(sql(q{SELECT failed_count FROM pg_stat_archiver}), '0', 'no archiving attempt failed')
  or diag(slurp_file($node->logfile));
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = sql('SELECT system_identifier FROM pg_control_system()');
my $dir = "$repo_dir/$sysid/wal/" . substr($end_file, 0, 8) . '/' . substr($end_file, 0, 16);
opendir(my $dh, $dir) or die "$dir: $!";
my @stored = grep { /^\Q$end_file\E-[0-9a-f]{64}$/ } readdir $dh;
closedir $dh;
is(scalar @stored, 1, "the repository holds $end_file") or diag(join(' ', @stored));

done_testing();
