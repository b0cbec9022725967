# The archived WAL as pgvault list, pgvault verify --wal and retention see it
# (issue 15 items 2, 5 and 7), on a file repository with archive_library =
# 'pgvault': two physical backups with WAL between and after them; list shows
# the archived range and the recoverable window (text and --json); verify
# --wal passes, then fails naming a deleted segment (a gap, which list shows
# too) and a damaged one; with retention_count = 1 a new backup expires the
# older ones and the WAL before its start goes while the WAL from it on and
# the history files stay; vault.cleanup() removes archived WAL no backup needs.
# vault.verify_wal() checks the same from SQL (passing, and on the gap).
use strict;
use warnings;
use File::Copy;
use File::Find;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::WalArchive;
use PgVault::Cli;

my ($node, $repo) = new_vault_node('walcat',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $wal_dir = "$repo_dir/$sysid/wal";
$node->safe_psql('postgres', 'CREATE TABLE filler (x int)');

sub sql { $node->safe_psql('postgres', shift) }

# The archived segment objects: name -> key path relative to the repository.
sub archived_segments {
  my %found;
  File::Find::find(sub {
    return unless -f $_ && /^([0-9A-F]{24})-[0-9a-f]{64}/;
    $found{$1} = $File::Find::name;
  }, $wal_dir);
  return \%found;
}

write_wal($node, 2);
my ($b1, $b1_start, $b1_stop, $b1_seg) = backup_with_start_segment($node);
write_wal($node, 3);
my ($b2, $b2_start, $b2_stop, $b2_seg) = backup_with_start_segment($node);
write_wal($node, 2);
my $segments = archived_segments();
my @names = sort keys %$segments;
ok(scalar(@names) >= 8, scalar(@names) . ' segments archived') or diag(join ' ', @names);
ok(exists $segments->{$b1_seg}, "the start segment of $b1 ($b1_seg) is archived");

# 1. pgvault list: the range and the window, as text ...
my ($ok, $out, $err) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list succeeds') or diag($err);
like($out, qr/^\Q$b1\E\s+physical/m, 'the backups come first');
like($out, qr/^archived WAL of system $sysid \(wal_segment_size 16 MB\):$/m,
  'then the archived WAL of the system') or diag($out);
like($out, qr/^  timeline 1: $names[0]\.\.$names[-1] \(\d+ segments\)$/m,
  "timeline 1: $names[0]..$names[-1]") or diag($out);
unlike($out, qr/GAP/, 'no gap');
like($out, qr/^  recoverable on timeline 1: \Q$b1_stop\E on timeline 1 \(backup \Q$b1\E, completed [^)]+\) \.\. [0-9A-F]+\/[0-9A-F]+ on timeline 1 \(archived by \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00\)$/m,
  'the recoverable window runs from the end of the oldest backup to the archived end, with times')
  or diag($out);

# ... and as JSON (an array of backups; physical ones carry "wal").
($ok, $out, $err) = pgvault('list', '--repo', $repo, '--json');
ok($ok, 'pgvault list --json succeeds') or diag($err);
my $list = decode_json($out);
is(scalar @$list, 2, '--json: still one element per backup');
my $wal = $list->[0]{wal};
ok($wal, '--json: a physical backup has "wal"') or diag($out);
is($wal->{wal_segment_size}, 16 * 1024 * 1024, '--json: wal_segment_size');
is($list->[0]{wal_segment_size}, 16 * 1024 * 1024, 'backup.json records wal_segment_size');
is($wal->{timelines}[0]{timeline}, 1, '--json: timeline 1');
is($wal->{timelines}[0]{first_segment}, $names[0], '--json: first segment');
is($wal->{timelines}[0]{last_segment}, $names[-1], '--json: last segment');
is($wal->{timelines}[0]{segments}, scalar(@names), '--json: segment count');
is_deeply($wal->{timelines}[0]{gaps}, [], '--json: no gaps');
is(scalar @{ $wal->{recoverable_windows} }, 1, '--json: one window');
my $window = $wal->{recoverable_windows}[0];
is($window->{backup}, $b1, '--json: opened by the oldest backup');
is($window->{from_lsn}, $b1_stop, '--json: from its stop LSN');
ok(defined $window->{to_time}, '--json: the end time is known (file store)');
my $end_ok = sql("SELECT '$window->{to_lsn}'::pg_lsn > '$b2_stop'::pg_lsn");
is($end_ok, 't', "--json: the window ends after $b2 ($window->{to_lsn})");

