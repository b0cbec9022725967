# Progress of pgvault restore, verify and get (issue 19): on a terminal (a
# pseudo-terminal here, IO::Pty) a live line redrawn in place with \r; when
# standard error is not a terminal only a plain "progress: ..." line every
# 5 s; --no-progress none, --progress the live line anyway; --quiet nothing
# but errors; each command ends with its summary (how much, how long, how
# fast). --max-rate slows the read down so that progress has time to show:
# a read of N bytes at N/k bytes per second cannot end in less than k
# seconds, so the tests wait for what the output says, never for a time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Pty;
use POSIX ();
use PgVault::TestNode;
use PgVault::Cli;

# Uncompressed, so that the stored bytes are many and known.
my ($node, $repo) = new_vault_node('progress', compression => 'none');
my $q = sub { $node->safe_psql(@_ == 1 ? ('postgres', $_[0]) : @_) };
$q->('CREATE DATABASE shop');
$q->('shop', q{CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 60000) g});
# create_backup() returns sizes for people; the bytes are in vault.history
# (read in a statement of its own, which sees the worker's commit).
my $stored_bytes = sub { $q->(qq{SELECT stored_bytes FROM vault.history WHERE name = '$_[0]'}) };
my $physical = $q->(q{SELECT name FROM vault.create_backup()});
my $stored = $stored_bytes->($physical);
my $dump = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'shop')});
my $dump_stored = $stored_bytes->($dump);
note("physical backup $physical: $stored bytes stored; dump $dump: $dump_stored bytes");

# Rates that make a read last at least 2 s (a terminal) or 6 s (a log).
my $rate2 = int($stored / 2);
my $rate6 = int($stored / 6);
my $dump_rate2 = int($dump_stored / 2) > 1024 ? int($dump_stored / 2) : 1024;

# Runs pgvault with standard input, output and error on a new pseudo-terminal
# and returns (exit status, everything it wrote, as the terminal got it: the
# line discipline makes each \n a \r\n).
sub pgvault_on_terminal {
  my @args = @_;
  my $pty = IO::Pty->new;
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    POSIX::setsid();
    my $tty = $pty->slave;
    close $pty;
    open(STDIN, '<&', $tty) or die;
    open(STDOUT, '>&', $tty) or die;
    open(STDERR, '>&', $tty) or die;
    exec('pgvault', @args) or POSIX::_exit(127);
  }
  $pty->close_slave;
  my $all = '';
  # Until the command is gone and the terminal says so (EIO or EOF).
  while (1) {
    my $n = sysread($pty, my $buf, 65536);
    last if !defined $n || $n == 0;
    $all .= $buf;
  }
  waitpid($pid, 0);
  return ($? >> 8, $all);
}

# The live progress frames in what a terminal got: "\r" then the figures.
my $figures = qr/\d+ (?:bytes|kB|MB|GB) of \d+ (?:bytes|kB|MB|GB) \(\d+%\), \d+ (?:bytes|kB|MB|GB)\/s, elapsed \d+:\d\d(?:, ETA \d+:\d\d)?/;
sub live_frames {
  my ($text) = @_;
  my @frames = ($text =~ /\r($figures)/g);
  return wantarray ? @frames : scalar(@frames);
}
sub distinct { my %seen; return grep { !$seen{$_}++ } @_; }

# ---- restore on a terminal ------------------------------------------------------
my $target = PostgreSQL::Test::Utils::tempdir() . '/restored';
my ($rc, $screen) = pgvault_on_terminal('restore', '--repo', $repo, '--backup', $physical,
  '--pgdata', "$target/1", '--max-rate', $rate2);
is($rc, 0, 'pgvault restore on a terminal succeeds') or diag($screen);
my @frames = live_frames($screen);
cmp_ok(scalar(distinct(@frames)), '>=', 2, 'the live progress line appears and changes') or diag($screen);
like($frames[-1] // '', qr/^\d+ \w+ of \d+ \w+ \(\d+%\)/, 'bytes done of the total and a percentage');
unlike($screen, qr/^progress: /m, 'no periodic lines on a terminal');
# Each frame is redrawn over the last: never on a line of its own.
unlike($screen, qr/$figures[^\r]*\r\n/, 'a live line is never ended by a newline');
# At the start of a line (after a newline, or after the live line was wiped
# with \r), ended by its own newline.
like($screen, qr/\r  restoring base\.tar [^\r\n]*\r\n/, 'the per-archive lines are still printed, on lines of their own');
like($screen, qr/^restored \d+ files \([^)]+\) from \d+ objects \(\d+ \w+ read in \d+\.\d s, \d+ \w+\/s\)/m,
  'the summary: how much, how long, how fast');

# ---- verify and get on a terminal -----------------------------------------------
($rc, $screen) = pgvault_on_terminal('verify', '--repo', $repo, '--backup', $physical, '--max-rate', $rate2);
is($rc, 0, 'pgvault verify on a terminal succeeds') or diag($screen);
cmp_ok(scalar(distinct(live_frames($screen))), '>=', 2, 'verify shows the live progress line') or diag($screen);
like($screen, qr/^backup \Q$physical\E verified: .*; \d+ \w+ read in \d+\.\d s, \d+ \w+\/s\)/m, 'verify ends with its summary');

my $dump_file = PostgreSQL::Test::Utils::tempdir() . '/shop.pgdump';
($rc, $screen) = pgvault_on_terminal('get', '--repo', $repo, '--backup', $dump, '-o', $dump_file,
  '--max-rate', $dump_rate2);
