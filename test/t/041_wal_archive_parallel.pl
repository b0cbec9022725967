# Parallel WAL archiving into a file repository (pgvault.archive_parallel):
# a burst of segments is archived exactly once each, with the archiver's
# upload threads bounded by the setting; vault.archiving shows the state; an
# unwritable repository shows failures, the failed file, the error and the
# backlog there, and a LISTEN pgvault session hears the failure and the
# recovery once the repository is writable again.
use strict;
use warnings;
use File::Find;
use JSON::PP qw(decode_json);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::WalArchive;

my $parallel = 4;
my ($node, $repo) = new_vault_node('parallel_archiver', compression => 'zstd',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '2GB'\n"
    . "pgvault.archive_parallel = $parallel\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $pg_wal = $node->data_dir . '/pg_wal';
$node->safe_psql('postgres', 'CREATE TABLE filler (x int)');
# What each segment of a burst holds: a row.
my $fill = q{INSERT INTO filler VALUES (i)};

# name => number of objects stored for it.
sub stored_counts {
  my %count;
  find(sub {
      $count{$1}++ if -f $_ && /^([0-9A-F]{24})-[0-9a-f]{64}(?:\.zst)?$/;
    }, "$repo_dir/$sysid/wal") if -d "$repo_dir/$sysid/wal";
  return %count;
}

sub threads_of { my @t = glob("/proc/$_[0]/task/*"); return scalar @t; }

# 1. Settings and an idle view.
is($node->safe_psql('postgres', 'SHOW pgvault.archive_parallel'), $parallel, 'archive_parallel is set');
is(archiving($node, 'enabled, archive_library, repository, parallel'), "t|pgvault|$repo|$parallel",
  'vault.archiving: on, pgvault, the repository, the parallel setting');

# 2. A burst of 24 segments: each archived, exactly once, none twice.
my $log_offset = -s $node->logfile;
my $started = time;
my ($first, $last) = burst($node, 24, $fill);
ok($node->poll_query_until('postgres',
    "SELECT last_archived_wal >= '$last' AND waiting = 0 FROM vault.archiving"),
  "the burst $first .. $last is archived and nothing waits");
note(sprintf('burst of %d segments archived in about %d s', scalar(segment_range($first, $last)),
    time - $started));
my @burst = segment_range($first, $last);
cmp_ok(scalar @burst, '>=', 24, 'the burst made at least 24 segments');
my %stored = stored_counts();
my @missing = grep { !$stored{$_} } @burst;
my @twice = grep { ($stored{$_} // 0) > 1 } @burst;
is("@missing", '', 'every segment of the burst is in the repository');
is("@twice", '', 'no segment has two objects');
my @in_pg_wal = grep { -f "$pg_wal/$_" } @burst;
is(scalar @in_pg_wal, scalar @burst, 'they are the segments kept in pg_wal');
ok(!grep({ !-f "$pg_wal/archive_status/$_.done" } @burst), 'each is marked .done');
ok(!$node->log_contains(qr/is archived already with the same content/, $log_offset),
  'no segment was handed to the store twice');
is(archiving($node, 'failing, failures_since_start, last_error IS NULL'), 'f|0|t', 'no failure');

# The archiver pushes with archive_parallel - 1 threads beside its own.
my $pid = archiver_pid($node);
is(threads_of($pid), $parallel, "the archiver runs $parallel threads (itself and its uploaders)");
is(archiving($node, 'archiver_pid'), $pid, 'vault.archiving names the archiver');
note("archiver VmHWM after the burst into the file repository: " . proc_status($pid, 'VmHWM') . ' kB');

# A reload changes the number of threads at the next file.
$node->append_conf('postgresql.conf', "pgvault.archive_parallel = 2\n");
$node->reload;
my (undef, $after_reload) = burst($node, 2, $fill);
ok($node->poll_query_until('postgres', "SELECT last_archived_wal >= '$after_reload' FROM vault.archiving"),
  'archived after the reload');
ok($node->poll_query_until('postgres',
    "SELECT parallel = 2 FROM vault.archiving"), 'vault.archiving shows the new setting');
is(threads_of($pid), 2, 'the archiver now runs one upload thread');

# 3. The repository becomes unwritable: failures, the failed file, the
# error, the backlog; the server keeps running; a listener hears it once.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN pgvault');
my @dirs;
find(sub { push @dirs, $File::Find::name if -d $_ }, $repo_dir);
chmod 0500, @dirs;
my ($blocked) = burst($node, 3, $fill);
ok($node->poll_query_until('postgres',
    "SELECT failing AND failures_since_start > 0 AND last_failed_wal = '$blocked' "
      . "AND waiting > 0 FROM vault.archiving"),
  'vault.archiving shows the failure of the next segment and files waiting');
my ($error, $waiting, $behind) = split /\|/, archiving($node, 'last_error, waiting, bytes_behind');
like($error, qr/ermission denied/, 'the last error says why');
unlike($error, qr/secret|password|signature/i, 'and carries no secret');
cmp_ok($waiting, '>=', 3, 'the burst waits in pg_wal');
my $ready_segments = grep { m{/[0-9A-F]{24}\.ready$} } glob("$pg_wal/archive_status/*.ready");
is($behind, $ready_segments * 16 * 1024 * 1024, 'bytes_behind: the waiting segments x wal_segment_size');
ok(-f "$pg_wal/archive_status/$blocked.ready", "$blocked waits in pg_wal");
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

# Notifications are printed by psql with the result of the next query; all
# of them are collected, in order.
my @heard;
sub wait_for_event {
  my ($want) = @_;
  my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
  while (time < $deadline) {
    my $out = $listener->query_safe('SELECT 1');
    push @heard, map { decode_json($_) }
      $out =~ /Asynchronous notification "pgvault" with payload "(\{.*?\})" received/g;
    my @found = grep { $_->{event} eq $want } @heard;
    return $found[-1] if @found;
    $node->poll_query_until('postgres', 'SELECT true');    # a short pause between polls
  }
  return undef;
}
my $failed = wait_for_event('archive_failed');
ok($failed, 'the listener hears archive_failed') or diag explain \@heard;
is($failed->{file}, $blocked, 'naming the file');
ok($failed->{error} && $failed->{failed_at} && $failed->{repository} eq $repo,
  'with the error, the time and the repository');

# The archiver retries (PostgreSQL: 3 tries, then a pause or a new file).
my $failures = archiving($node, 'failures_since_start');
ok($node->poll_query_until('postgres',
    "SELECT failures_since_start >= $failures + 2 FROM vault.archiving"), 'it keeps retrying');

# 4. Writable again: caught up, a recovery event, nothing waits.
chmod 0700, @dirs;
my (undef, $wake) = burst($node, 1, $fill);
ok($node->poll_query_until('postgres',
    "SELECT NOT failing AND last_archived_wal >= '$wake' AND waiting = 0 FROM vault.archiving"),
  'caught up once the repository is writable, nothing waits');
my $recovered = wait_for_event('archive_recovered');
ok($recovered, 'the listener hears archive_recovered') or diag explain \@heard;
like($recovered->{last_archived} // '', qr/^[0-9A-F]{24}$/, 'naming the last archived file');
# Events come in order: a failure event repeated by a retry would be here.
is(join(',', map { $_->{event} } grep { $_->{event} =~ /^archive_/ } @heard),
  'archive_failed,archive_recovered', 'one failure event for all the retries, then the recovery');
%stored = stored_counts();
my @after = segment_range($first, $wake);
is(join(' ', grep { ($stored{$_} // 0) != 1 } @after), '', 'every segment since the burst is stored once');
$listener->quit;

# 5. Privileges: a monitoring role sees the view with the grants the README
# lists, PUBLIC sees nothing.
$node->safe_psql('postgres', q{
  CREATE ROLE watcher LOGIN;
  CREATE ROLE nobody LOGIN;
  GRANT USAGE ON SCHEMA vault TO watcher, nobody;
  GRANT SELECT ON vault.archiving TO watcher;
  GRANT EXECUTE ON FUNCTION vault._archiving_state() TO watcher;});
is($node->safe_psql('postgres', 'SELECT enabled, waiting FROM vault.archiving',
    extra_params => [ '-U', 'watcher' ]), 't|0', 'a granted role reads vault.archiving');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM vault.archiving',
  extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for view archiving/, 'a role without the grant is refused');

$node->stop;
done_testing();