# 2. pgvault verify --wal passes.
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal');
ok($ok, "pgvault verify --wal $b1 passes") or diag("$out\n$err");
like($out, qr/^archived WAL of backup \Q$b1\E verified: \Q$b1_seg\E\.\.[0-9A-F]{24}, \d+ objects, continuous from \Q$b1_start\E to \S+ on timeline 1$/m,
  'it names the segments and the range') or diag($out);
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal', '--json');
ok($ok && decode_json($out)->{wal}{objects} > 5, 'verify --wal --json reports the WAL checked')
  or diag("$out\n$err");

# 2a. The same from SQL: vault.verify_wal() (newest physical backup by
# default), as a role granted only EXECUTE on it.
my $sql_ok = sql(qq{SELECT backup || '|' || verified || '|' || timelines::text || '|' || from_lsn
                     || '|' || (to_lsn >= '$b1_stop') || '|' || first_segment || '|' || (objects > 5)
                     || '|' || (error IS NULL)
                    FROM vault.verify_wal('$b1')});
is($sql_ok, "$b1|true|{1}|$b1_start|true|$b1_seg|true|true",
  'vault.verify_wal(name) checks the same range: timelines, from the backup\'s start, past its stop');
is(sql(q{SELECT backup FROM vault.verify_wal()}), $b2, 'vault.verify_wal() checks the newest physical backup');
sql(q{CREATE ROLE wal_auditor LOGIN; GRANT USAGE ON SCHEMA vault TO wal_auditor;
      GRANT EXECUTE ON FUNCTION vault.verify_wal(text) TO wal_auditor});
is($node->safe_psql('postgres', q{SELECT verified FROM vault.verify_wal()}, extra_params => [ '-U', 'wal_auditor' ]),
  't', 'a role granted EXECUTE on vault.verify_wal verifies without other privileges');
my ($rc, $stdout, $stderr) = $node->psql('postgres', q{SELECT * FROM vault._archiving_state()},
  extra_params => [ '-U', 'wal_auditor' ]);
like($stderr, qr/permission denied for function _archiving_state/, 'but no internal function');

# 2b. With --restore-test the scratch server replays the archive to its end
# through pgvault wal-fetch and promotes.
sub segment_start_lsn {
  my ($name) = @_;
  my ($log, $seg) = (hex(substr($name, 8, 8)), hex(substr($name, 16, 8)));
  return $log * 2**32 + $seg * 16 * 1024 * 1024;
}
sub lsn_value { my ($hi, $lo) = split m{/}, shift; return hex($hi) * 2**32 + hex($lo) }
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal', '--restore-test');
ok($ok, "verify --wal --restore-test $b1 passes") or diag("$out\n$err");
my ($replayed) = "$out$err" =~ m{restore test: replayed the archived WAL to ([0-9A-F]+/[0-9A-F]+) and promoted};
ok($replayed, 'the scratch server replayed the archived WAL and promoted') or diag("$out\n$err");
cmp_ok(lsn_value($replayed // '0/0'), '>=', segment_start_lsn($names[-1]),
  "into the last archived segment $names[-1]: the archive's end, not the backup's");

# 3. A segment deleted between the backups: a gap, named by verify and list.
my ($mid) = grep { $_ gt $b1_seg && $_ lt $b2_seg } @names;
ok($mid, "a segment between the backups: $mid");
my $mid_path = $segments->{$mid};
move($mid_path, "$mid_path.away") or die "move: $!";
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal');
ok(!$ok, 'verify --wal fails with a segment missing');
like($err, qr/WAL gap: segment $mid \(timeline 1\) is missing from the archive, which continues at [0-9A-F]{24}/,
  'naming the missing segment') or diag($err);
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b2, '--wal');
ok($ok, "the later backup $b2 still verifies: its WAL starts after the gap") or diag($err);
my ($verified, $sql_error) = split /\|/, sql(qq{SELECT verified, error FROM vault.verify_wal('$b1')});
is($verified, 'f', 'vault.verify_wal() fails on the gap too');
like($sql_error, qr/WAL gap: segment $mid \(timeline 1\) is missing from the archive/, 'naming the segment');
like(slurp_file($node->logfile), qr/WARNING:  pgvault: archived WAL of backup "\Q$b1\E" failed verification: .*WAL gap/,
  'and the server log says so');
