# Point-in-time restore from a file repository: a node archives with
# archive_library = 'pgvault'; a table gets rows in batches, with the commit
# time, LSN and transaction of each batch recorded; two backups are taken in
# between. pgvault restore --target-time/-lsn/-xid/-name/--target latest picks
# the right backup, says which and why, writes recovery.signal and
# restore_command = pgvault wal-fetch, and the restored server, promoted,
# holds exactly the batches before the target. Targets outside what the
# repository can recover to are refused; a restored copy neither archives
# nor schedules unless asked to.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Cwd ();
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('pitr_source',
  conf => "archive_mode = on\narchive_library = 'pgvault'\n");
# In postgresql.auto.conf but never reloaded here: the source takes no
# scheduled backups, its backups carry the schedule to every restored copy.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgvault.schedule = '\@daily'");
$node->safe_psql('postgres', 'CREATE TABLE batches (batch int, row_no int, PRIMARY KEY (batch, row_no))');

# Commits batch $b in one transaction; returns its xid, then the time (UTC,
# ISO 8601) and the WAL position read after the commit.
my %batch;
sub add_batch {
  my ($b) = @_;
  my $out = $node->safe_psql('postgres', qq{
BEGIN;
INSERT INTO batches SELECT $b, g FROM generate_series(1, 10) g;
SELECT pg_current_xact_id();
COMMIT;
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), pg_current_wal_lsn();
});
  my ($xid, $after) = split /\n/, $out;
  my ($time, $lsn) = split /\|/, $after;
  $batch{$b} = { xid => $xid, time => $time, lsn => $lsn };
  usleep(50_000);    # commit times of different batches apart by more than clock noise
  return $batch{$b};
}

# A recorded time as pgvault writes it to PostgreSQL: "2026-12-05 10:30:00.12+00".
sub as_written {
  my ($iso) = @_;
  $iso =~ s/T/ /;
  $iso =~ s/Z$/+00/;
  $iso =~ s/(\.\d*?)0+\+/$1+/;
  $iso =~ s/\.\+/+/;
  return $iso;
}

sub backup {
  my ($label) = @_;
  my ($name, $status) = split /\|/, $node->safe_psql('postgres',
    "SELECT name, status FROM vault.create_backup(label => '$label')");
  is($status, 'completed', "backup $label completed");
  return $name;
}

add_batch($_) for 1 .. 2;
my $backup_a = backup('after batch 2');
add_batch($_) for 3 .. 5;
my $backup_b = backup('after batch 5');
add_batch(6);
$node->safe_psql('postgres', "SELECT pg_create_restore_point('after batch 6')");
add_batch($_) for 7 .. 8;

# Everything up to batch 8 archived.
my $last_segment = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok($node->poll_query_until('postgres',
  "SELECT '$last_segment' <= last_archived_wal FROM pg_stat_archiver"),
  "WAL archived up to $last_segment");
my $repo_before = join "\n", repository_listing();

# The backups and the WAL archive; a restore adds only its restore record
# (<sysid>/restores/, for pgvault report) and changes nothing else.
sub repository_listing {
  my ($dir) = $repo =~ m{^file://(.*)$};
  my @files = grep { !m{^\./\d+/restores/} } split /\n/, `cd '$dir' && find . -type f | sort`;
  return @files;
}

# Restores into a new node with the given options; returns the node, stdout
# and stderr (the node is not started when the restore failed).
my $copies = 0;
sub restore_copy {
  my (@options) = @_;
  my $copy = PostgreSQL::Test::Cluster->new('pitr_copy' . ++$copies);
  my ($stdout, $stderr);
  my $ok = IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--pgdata', $copy->data_dir,
      @options ], '>', \$stdout, '2>', \$stderr);
  return ($copy, $ok, $stdout, $stderr);
}

# Starts a restored copy and waits until recovery ended and it was promoted.
sub start_promoted {
  my ($copy) = @_;
  $copy->append_conf('postgresql.conf', 'port = ' . $copy->port . "\n");
  $copy->start;
  return $copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
}

sub batches_in {
  my ($copy) = @_;
  return $copy->safe_psql('postgres', q{
SELECT string_agg(batch::text, ',' ORDER BY batch) || CASE WHEN bool_and(n = 10) THEN '' ELSE ' (incomplete)' END
  FROM (SELECT batch, count(*) AS n FROM batches GROUP BY batch) b});
}

