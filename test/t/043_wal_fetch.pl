# pgvault wal-fetch as restore_command (file repository): a node archives
# with archive_library = 'pgvault', takes a backup, writes more; the backup
# restored with pgvault restore and started with recovery.signal and
# restore_command = 'pgvault wal-fetch ...' replays to the end of the archive
# and holds every row, plain (zstd) and encrypted (key file). By hand: a name
# not archived exits 1; a damaged object, a missing repository, bad options
# exit 128 with a message; a restore whose archive holds a damaged segment
# stops with FATAL instead of promoting. The first restored copy, promoted,
# archives timeline 2; a second restore to 'latest' follows 00000002.history.
# Prefetch: segments fetched ahead are taken from the spool.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::WalFetch;

my $pgvault = pgvault_path();
ok(-x $pgvault, "pgvault is installed at $pgvault");

# The segment n before name on its timeline (no log id wrap in these tests).
sub segment_before {
  my ($name, $n) = @_;
  return sprintf('%s%08X', substr($name, 0, 16), hex(substr($name, 16, 8)) - $n);
}

sub object_of {
  my ($repo, $sysid, $name) = @_;
  my ($dir) = $repo =~ m{^file://(.*)$};
  my $seg_dir = "$dir/$sysid/wal/" . substr($name, 0, 8) . '/' . substr($name, 0, 16);
  opendir(my $dh, $seg_dir) or return;
  my ($object) = grep { /^\Q$name\E-[0-9a-f]{64}/ } readdir $dh;
  closedir $dh;
  return $object ? "$seg_dir/$object" : undef;
}

# ---- 1. plain (zstd) round trip ------------------------------------------------
my ($node, $repo, $conf, $backup, $last) = archiving_node('plain', compression => 'zstd');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $digest = table_digest($node, 'rows', 'batch, id');

my $restored = restored_node('replayed', $conf, $backup, keep_archiving => 1);
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
  'the restored node replays the archive and promotes at its end');
is(table_digest($restored, 'rows', 'batch, id'), $digest, 'it holds every row written after the backup');
ok($restored->log_contains(qr/restored log file "\Q$last\E" from archive/),
  "the last segment ($last) came through restore_command");
my $default_spool = $restored->data_dir . '.pgvault-spool';
ok(-d $default_spool, 'the default spool is beside the data directory');
is((stat $default_spool)[2] & 07777, 0700, 'and private (0700)');
ok(wait_for_file("$default_spool/prefetch.status"), 'the background fetcher ran') or diag(`ls -la $default_spool`);

# Promoted onto timeline 2, the copy archives its own timeline into the same
# repository; a second restore to 'latest' follows the history file there.
$restored->safe_psql('postgres', q{INSERT INTO rows SELECT 7, g, md5(g::text) FROM generate_series(1, 3000) g});
my $tl2_last = $restored->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
like($tl2_last, qr/^00000002/, "the promoted copy writes timeline 2 ($tl2_last)");
$restored->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok($restored->poll_query_until('postgres', "SELECT '$tl2_last' <= last_archived_wal FROM pg_stat_archiver"),
  'and archives it');
my $tl2_digest = table_digest($restored, 'rows', 'batch, id');
$restored->stop;
my $latest = restored_node('latest', $conf, $backup);
$latest->start;
ok($latest->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
  'a restore to the latest timeline replays and promotes');
is(table_digest($latest, 'rows', 'batch, id'), $tl2_digest, 'it holds the rows written on timeline 2');
ok($latest->log_contains(qr/restored log file "00000002\.history" from archive/),
  'the history file came through wal-fetch');
ok($latest->log_contains(qr/restored log file "\Q$tl2_last\E" from archive/), "and $tl2_last");
is($latest->safe_psql('postgres', 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)'),
  '00000003', 'it promoted onto timeline 3');
$latest->stop;

