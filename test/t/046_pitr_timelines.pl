# Point-in-time restore across timelines, and what a restored copy may do to
# the repository it came from:
#  - a restored copy with the default options, started beside the original,
#    neither archives nor takes scheduled backups into the original's
#    repository (archive_mode off, the schedule empty); with --schedule
#    preserve it would (the positive control);
#  - the cluster that replaces a lost original is restored to a point with
#    --archive-mode preserve, promoted onto timeline 2, and archives on it
#    without touching timeline 1's objects;
#  - a second restore to latest (--target-timeline latest) follows timeline 2
#    and holds its new rows; a backup taken on timeline 1 after the fork
#    cannot reach timeline 2: passed over, or refused when named.
use strict;
use warnings;
use Digest::SHA;
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('timeline_source',
  conf => "archive_mode = on\narchive_library = 'pgvault'\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
# In postgresql.auto.conf but never reloaded here: the source takes no
# scheduled backups, its backups carry the schedule to every restored copy.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.schedule = '2 seconds'");
$node->safe_psql('postgres', 'CREATE TABLE batches (batch int, row_no int, PRIMARY KEY (batch, row_no))');

my %time_after;
sub add_batch {
  my ($on, $b) = @_;
  $time_after{$b} = $on->safe_psql('postgres', qq{
INSERT INTO batches SELECT $b, g FROM generate_series(1, 10) g;
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
});
  usleep(50_000);
}

sub backup {
  my ($on, $label) = @_;
  my ($name, $status) = split /\|/, $on->safe_psql('postgres',
    "SELECT name, status FROM vault.create_backup(label => '$label')");
  is($status, 'completed', "backup $label completed");
  return $name;
}

# Switches WAL on a node and waits until its archiver archived what was written.
sub archive_all {
  my ($on) = @_;
  my $segment = $on->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
  $on->safe_psql('postgres', 'SELECT pg_switch_wal()');
  ok($on->poll_query_until('postgres', "SELECT '$segment' <= last_archived_wal FROM pg_stat_archiver"),
    $on->name . ": WAL archived up to $segment");
  return $segment;
}

# Every object of the repository under $prefix, path => SHA-256.
sub objects_under {
  my ($prefix) = @_;
  my %objects;
  return %objects unless -d "$repo_dir/$prefix";
  find(sub {
      return unless -f $_;
      (my $rel = $File::Find::name) =~ s{^\Q$repo_dir\E/}{};
      $objects{$rel} = Digest::SHA->new(256)->addfile($_, 'b')->hexdigest;
    }, "$repo_dir/$prefix");
  return %objects;
}
# A restore adds only its restore record (<sysid>/restores/): left out.
sub listing {
  my %o = objects_under($_[0] // $sysid);
  return join "\n", map { "$_ $o{$_}" } grep { !m{^\d+/restores/} } sort keys %o;
}

my $copies = 0;
sub restore_copy {
  my (@options) = @_;
  my $copy = PostgreSQL::Test::Cluster->new('timeline_copy' . ++$copies);
  my ($stdout, $stderr);
  my $ok = IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--pgdata', $copy->data_dir,
      @options ], '>', \$stdout, '2>', \$stderr);
  ok($ok, "restore @options succeeds") or diag("stdout:\n$stdout\nstderr:\n$stderr");
  $copy->append_conf('postgresql.conf', 'port = ' . $copy->port . "\n") if $ok;
  return ($copy, $stdout, $stderr);
}

sub batches_in {
  my ($copy) = @_;
  return $copy->safe_psql('postgres', q{
SELECT string_agg(batch::text, ',' ORDER BY batch) FROM (SELECT DISTINCT batch FROM batches) b});
}

add_batch($node, 1);
my $backup_early = backup($node, 'early');
add_batch($node, 2);
add_batch($node, 3);
my $backup_late = backup($node, 'late');
add_batch($node, 4);
archive_all($node);

# 1. A copy restored with the default options, started beside the original.
my $before = listing();
my ($beside, $beside_out) = restore_copy('--backup', 'latest');
like($beside_out, qr/archive_mode = 'off' \(--archive-mode off\)/, 'the restore says the copy will not archive');
like($beside_out, qr/pgvault\.schedule, pgvault\.incremental_schedule, pgvault\.logical_schedule = '' \(--schedule off\)/,
  'and will not take scheduled backups');
$beside->start;
is($beside->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'the copy beside the original does not archive');
ok($beside->poll_query_until('postgres',
  'SELECT scheduler_pid IS NOT NULL AND schedule IS NULL AND next_run_at IS NULL FROM vault.status'),
  'its scheduler runs with no schedule and no next run');
$beside->safe_psql('postgres', 'INSERT INTO batches VALUES (99, 1)');
my $beside_segment = $beside->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$beside->safe_psql('postgres', 'SELECT pg_switch_wal(); CHECKPOINT');
ok(!-e $beside->data_dir . "/pg_wal/archive_status/$beside_segment.ready"
  && !-e $beside->data_dir . "/pg_wal/archive_status/$beside_segment.done",
  'its finished segment is not queued for archiving');
is($beside->safe_psql('postgres', 'SELECT archived_count + failed_count FROM pg_stat_archiver'), '0',
  'its archiver never ran');
is($beside->safe_psql('postgres', "SELECT count(*) FROM vault.backups WHERE trigger = 'scheduled'"), '0',
  'it took no scheduled backup');