($ok, $out, $err) = pgvault('list', '--repo', $repo);
like($out, qr/^    GAP: $mid missing \(1 segment\)$/m, 'list shows the gap') or diag($out);
like($out, qr/^  recoverable on timeline 1: \Q$b1_stop\E .*\n\s+\Q$b2_stop\E on timeline 1 \(backup \Q$b2\E/m,
  'and two windows: one ending at the gap, one from the later backup') or diag($out);
($ok, $out, $err) = pgvault('list', '--repo', $repo, '--json');
is_deeply(decode_json($out)->[0]{wal}{timelines}[0]{gaps},
  [ { first => $mid, last => $mid, segments => 1 } ], '--json: the gap');
move("$mid_path.away", $mid_path) or die "move back: $!";

# 4. A damaged segment object: verify names it.
my $victim = $names[-2];
my $victim_path = $segments->{$victim};
copy($victim_path, "$victim_path.orig") or die "copy: $!";
{
  open(my $fh, '+<:raw', $victim_path) or die "open: $!";
  my $size = -s $victim_path;
  seek($fh, int($size / 2), 0);
  read($fh, my $byte, 1);
  seek($fh, int($size / 2), 0);
  print $fh chr(ord($byte) ^ 0xFF);
  close $fh;
}
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal');
ok(!$ok, 'verify --wal fails with a damaged segment object');
like($err, qr/1 damaged WAL object:.*\Q$victim\E/s, "naming it ($victim)") or diag($err);
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal', '--restore-test');
ok(!$ok, 'verify --wal --restore-test fails on the damaged segment');
like($err, qr/stopped while replaying the archived WAL.*\Q$victim\E/s,
  'the server stopped at it (wal-fetch\'s hard error), and the log says which') or diag($err);
move("$victim_path.orig", $victim_path) or die "restore: $!";
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b1, '--wal');
ok($ok, 'verify --wal passes again once it is restored') or diag($err);

# 5. Retention: with retention_count = 1 a new backup expires the older two;
# the WAL before its start goes, the WAL from it on and history files stay.
# (A history file as the archiver stores it with compression none; timeline
# 1 has none of its own.)
my $history = "$wal_dir/00000002.history";
PostgreSQL::Test::Utils::append_to_file($history, "1\t0/1000000\tno recovery target specified\n");
sql("ALTER SYSTEM SET pgvault.retention_count = 1");
sql('SELECT pg_reload_conf()');
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.retention_count') = '1'");
write_wal($node, 1);
my ($b3, $b3_start, $b3_stop, $b3_seg) = backup_with_start_segment($node);
is(sql("SELECT string_agg(name, ',' ORDER BY name) FROM vault.backups WHERE status = 'expired'"),
  join(',', sort ($b1, $b2)), 'the older backups expired');
write_wal($node, 1);
my $after = archived_segments();
my @before_start = grep { $_ lt $b3_seg } sort keys %$after;
is_deeply(\@before_start, [], "no archived segment before $b3_seg (the new backup's start) is left")
  or diag(join ' ', @before_start);
ok(exists $after->{$b3_seg}, "the start segment $b3_seg stays");
my @from_start = grep { $_ ge $b3_seg } @names;
ok((grep { !exists $after->{$_} } @from_start) == 0, 'every segment archived from it on stays');
ok(-f $history, 'the history file stays');
like(slurp_file($node->logfile), qr/archived WAL [0-9A-F]{24}(\.\.[0-9A-F]{24})? \(timeline 1\) removed: no remaining physical backup needs it/,
  'the server log says what was removed');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $b3, '--wal');
ok($ok, "verify --wal $b3 passes after retention") or diag($err);
($ok, $out, $err) = pgvault('list', '--repo', $repo);
like($out, qr/^  recoverable on timeline 1: \Q$b3_stop\E on timeline 1 \(backup \Q$b3\E/m,
  'the window now starts at the retained backup') or diag($out);
like($out, qr/^  timeline 2: no segments; forked from timeline 1 at 0\/1000000$/m,
  'the history file is read') or diag($out);

# 6. vault.cleanup() removes archived WAL that no backup needs: a segment
# object put back from before the retained backup.
my $old = $names[0];
my $old_dir = "$wal_dir/00000001/" . substr($old, 0, 16);
mkdir $old_dir;
my ($old_file) = $segments->{$old} =~ m{([^/]+)$};
PostgreSQL::Test::Utils::append_to_file("$old_dir/$old_file", 'stale');
my $rows = sql("SELECT name || ':' || action FROM vault.cleanup()");
like($rows, qr/^\Q$old\E(\.\.[0-9A-F]{24})? \(timeline 1\):removed archived WAL$/,
  'vault.cleanup() removes it and says so') or diag($rows);
ok(!-e "$old_dir/$old_file", 'the stale segment object is gone');
ok(-f $history, 'the history file is still there');

done_testing();