is($rc, 0, 'pgvault get on a terminal succeeds') or diag($screen);
cmp_ok(scalar(live_frames($screen)), '>=', 1, 'get shows the live progress line') or diag($screen);
like($screen, qr/pg_dump archive written to \Q$dump_file\E \(\d+ \w+ read in \d+\.\d s, \d+ \w+\/s\)/,
  'get ends with its summary');

# --no-progress: the lines, no live line.
($rc, $screen) = pgvault_on_terminal('verify', '--repo', $repo, '--backup', $physical, '--no-progress',
  '--max-rate', $rate2);
is($rc, 0, 'verify --no-progress succeeds');
is(scalar(live_frames($screen)), 0, '--no-progress: no live line on a terminal') or diag($screen);
like($screen, qr/^backup \Q$physical\E verified: /m, '--no-progress: the summary stays');

# --quiet on a terminal: nothing at all.
($rc, $screen) = pgvault_on_terminal('restore', '--repo', $repo, '--backup', $physical,
  '--pgdata', "$target/2", '--quiet');
is($rc, 0, 'restore --quiet succeeds');
is($screen, '', '--quiet: nothing on the terminal');
ok(-f "$target/2/PG_VERSION", 'and the restore was done');

# ---- not a terminal -------------------------------------------------------------
my ($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $physical, '--pgdata', "$target/3",
  '--max-rate', $rate6);
ok($ok, 'pgvault restore into a log succeeds') or diag($err);
unlike("$out$err", qr/\r/, 'no carriage return in a log');
my @periodic = ($err =~ /^progress: ($figures)$/mg);
cmp_ok(scalar(@periodic), '>=', 1, 'a plain progress line every 5 s of a read that lasts at least 6') or diag($err);
cmp_ok(scalar(@periodic), '<=', 3, 'and not more than one per 5 s (no flooding)') or diag($err);
like($out, qr/^restored \d+ files .* \(\d+ \w+ read in \d+\.\d s, \d+ \w+\/s\)/m, 'the summary on standard output');
is(($err =~ s/^progress: .*\n//mgr), '', 'nothing else on standard error');

($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $physical, '--progress', '--max-rate', $rate2);
ok($ok, 'verify --progress into a log succeeds') or diag($err);
cmp_ok(scalar(distinct(live_frames($err))), '>=', 2, '--progress: the live line even when not a terminal');

# --quiet: nothing but errors.
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', 'latest', '--pgdata', "$target/4", '--quiet');
ok($ok, 'restore --quiet into a log succeeds') or diag($err);
is($out, '', '--quiet: nothing on standard output');
is($err, '', '--quiet: nothing on standard error');
($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', $dump, '-o', '-', '--quiet');
ok($ok && length($out) == -s $dump_file, 'get -o - --quiet writes the dump and nothing else') or diag($err);
is($err, '', 'get --quiet: nothing on standard error');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $physical, '--quiet', '--json');
like($out, qr/"verified": true/, 'verify --quiet --json still prints the JSON');
is($err, '', 'verify --quiet --json: nothing on standard error');
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $physical, '--pgdata', "$target/4", '--quiet');
ok(!$ok, 'restore --quiet into a used directory fails');
is($out, '', '--quiet: a failure prints nothing on standard output');
like($err, qr/^pgvault: error: .*not empty/, 'but the error');

# --quiet holds back warnings too. A restore whose record cannot be written
# (here: a file where the repository's restores directory should be) warns
# and goes on; under --quiet it says nothing.
my $sysid = $q->('SELECT system_identifier FROM pg_control_system()');
(my $repo_dir = $repo) =~ s{^file://}{};
my $restores = "$repo_dir/$sysid/restores";
rename($restores, "$restores.kept") or die "rename $restores: $!";
open(my $blocker, '>', $restores) or die; close $blocker;
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $physical, '--pgdata', "$target/6");
ok($ok, 'a restore whose record cannot be written succeeds') or diag($err);
like($err, qr/^pgvault: warning: .*restore/m, 'and warns that it was not recorded') or diag($err);
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $physical, '--pgdata', "$target/7", '--quiet');
ok($ok, 'the same restore with --quiet succeeds') or diag($err);
is($err, '', '--quiet: not even the warning');
unlink($restores) or die;
rename("$restores.kept", $restores) or die;

# verify --restore-test reads through a restore into a scratch directory: the
# same live line while it reads, the same summary.
($rc, $screen) = pgvault_on_terminal('verify', '--restore-test', '--repo', $repo, '--backup', $physical,
  '--max-rate', $rate2);
is($rc, 0, 'verify --restore-test on a terminal succeeds') or diag($screen);
cmp_ok(scalar(distinct(live_frames($screen))), '>=', 2, 'verify --restore-test shows the live progress line')
  or diag($screen);
like($screen, qr/^backup \Q$physical\E verified: .*; \d+ \w+ read in \d+\.\d s, \d+ \w+\/s\)/m,
  'and ends with the summary of its read') or diag($screen);

# Bad values are refused before the repository is read.
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $physical, '--pgdata', "$target/5",
  '--max-rate', 'fast');
ok(!$ok, '--max-rate fast is refused');
like($err, qr/--max-rate "fast" is not a rate: give bytes per second of at least 1kB/, 'saying what is allowed');
ok(!-e "$target/5", 'before anything is written');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $physical, '--quiet', '--progress');
ok(!$ok, '--quiet and --progress together are refused');

done_testing();
