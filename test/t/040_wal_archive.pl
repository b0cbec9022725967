# pgvault as the archive module (archive_library = 'pgvault'): segments land
# in the repository under <sysid>/wal/ with their checksum in the key; a
# repeated push is harmless; a different file under an archived name is
# refused without touching the stored object; an unwritable repository makes
# archiving fail and retry while the server keeps running.
use strict;
use warnings;
use Digest::SHA;
use File::Find;
use File::Path qw(remove_tree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('archiver', compression => 'none',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $pg_wal = $node->data_dir . '/pg_wal';
$node->safe_psql('postgres', 'CREATE TABLE filler (x int)');

sub stat_archiver {
  return $node->safe_psql('postgres',
    'SELECT archived_count, failed_count, last_archived_wal, last_failed_wal FROM pg_stat_archiver');
}
sub archived_count { (split /\|/, stat_archiver())[0] }
sub failed_count   { (split /\|/, stat_archiver())[1] }

# Writes a little WAL and switches to a new segment; returns the finished segment's name.
sub switch_segment {
  my $name = $node->safe_psql('postgres', q{
    INSERT INTO filler SELECT generate_series(1, 100);
    SELECT pg_walfile_name(pg_current_wal_lsn())});
  $node->safe_psql('postgres', 'SELECT pg_switch_wal()');
  return $name;
}

sub wait_archived {
  my ($name) = @_;
  return $node->poll_query_until('postgres',
    "SELECT '$name' <= last_archived_wal FROM pg_stat_archiver");
}

sub segment_dir {
  my ($name) = @_;
  return "$repo_dir/$sysid/wal/" . substr($name, 0, 8) . '/' . substr($name, 0, 16);
}

# The stored objects of a segment: file names in its directory starting with "<name>-".
sub stored_objects {
  my ($name) = @_;
  my $dir = segment_dir($name);
  opendir(my $dh, $dir) or return ();
  my @found = sort grep { /^\Q$name\E-/ } readdir $dh;
  closedir $dh;
  return @found;
}

sub sha256_file { Digest::SHA->new(256)->addfile($_[0], 'b')->hexdigest }

# 1. A segment is archived, under its checksum, byte for byte (compression none).
my $first = switch_segment();
ok(wait_archived($first), "segment $first archived");
my @objects = stored_objects($first);
is(scalar @objects, 1, 'one object for the segment') or diag(`find '$repo_dir' -type f`);
my ($key_sha) = $objects[0] =~ /^\Q$first\E-([0-9a-f]{64})$/;
ok($key_sha, 'the key carries a SHA-256 and no codec suffix (compression none)');
my $stored = segment_dir($first) . "/$objects[0]";
is(sha256_file($stored), $key_sha, 'the stored bytes match the checksum in the key');
is(sha256_file("$pg_wal/$first"), $key_sha, 'and they are the segment in pg_wal');
is(failed_count(), 0, 'no failures so far');

# 2. The same segment again (a crash between upload and .done): success, nothing new.
my $before = archived_count();
my $log_offset = -s $node->logfile;
rename("$pg_wal/archive_status/$first.done", "$pg_wal/archive_status/$first.ready")
  or die "rename .done: $!";
my $second = switch_segment();
ok(wait_archived($second), "segment $second archived after the re-archived $first");
ok($node->poll_query_until('postgres', "SELECT archived_count >= $before + 2 FROM pg_stat_archiver"),
  'the repeated segment counts as archived');
ok($node->log_contains(qr/WAL file "\Q$first\E" is archived already with the same content/, $log_offset),
  'the log says the segment was archived already');
is(failed_count(), 0, 'a repeated push is no failure');
is_deeply([ stored_objects($first) ], \@objects, 'still exactly one object for it');

# 3. A different object planted under the next segment's name: refused, kept, server up.
# (Right after a switch the insert position is the new segment's first byte,
# which pg_walfile_name attributes to the previous one: write first.)
my $victim = $node->safe_psql('postgres',
  'INSERT INTO filler VALUES (0); SELECT pg_walfile_name(pg_current_wal_lsn())');
my $planted_content = "not this cluster's WAL\n";
my $planted_sha = Digest::SHA::sha256_hex($planted_content);
my $planted = segment_dir($victim) . "/$victim-$planted_sha";
PostgreSQL::Test::Utils::append_to_file($planted, $planted_content);
$log_offset = -s $node->logfile;
is(switch_segment(), $victim, "the planted name $victim is the next to be archived");
ok($node->poll_query_until('postgres',
  "SELECT failed_count > 0 AND last_failed_wal = '$victim' FROM pg_stat_archiver"),
  'archiving the segment fails');
ok($node->wait_for_log(
  qr/WARNING: .*could not archive WAL file "\Q$victim\E".*different content/, $log_offset),
  'WARNING names the segment and the different content');
ok($node->log_contains(qr/\Q$planted_sha\E/, $log_offset), 'and the stored checksum');
is(PostgreSQL::Test::Utils::slurp_file($planted), $planted_content, 'the planted object is unchanged');
is(scalar(stored_objects($victim)), 1, 'nothing else was written under that name');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
isnt($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'"),
  '', 'the archiver process is alive');

# Removing the planted object lets the segment through.
unlink $planted or die "unlink: $!";
my $wake = switch_segment();    # wakes the archiver, which otherwise retries after a minute
ok(wait_archived($victim), "$victim archived once the planted object is gone");
ok(wait_archived($wake), "and $wake after it");

# 4. An unwritable repository: failures and retries, no crash; writable again: archived.
my @dirs;
find(sub { push @dirs, $File::Find::name if -d $_ }, $repo_dir);
chmod 0500, @dirs;
my $failed_before = failed_count();
$log_offset = -s $node->logfile;
my $blocked = switch_segment();
ok($node->poll_query_until('postgres',
  "SELECT failed_count > $failed_before AND last_failed_wal = '$blocked' FROM pg_stat_archiver"),
  'archiving into an unwritable repository fails');
ok($node->log_contains(qr/WARNING: .*could not archive WAL file "\Q$blocked\E" into \Q$repo\E/, $log_offset),
  'WARNING names the segment and the repository');
ok(-f "$pg_wal/archive_status/$blocked.ready", 'the segment waits in pg_wal');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
chmod 0700, @dirs;
switch_segment();
ok(wait_archived($blocked), "$blocked archived once the repository is writable again");
my ($blocked_object) = stored_objects($blocked);
is(sha256_file(segment_dir($blocked) . "/$blocked_object"), sha256_file("$pg_wal/$blocked"),
  'its stored bytes are the segment');

# 5. A rejected pgvault.repository line: nothing is archived anywhere, the
# archiver says why and keeps running; fixed and reloaded, it catches up.
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgvault.repository = 'ftp://nowhere'\n");
$node->reload;
my $waiting = switch_segment();
ok($node->wait_for_log(qr/WARNING: .*WAL archiving is not configured: pgvault.repository is invalid/, $log_offset),
  'the archiver logs that archiving is not configured, naming pgvault.repository');
ok($node->wait_for_log(qr/archive_mode enabled, yet archiving is not configured/, $log_offset),
  'and PostgreSQL does not archive');
ok(-f "$pg_wal/archive_status/$waiting.ready", "$waiting waits in pg_wal");
is(scalar(stored_objects($waiting)), 0, 'nothing was written for it');
$node->append_conf('postgresql.conf', "pgvault.repository = '$repo'\n");
$node->reload;
switch_segment();
ok(wait_archived($waiting), "$waiting archived once the setting is fixed");

$node->stop;
done_testing();
