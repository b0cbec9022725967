# wal-fetch's prefetch spool after recovery (file repository):
# - pgvault restore --target latest writes recovery_end_command = 'pgvault
#   wal-fetch --cleanup'; when recovery ends it stops the background fetcher
#   and removes the spool, and the server log has one "settings from" line
#   for the whole recovery;
# - a stale spool beside the data directory (another recovery's session,
#   segments whose pages were damaged after their header) is never taken
#   from: the copy replays the repository's WAL and holds every row;
# - --cleanup refuses a directory that is not a spool, removes nothing there,
#   and exits 1 (never above 125, which would stop the server);
# - a wal-fetch error prints the settings line even when success does not.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::WalFetch;

my ($node, $repo, $conf, $backup, $last) = archiving_node('origin', compression => 'zstd');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $digest = table_digest($node, 'rows', 'batch, id');

# ---- 1. recovery_end_command removes the spool ------------------------------------
my ($copy, $out) = pitr_restored_node('copy', $conf, $backup, '--target', 'latest');
my $pgvault = pgvault_path();
like($out, qr/^  recovery_end_command = '\Q$pgvault\E wal-fetch --cleanup'$/m,
  'pgvault restore writes recovery_end_command = wal-fetch --cleanup');
my $spool = $copy->data_dir . '.pgvault-spool';
like($out, qr/recovery_end_command \(pgvault wal-fetch --cleanup\) stops wal-fetch's background fetcher and removes its spool \Q$spool\E/,
  'and says so instead of asking to remove the spool by hand');
$copy->start;
ok($copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the copy replays and promotes');
is(table_digest($copy, 'rows', 'batch, id'), $digest, 'with every row');
ok($copy->log_contains(qr/restored log file "\Q$last\E" from archive/), "$last came through wal-fetch");
ok($copy->log_contains(qr/pgvault: removed WAL prefetch spool \Q$spool\E/),
  'recovery_end_command removed the spool');
ok(!-e $spool, 'the spool is gone');
ok(wait_until(sub { !spool_fetchers($spool) }), 'and no background fetcher of it runs');
my $log = slurp_file($copy->logfile);
my $settings_lines = () = $log =~ /pgvault: settings from /g;
is($settings_lines, 1, 'one "settings from" line for the whole recovery');
$copy->stop;

# ---- 2. a stale spool is never taken from -------------------------------------------
# The segments recovery will ask for, fetched by hand and damaged after their
# page header (size and header still right), with another recovery's session.
my ($stale_copy) = pitr_restored_node('stale', $conf, $backup, '--target', 'latest');
my $stale_spool = $stale_copy->data_dir . '.pgvault-spool';
mkdir $stale_spool, 0700 or die "mkdir $stale_spool: $!";
my @segments;
for my $n (0 .. 5) {
  my $name = sprintf('%s%08X', substr($last, 0, 16), hex(substr($last, 16, 8)) - $n);
  my ($rc, undef, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $name, "$stale_spool/$name");
  next unless $rc == 0;
  open(my $fh, '+<:raw', "$stale_spool/$name") or die $!;
  for my $offset (map { $_ * 65536 + 100 } 1 .. 200) {
    seek($fh, $offset, 0);
    print $fh 'STALE SPOOL ' x 40;
  }
  close $fh;
  push @segments, $name;
}
ok(@segments >= 4, 'damaged copies of the segments after the backup are in a stale spool: ' . join(' ', @segments));
PostgreSQL::Test::Utils::append_to_file("$stale_spool/session", "pgvault wal-fetch spool\nserver 1 1\n");
$stale_copy->start;
ok($stale_copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
  'the copy beside the stale spool replays and promotes');
is(table_digest($stale_copy, 'rows', 'batch, id'), $digest, 'with every row: nothing was taken from the stale spool');
ok(!$stale_copy->log_contains(qr/invalid record length|incorrect resource manager data checksum|invalid magic number/),
  'no damaged WAL reached the server');
ok(!-e $stale_spool, 'and its spool is removed at the end of recovery');
$stale_copy->stop;

# ---- 3. --cleanup by hand ------------------------------------------------------------
my $scratch = PostgreSQL::Test::Utils::tempdir();
my $not_spool = "$scratch/not-a-spool";
mkdir $not_spool, 0700;
PostgreSQL::Test::Utils::append_to_file("$not_spool/PG_VERSION", "15\n");
PostgreSQL::Test::Utils::append_to_file("$not_spool/$last", "x");
my ($rc, $o, $err) = wal_fetch(undef, '--cleanup', '--spool-dir', $not_spool);
is($rc, 1, '--cleanup of a directory holding other files: exit 1');
like($err, qr/not removing .*PG_VERSION.*which pgvault's WAL spool never writes/, 'saying what it holds');
ok(-e "$not_spool/PG_VERSION" && -e "$not_spool/$last", 'nothing was removed');
($rc, $o, $err) = wal_fetch($copy->data_dir, '--cleanup');
is($rc, 0, '--cleanup in a data directory without a spool: exit 0') or diag($err);
like($o, qr/no WAL prefetch spool at \Q$spool\E/, 'saying there is none');
($rc, $o, $err) = wal_fetch($scratch, '--cleanup');
is($rc, 1, '--cleanup outside a data directory without --spool-dir: exit 1');
like($err, qr/runs in the data directory/, 'saying where it runs');

# A running fetcher is stopped and its spool removed.
my $spool2 = "$scratch/spool";
($rc, $o, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '--spool-dir', $spool2,
  '--prefetch', 2, $segments[-1], "$scratch/first");
is($rc, 0, 'wal-fetch with a spool by hand') or diag($err);
ok(wait_until(sub { spool_fetchers($spool2) || -e "$spool2/prefetch.status" }), 'its background fetcher started');
($rc, $o, $err) = wal_fetch(undef, '--cleanup', '--spool-dir', $spool2);
is($rc, 0, '--cleanup stops it') or diag($err);
ok(!-e $spool2, 'the spool is gone');
ok(wait_until(sub { !spool_fetchers($spool2) }), 'no fetcher of it runs');

# ---- 4. the settings line: not on success in a data directory, always with an error ----
($rc, $o, $err) = wal_fetch($copy->data_dir, '--config', $conf, '--prefetch', 0, $last, 'pg_wal/RECOVERYXLOG');
is($rc, 0, 'wal-fetch in a data directory') or diag($err);
unlike($err, qr/settings from/, 'prints no settings line when it succeeds');
unlink $copy->data_dir . '/pg_wal/RECOVERYXLOG';
my $bad_conf = "$scratch/bad.conf";
PostgreSQL::Test::Utils::append_to_file($bad_conf, "pgvault.repository = 'file://$scratch/no-such-repo'\n");
($rc, $o, $err) = wal_fetch($copy->data_dir, '--config', $bad_conf, '--prefetch', 0, $last, 'pg_wal/RECOVERYXLOG');
is($rc, 128, 'a repository that does not exist: exit 128');
like($err, qr/pgvault: settings from \Q$bad_conf\E.*\n.*cannot fetch WAL file/s, 'the settings line comes with the error');

$node->stop;
done_testing();