# Restores to a target, starts the copy and checks the batches it holds.
sub pitr_case {
  my (%c) = @_;
  my ($copy, $ok, $out, $err) = restore_copy(@{ $c{options} });
  ok($ok, "$c{name}: pgvault restore succeeds") or diag("stdout:\n$out\nstderr:\n$err");
  like($out, qr/^backup "\Q$c{backup}\E" \(.*\): \Q$c{why}\E/m, "$c{name}: chooses $c{backup} and says why")
    or diag($out);
  like($out, qr/^archived WAL: \Q$c{archive}\E/m, "$c{name}: says how the archived WAL reaches the target")
    if $c{archive};
  ok(-f $copy->data_dir . '/recovery.signal', "$c{name}: recovery.signal written");
  ok(start_promoted($copy), "$c{name}: the restored server recovers and is promoted");
  is(batches_in($copy), $c{batches}, "$c{name}: holds batches $c{batches}");
  ok($copy->log_contains(qr/$c{log}/), "$c{name}: PostgreSQL logs the recovery target") if $c{log};
  $copy->stop;
  return ($copy, $out);
}

# --target-time between batches 4 and 5: backup B completed after batch 5, so A.
my ($time_copy, $time_out) = pitr_case(
  name    => 'time between batches 4 and 5',
  options => [ '--backup', 'latest', '--target-time', $batch{4}{time} ],
  backup  => $backup_a,
  why     => 'it is the newest physical backup that ends before the target: completed ',
  batches => '1,2,3,4',
  archive => 'time ' . as_written($batch{4}{time}) . " is recoverable from backup $backup_a (window ",
  log     => 'starting point-in-time recovery to 20\d\d-');
like($time_out, qr/^  passed over \Q$backup_b\E: completed .*, after the target time/m,
  'the newer backup B is named as passed over, with why');

# What the restore wrote: recovery settings with pgvault wal-fetch, and the copy's isolation.
my $auto_conf = slurp_file($time_copy->data_dir . '/postgresql.auto.conf');
my ($pgvault_program) = grep { -x } map { "$_/pgvault" } split /:/, $ENV{PATH};
$pgvault_program = Cwd::abs_path($pgvault_program);
like($auto_conf, qr/^restore_command = '\Q$pgvault_program\E wal-fetch --repo \Q$repo\E --system-id \d+ %f %p'$/m,
  'restore_command is this pgvault binary, wal-fetch, the same repository and the system identifier');
like($auto_conf, qr/^recovery_target_time = '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00'$/m, 'recovery_target_time in UTC');
like($auto_conf, qr/^recovery_target_action = 'promote'$/m, 'promote at the target');
like($auto_conf, qr/^archive_mode = 'off'$/m, 'archive_mode off for the copy');
like($auto_conf, qr/^# pgvault restore --archive-mode off: a restored copy must not archive WAL/m,
  'with a comment saying why');
like($auto_conf, qr/^pgvault\.schedule = ''$/m, 'no schedule for the copy');
unlike($auto_conf, qr/\@daily/, "the backup's schedule line is gone");
like($time_out, qr/^postgresql\.auto\.conf: removed pgvault\.schedule = '\@daily'$/m, 'and the restore says it removed it');
like($time_out, qr/archive_mode = 'off' \(--archive-mode off\): this copy does not archive WAL into \Q$repo\E/,
  'the output says the copy does not archive');
like($time_out, qr/pgvault\.schedule, pgvault\.incremental_schedule, pgvault\.logical_schedule = '' \(--schedule off\)/,
  'and takes no scheduled backups');
$time_copy->start;
is($time_copy->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'the running copy does not archive');
is($time_copy->safe_psql('postgres', 'SHOW pgvault.schedule'), '', 'and has no schedule');
$time_copy->stop;

# --target-lsn after batch 3 (B stopped later: A), and after batch 6 (B).
pitr_case(
  name    => 'LSN after batch 3',
  options => [ '--backup', 'latest', '--target-lsn', $batch{3}{lsn} ],
  backup  => $backup_a,
  archive => "LSN $batch{3}{lsn} is recoverable from backup $backup_a (window ",
  why     => 'it is the newest physical backup that ends before the target: its stop LSN ',
  batches => '1,2,3');
pitr_case(
  name    => 'LSN after batch 6',
  options => [ '--backup', 'latest', '--target-lsn', $batch{6}{lsn} ],
  backup  => $backup_b,
  why     => 'it is the newest physical backup that ends before the target: its stop LSN ',
  batches => '1,2,3,4,5,6');