# ---- 2. by hand ----------------------------------------------------------------
my $scratch = PostgreSQL::Test::Utils::tempdir();
my ($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $last, "$scratch/got");
is($rc, 0, 'wal-fetch of an archived segment exits 0') or diag($err);
is(-s "$scratch/got", 16 * 1024 * 1024, 'and writes the whole segment');

($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid,
  '0000000100000000000000F0', "$scratch/none");
is($rc, 1, 'a segment that is not archived: exit 1');
like($err, qr/0000000100000000000000F0.* is not in repository \Q$repo\E/, 'the message says so');
ok(!-e "$scratch/none", 'nothing written');
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '00000009.history', "$scratch/none");
is($rc, 1, 'a history file that is not archived: exit 1');

# The system identifier comes from global/pg_control of the working directory.
($rc, $out, $err) = wal_fetch($restored->data_dir, '--config', $conf, $last, 'pg_wal/RECOVERYXLOG');
is($rc, 0, 'in a data directory the system identifier comes from global/pg_control') or diag($err);
ok(-f $restored->data_dir . '/pg_wal/RECOVERYXLOG', '%p is relative to the working directory');
unlink $restored->data_dir . '/pg_wal/RECOVERYXLOG';
($rc, $out, $err) = wal_fetch($scratch, '--config', $conf, $last, 'x');
is($rc, 128, 'outside a data directory without --system-id: exit 128');
like($err, qr/no --system-id given.*global\/pg_control/, 'saying what to pass');

($rc, $out, $err) = wal_fetch(undef, '--repo', "file://$scratch/no-such-repo", '--system-id', $sysid, $last, "$scratch/x");
is($rc, 128, 'a repository that does not exist: exit 128');
like($err, qr/cannot fetch WAL file \Q$last\E from .*no-such-repo does not exist/, 'the message names the file and the repository');
($rc, $out, $err) = wal_fetch(undef, '--config', "$scratch/missing.conf", '--system-id', $sysid, $last, "$scratch/x");
is($rc, 128, 'a --config file that does not exist: exit 128 (a usage error must not read as "not archived")');
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '../../etc/passwd', "$scratch/x");
is($rc, 128, 'a name that is not a WAL file name: exit 128');
like($err, qr/invalid WAL file name/, 'saying so');

# Prefetch: the next segments land in the spool and are taken from there,
# even with the repository gone; stale files are removed; never inside PGDATA.
my @segs = map { segment_before($last, $_) } (3, 2, 1);
my $spool = "$scratch/spool";
mkdir $spool, 0700;
my $stale = '000000010000000000000001';
PostgreSQL::Test::Utils::append_to_file("$spool/$stale", 'old');
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '--spool-dir', $spool,
  '--prefetch', 2, $segs[0], "$scratch/p0");
is($rc, 0, "wal-fetch $segs[0] with --prefetch 2") or diag($err);
ok(wait_for_file("$spool/$segs[1]") && wait_for_file("$spool/$segs[2]"),
  "the next two segments ($segs[1], $segs[2]) appear in the spool") or diag(`ls -la $spool`);
ok(wait_for_gone("$spool/$stale"), "the stale $stale is removed");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
rename $repo_dir, "$repo_dir.away" or die "rename: $!";
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '--spool-dir', $spool,
  '--prefetch', 2, $segs[1], "$scratch/p1");
is($rc, 0, "$segs[1] comes from the spool while the repository is away") or diag($err);
is(-s "$scratch/p1", 16 * 1024 * 1024, 'the whole segment');
ok(!-e "$spool/$segs[1]", 'and is no longer in the spool');
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $segs[0], "$scratch/p0again");
is($rc, 128, 'without the spool, the missing repository is a hard error');
($rc, $out, $err) = wal_fetch(undef, '--cleanup', '--spool-dir', $spool);
is($rc, 0, 'wal-fetch --cleanup stops the background fetcher and removes the spool') or diag($err);
ok(!-e $spool && !spool_fetchers($spool), 'the spool and its fetcher are gone');
rename "$repo_dir.away", $repo_dir or die "rename back: $!";
($rc, $out, $err) = wal_fetch($restored->data_dir, '--config', $conf, '--spool-dir', 'pg_wal/spool', $last, 'pg_wal/RECOVERYXLOG');
is($rc, 128, 'a spool directory inside the data directory is refused');
like($err, qr/inside the data directory/, 'saying why');
ok(!-e $restored->data_dir . '/pg_wal/spool', 'and not created');

