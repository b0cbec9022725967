# Archived WAL across a timeline switch, encrypted (issue 15 items 2, 5 and
# 7): a backup on timeline 1, then an archive recovery that ends on timeline
# 2 (the server restarted with recovery.signal), more WAL there. pgvault list
# reads the encrypted 00000002.history only with the key and then shows the
# fork and one window from the backup across the switch; verify --wal
# follows it; retention after a backup on timeline 2 removes timeline 1's
# segments before the switch (the server reads the history with its key)
# and keeps the history and the .partial file.
use strict;
use warnings;
use File::Find;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::WalArchive;
use PgVault::Cli;

my $keys = PostgreSQL::Test::Utils::tempdir();
my $key = "$keys/backup.key";
{
  open(my $fh, '>:raw', $key) or die $!;
  print $fh join '', map { chr int rand 256 } 1 .. 32;
  close $fh;
  chmod 0600, $key;
}
my ($node, $repo) = new_vault_node('walfork',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\n"
    . "pgvault.encryption_key_file = '$key'\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $wal_dir = "$repo_dir/$sysid/wal";
$node->safe_psql('postgres', 'CREATE TABLE filler (x int)');

sub sql { $node->safe_psql('postgres', shift) }

# Archived files by name (segments, .partial, .history), encrypted objects included.
sub archived {
  my %found;
  File::Find::find(sub {
    return unless -f $_;
    if (/^([0-9A-F]{24}(?:\.partial)?)-[0-9a-f]{64}/) { $found{$1} = 1 }
    elsif (/^([0-9A-F]{8}\.history)/) { $found{$1} = 1 }
  }, $wal_dir);
  return \%found;
}

sub segment_name {
  my ($tli, $lsn) = @_;
  my ($hi, $lo) = map { hex } split m{/}, $lsn;
  my $segno = ($hi * 2**32 + $lo) / (16 * 1024 * 1024);
  return sprintf('%08X%08X%08X', $tli, int($segno / 256), $segno % 256);
}

write_wal($node, 2);
my ($b1, $b1_start, $b1_stop, $b1_seg) = backup_with_start_segment($node);
write_wal($node, 2);

# Timeline 2: archive recovery to the end of pg_wal, then promotion.
$node->stop;
$node->append_conf('postgresql.conf', "restore_command = 'false'\n");
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/recovery.signal', '');
$node->start;
$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is(sql('SELECT timeline_id FROM pg_control_checkpoint()'), 2, 'the server is on timeline 2');
write_wal($node, 3);
$node->poll_query_until('postgres',
  "SELECT count(*) > 0 FROM pg_ls_dir('pg_wal/archive_status') f WHERE f = '00000002.history.done'")
  or die '00000002.history not archived';
my $files = archived();
ok($files->{'00000002.history'}, '00000002.history is archived');

# 1. pgvault list: without the key the history cannot be read ...
my ($ok, $out, $err) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list succeeds without the key') or diag($err);
like($out, qr/^  timeline 2: .*history unknown: 00000002\.history cannot be used: .*no encryption key/m,
  'and says the history needs the key') or diag($out);
# ... with it, the fork and the window across the switch.
($ok, $out, $err) = pgvault('list', '--repo', $repo, '--encryption-key-file', $key);
ok($ok, 'pgvault list --encryption-key-file succeeds') or diag($err);
like($out, qr/^  timeline 2: 0{7}2[0-9A-F]{16}\.\.0{7}2[0-9A-F]{16} \(\d+ segments\); forked from timeline 1 at [0-9A-F]+\/[0-9A-F]+$/m,
  'timeline 2 and where it forked') or diag($out);
like($out, qr/^  recoverable on timeline 2: \Q$b1_stop\E on timeline 1 \(backup \Q$b1\E, completed [^)]+\) \.\. \S+ on timeline 2 /m,
  'one window from the backup on timeline 1 to the end of timeline 2') or diag($out);
($ok, $out, $err) = pgvault('list', '--repo', $repo, '--encryption-key-file', $key, '--json');
my $wal = decode_json($out)->[0]{wal};
my ($tl2) = grep { $_->{timeline} == 2 } @{ $wal->{timelines} };
is($tl2->{parent_timeline}, 1, '--json: timeline 2 forked from timeline 1');
my $switchpoint = $tl2->{switchpoint};
ok($switchpoint, "--json: at $switchpoint");
my $switch_seg = segment_name(1, $switchpoint);
ok($files->{"$switch_seg.partial"}, "the last segment of timeline 1 is archived as $switch_seg.partial");

# 2. verify --wal follows the switch.
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal', '--json',
  '--encryption-key-file', $key);
ok($ok, "verify --wal $b1 passes across the switch") or diag("$out\n$err");
my $report = decode_json($out)->{wal};
is_deeply($report->{timelines}, [ 1, 2 ], 'it checked timelines 1 and 2');
is($report->{to_timeline}, 2, 'to the end of timeline 2');
like($report->{last_segment}, qr/^00000002/, 'ending with a segment of timeline 2');

# 3. Retention after a backup on timeline 2: timeline 1 before the switch goes.
sql("ALTER SYSTEM SET pgvault.retention_count = 1");
sql('SELECT pg_reload_conf()');
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.retention_count') = '1'");
my @tl1_before = grep { /^00000001[0-9A-F]{16}$/ && $_ lt $switch_seg } keys %$files;
ok(@tl1_before > 0, scalar(@tl1_before) . ' segments of timeline 1 before the switch are archived');
my ($b2, $b2_start, $b2_stop, $b2_seg) = backup_with_start_segment($node);
like($b2_seg, qr/^00000002/, "the new backup $b2 is on timeline 2");
is(sql("SELECT status FROM vault.backups WHERE name = '$b1'"), 'expired', "$b1 expired");
my $after = archived();
is_deeply([ grep { /^00000001[0-9A-F]{16}$/ && $_ lt $switch_seg } sort keys %$after ], [],
  'no segment of timeline 1 before the switch is left (the server read the encrypted history)');
is_deeply([ grep { /^00000002[0-9A-F]{16}$/ && $_ lt $b2_seg } sort keys %$after ], [],
  "no segment of timeline 2 before $b2_seg is left");
ok($after->{$b2_seg}, "the start segment $b2_seg of $b2 stays");
ok($after->{'00000002.history'}, 'the history file stays');
ok($after->{"$switch_seg.partial"}, 'the .partial at the switch stays');
write_wal($node, 1);
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b2, '--wal',
  '--encryption-key-file', $key);
ok($ok, "verify --wal $b2 passes once WAL after it is archived") or diag("$out\n$err");

done_testing();