$beside->stop;
is(listing(), $before, "the original's repository is unchanged by the copy");

# 2. The original is lost. Its replacement: restored to just after batch 2,
# promoted onto timeline 2, archiving preserved.
$node->stop;
my %timeline1 = objects_under("$sysid/wal/00000001");
my ($replacement, $dr_out) = restore_copy('--backup', 'latest', '--target-time', $time_after{2},
  '--archive-mode', 'preserve');
like($dr_out, qr/^backup "\Q$backup_early\E" .*: it is the newest physical backup that ends before the target/m,
  'the early backup is chosen (the late one completed after the target)');
like($dr_out, qr/^archived WAL: time \S+ \S+ is recoverable from backup \Q$backup_early\E \(window /m,
  'the target time is inside the recoverable window');
like($dr_out, qr/archive_mode kept as the backup had it \(--archive-mode preserve\)/,
  'the restore says archiving is kept');
$replacement->start;
ok($replacement->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the replacement is promoted');
is($replacement->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '2',
  'on timeline 2');
is(batches_in($replacement), '1,2', 'it holds the batches before the target');
is($replacement->safe_psql('postgres', 'SHOW archive_mode'), 'on', 'and archives');
add_batch($replacement, 102);
my $tl2_segment = archive_all($replacement);
like($tl2_segment, qr/^00000002/, 'its WAL is on timeline 2');
# The key of a history file is its name and the codec suffix of pgvault.compression.
sub history_objects { my @found = glob("$repo_dir/$sysid/wal/" . sprintf('%08X', $_[0]) . '.history*'); return scalar @found }
is(history_objects(2), 1, 'the history file of timeline 2 is archived');
my %tl2 = objects_under("$sysid/wal/00000002");
ok((grep { m{/\Q$tl2_segment\E-[0-9a-f]{64}} } keys %tl2), "segment $tl2_segment archived under timeline 2");

my %timeline1_after = objects_under("$sysid/wal/00000001");
my @changed = grep { !exists $timeline1_after{$_} || $timeline1_after{$_} ne $timeline1{$_} } keys %timeline1;
is_deeply(\@changed, [], "no object of timeline 1 was removed or changed");
my @added = grep { !exists $timeline1{$_} } sort keys %timeline1_after;
is_deeply([ grep { !/\.partial-[0-9a-f]{64}/ } @added ], [],
  'timeline 1 gained at most the .partial segment of the promotion') or diag(join "\n", @added);
$replacement->stop;

# 3. A second restore to latest follows timeline 2 and holds its new rows;
# the late backup is on timeline 1 after the fork.
my ($latest, $latest_out) = restore_copy('--backup', 'latest', '--target', 'latest',
  '--target-timeline', 'latest');
like($latest_out, qr/^backup "\Q$backup_early\E" .*\(backup on timeline 1, recovery to timeline 2\)/m,
  'the early backup, recovering to timeline 2');
like($latest_out, qr/^archived WAL: the archived WAL from backup "\Q$backup_early\E" continues to \S+ on timeline 2$/m,
  'the archived WAL continues on timeline 2');
like($latest_out, qr/^  passed over \Q$backup_late\E: a backup on timeline 1 consistent at \S+ cannot reach timeline 2: timeline 2 forked from timeline 1 at /m,
  'the late backup is passed over: timeline 2 forked before it was consistent');
$latest->start;
ok($latest->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the second restore is promoted');
is(batches_in($latest), '1,2,102', 'it holds the rows written on timeline 2');
is($latest->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '3',
  'and is on a new timeline 3 (not archived: --archive-mode off)');
$latest->stop;
is(history_objects(3), 0, 'timeline 3 was not archived');

my ($refused_copy) = PostgreSQL::Test::Cluster->new('timeline_refused');
my ($out, $err);
ok(!IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--pgdata', $refused_copy->data_dir,
    '--backup', $backup_late, '--target', 'latest' ], '>', \$out, '2>', \$err),
  'the late backup named for latest is refused');
like($err, qr/backup "\Q$backup_late\E" cannot recover to the end of the archived WAL \(latest\): a backup on timeline 1 consistent at \S+ cannot reach timeline 2: timeline 2 forked from timeline 1 at \S+, before the backup was consistent/,
  'the error says timeline 2 forked before the backup was consistent');
ok(!-e $refused_copy->data_dir . '/PG_VERSION', 'nothing was restored');
# Staying on timeline 1, it can.
my ($stay) = restore_copy('--backup', $backup_late, '--target', 'latest', '--target-timeline', 'current');
$stay->start;
ok($stay->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the late backup recovers along timeline 1');
is(batches_in($stay), '1,2,3,4', 'to the end of timeline 1');
$stay->stop;

# 4. The positive control: with --schedule preserve the copy does take
# scheduled backups into the repository (what the default prevents).
my $before_control = listing("$sysid/backups");
my ($control, $control_out) = restore_copy('--backup', $backup_early, '--schedule', 'preserve');
like($control_out, qr/pgvault\.schedule, pgvault\.incremental_schedule, pgvault\.logical_schedule kept as the backup had them/,
  'the restore says the schedule is kept');
$control->start;
ok($control->poll_query_until('postgres',
  "SELECT count(*) > 0 FROM vault.backups WHERE trigger = 'scheduled' AND status = 'completed'"),
  'with --schedule preserve the copy takes scheduled backups');
$control->stop;
isnt(listing("$sysid/backups"), $before_control, 'into the repository it came from');

done_testing();