# A damaged object: exit 128, the message says which file, which store, what.
my $object = object_of($repo, $sysid, $last);
ok($object, "the object of $last: $object");
open(my $fh, '+<:raw', $object) or die "open $object: $!";
seek($fh, (-s $object) / 2, 0);
print $fh 'DAMAGED!';
close $fh;
($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $last, "$scratch/damaged");
is($rc, 128, 'a damaged object: exit 128');
like($err, qr/cannot fetch WAL file \Q$last\E from \Q$repo\E: .*cannot be decoded/, 'the message names the file, the store and what is wrong');
ok(!-e "$scratch/damaged" && !-e "$scratch/damaged.pgvault-partial", 'no file and no partial file left');

# Recovery through the damaged segment stops with FATAL; the server does not promote.
my $stopped = restored_node('stopped', $conf, $backup);
# pg_ctl may return success: the copy accepts read-only connections once consistent.
$stopped->start(fail_ok => 1);
ok($stopped->wait_for_log(qr/FATAL: .*could not restore file "\Q$last\E" from archive: child process exited with exit code 128/),
  'the startup process stops with FATAL at the damaged segment');
ok($stopped->log_contains(qr/pgvault: error: cannot fetch WAL file \Q$last\E from \Q$repo\E/),
  'and the log holds wal-fetch\'s message');
ok($stopped->wait_for_log(qr/database system is shut down/), 'the server shuts down instead of promoting');
ok(!$stopped->log_contains(qr/archive recovery complete|selected new timeline ID/), 'it never promoted');
ok(wait_for_gone($stopped->data_dir . '/postmaster.pid'), 'the postmaster is gone');
$stopped->_update_pid(0);    # the node object still thinks pg_ctl started it
ok(-e $stopped->data_dir . '/recovery.signal', 'recovery.signal is still there: not promoted');
ok(!-e $stopped->data_dir . '/pg_wal/00000003.history', 'no new timeline');
$node->stop;

# ---- 3. encrypted (key file) round trip -----------------------------------------
my $keys = PostgreSQL::Test::Utils::tempdir();
my $key = "$keys/wal.key";
open($fh, '>:raw', $key) or die $!;
print $fh join '', map { chr int rand 256 } 1 .. 32;
close $fh;
chmod 0600, $key;
my ($enode, $erepo, $econf, $ebackup, $elast) =
  archiving_node('encrypted', compression => 'lz4', conf => "pgvault.encryption_key_file = '$key'\n");
my $esysid = $enode->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $eobject = object_of($erepo, $esysid, $elast);
open($fh, '<:raw', $eobject) or die "open $eobject: $!";
read($fh, my $magic, 8);
close $fh;
is($magic, 'PGVLTENC', 'archived WAL is stored encrypted');
my $edigest = table_digest($enode, 'rows', 'batch, id');
($rc, $out, $err) = wal_fetch(undef, '--repo', $erepo, '--system-id', $esysid, $elast, "$scratch/nokey");
is($rc, 128, 'encrypted WAL without a key: exit 128');
like($err, qr/no encryption key was given/, 'saying a key is needed');
my $erestored = restored_node('encrypted_replayed', $econf, $ebackup);
$erestored->start;
ok($erestored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
  'the encrypted archive replays to its end');
is(table_digest($erestored, 'rows', 'batch, id'), $edigest, 'with every row');
ok($erestored->log_contains(qr/restored log file "\Q$elast\E" from archive/), "through $elast");
$erestored->stop;
$enode->stop;

done_testing();