# --target-name: the restore point after batch 6.
pitr_case(
  name    => 'restore point',
  options => [ '--backup', 'latest', '--target-name', 'after batch 6' ],
  backup  => $backup_b,
  why     => 'it is the newest physical backup; backup.json cannot say whether restore point "after batch 6"',
  batches => '1,2,3,4,5,6',
  log     => 'recovery stopping at restore point "after batch 6"');

# --target-xid: batch 7 inclusive (B); batch 4 exclusive from A named by the user.
pitr_case(
  name    => 'xid of batch 7, inclusive',
  options => [ '--backup', 'latest', '--target-xid', $batch{7}{xid} ],
  backup  => $backup_b,
  why     => 'it is the newest physical backup; backup.json cannot say whether transaction',
  batches => '1,2,3,4,5,6,7',
  log     => "recovery stopping after commit of transaction $batch{7}{xid}");
pitr_case(
  name    => 'xid of batch 4, exclusive, backup A by name',
  options => [ '--backup', $backup_a, '--target-xid', $batch{4}{xid}, '--target-exclusive' ],
  backup  => $backup_a,
  why     => 'it was named with --backup; backup.json cannot say',
  batches => '1,2,3',
  log     => "recovery stopping before commit of transaction $batch{4}{xid}");

# --target latest: everything archived.
pitr_case(
  name    => 'latest',
  options => [ '--backup', 'latest', '--target', 'latest' ],
  backup  => $backup_b,
  why     => 'it is the newest physical backup; recovery replays the archived WAL after it to its end',
  archive => qq{the archived WAL from backup "$backup_b" continues to },
  batches => '1,2,3,4,5,6,7,8');

# Refusals, before anything is written.
my ($copy, $ok, $out, $err) = restore_copy('--backup', $backup_b, '--target-time', $batch{4}{time});
ok(!$ok, 'a named backup that ends after the target time is refused');
like($err, qr/backup "\Q$backup_b\E" cannot recover to time .*: completed .*, after the target time/,
  'the error says the backup ends after the target');
ok(!-e $copy->data_dir . '/PG_VERSION', 'nothing was restored');

($copy, $ok, $out, $err) = restore_copy('--backup', 'latest', '--target-time', $batch{1}{time});
ok(!$ok, 'a target time before the oldest backup is refused');
like($err, qr/no physical backup can recover to time .*\n  \Q$backup_b\E: completed .*\n  \Q$backup_a\E: completed .*\nThe recoverable window starts at the end of the oldest backup \(\Q$backup_a\E: completed /,
  'the error lists each backup and where the recoverable window starts');
ok(!-e $copy->data_dir . '/PG_VERSION', 'nothing was restored');

# After the end of the archive: a time read and an LSN written after the last
# archived segment (nothing switched since).
my ($time_after_archive, $lsn_after_archive) = split /\|/, $node->safe_psql('postgres', q{
INSERT INTO batches VALUES (9, 1);
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), pg_current_wal_lsn();
});
($copy, $ok, $out, $err) = restore_copy('--backup', 'latest', '--target-time', $time_after_archive);
ok(!$ok, 'a target time after the archived WAL is refused');
like($err, qr/cannot restore to time \S+ \S+: time \S+ \S+ is not recoverable: the recoverable window is \S+ on timeline 1 \(backup \Q$backup_a\E, completed [^)]*\) \.\. \S+ on timeline 1 \(archived by /,
  'the error states the recoverable window that exists');
ok(!-e $copy->data_dir . '/PG_VERSION', 'nothing was restored');
($copy, $ok, $out, $err) = restore_copy('--backup', 'latest', '--target-lsn', $lsn_after_archive);
ok(!$ok, 'a target LSN after the archived WAL is refused');
like($err, qr/cannot restore to LSN \Q$lsn_after_archive\E: LSN \Q$lsn_after_archive\E is not recoverable: the recoverable window is /,
  'with the window');

($copy, $ok, $out, $err) = restore_copy('--backup', 'latest', '--target-time', $batch{1}{time}, '--target', 'latest');
ok(!$ok, 'two targets are refused');
like($err, qr/give only one recovery target/, 'with the parser\'s message');

# Restoring wrote nothing into the repository.
is(join("\n", repository_listing()), $repo_before, 'the backups and WAL of the repository are unchanged by the restores');
my ($restores_dir) = $repo =~ m{^file://(.*)$};
my @restore_records = glob("$restores_dir/*/restores/*.json");
ok(@restore_records >= 2, 'each restore left its record (' . scalar(@restore_records) . ')');

$node->stop;
done_testing();
