# issue 19, items 3 and 6: the pgvault command's help and usage errors, and
# what a restore says about starting the copy.
#  - --help describes every command; every command's --help has an example;
#    -T's help reads OLDDIR=NEWDIR, repeatable, as pg_basebackup's.
#  - A mistyped command gets "did you mean"; every usage error starts with
#    "pgvault: error:" and says where to read more; exit 2 (wal-fetch: 128).
#  - The README's usage block names exactly the options --help lists.
#  - restore --port N: port = N in the copy's postgresql.auto.conf; the copy
#    starts beside the original, which runs on the port the backup has (a
#    copy without --port fails there, and the restore said it would).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgVault::TestNode;
use PgVault::Cli;

# (exit status, standard output, standard error) of `pgvault ARGS`.
sub run_pgvault {
  my ($out, $err) = ('', '');
  IPC::Run::run([ 'pgvault', @_ ], '<', \undef, '>', \$out, '2>', \$err);
  return ($? >> 8, $out, $err);
}

my @commands = qw(list info restore verify get wal-fetch metrics report);

# ---- --help -----------------------------------------------------------------
my ($rc, $out, $err) = run_pgvault('--help');
is($rc, 0, 'pgvault --help exits 0');
unlike($out, qr/list and restore/, 'the summary no longer says "list and restore" only');
for my $c (@commands) {
  like($out, qr/^\s+\Q$c\E\s+\S.{20,}$/m, "--help describes command $c");
}
like($out, qr/^Examples:\n\s+pgvault list --repo /m, 'and ends with examples');

# The options --help lists for a command: long and short names.
sub help_options {
  my ($help) = @_;
  my %options;
  # The option lines, up to the blank line before the footer's example.
  my ($list) = $help =~ /^Options:\n(.*?)(?:\n\n|\z)/ms;
  for my $line (split /\n/, $list // '') {
    next unless $line =~ /^\s+(-[^ ]+(?:,[^ ]+)*)/;
    $options{$_} = 1 for grep { /^-/ } split /,/, $1;
  }
  delete @options{qw(-h --help)};
  return \%options;
}

my %help;
for my $c (@commands) {
  ($rc, $out, $err) = run_pgvault($c, '--help');
  is($rc, 0, "pgvault $c --help exits 0");
  like($out, qr/^Examples?:\n\s+\S/m, "pgvault $c --help has an example");
  $help{$c} = help_options($out);
  ok(scalar(keys %{ $help{$c} }) >= 3, "pgvault $c --help lists its options");
}
($rc, $out) = run_pgvault('restore', '--help');
like($out, qr/^\s+-T,--tablespace-mapping OLDDIR=NEWDIR\s/m, '-T shows one OLDDIR=NEWDIR');
unlike($out, qr/OLDDIR=NEWDIR:OLDDIR=NEWDIR/, 'not CLI11\'s doubled type');
like($out, qr/as pg_basebackup -T does; repeat the option for each tablespace/, 'and says it repeats');
like($out, qr/^\s+--port N\s/m, 'restore --help lists --port');

# ---- the README's usage block matches --help ------------------------------------
my $readme = slurp_file(($ENV{TESTDIR} // die "TESTDIR is not set") . "/README.md");
my ($usage) = $readme =~ /^## The `pgvault` command\n.*?^```\n(.*?)^```/ms;
ok($usage, 'the README has a usage block');
my %readme_options;
my $current;
for my $line (split /\n/, $usage) {
  $current = $1 if $line =~ /^pgvault ([a-z-]+)/;
  next unless $current;
  $readme_options{$current}{$_} = 1 for $line =~ /(?<![\w-])(--?[a-zA-Z][a-zA-Z-]*)/g;
}
my @common = ('--encryption-key-file');    # "(every command also takes ...)"
for my $c (@commands) {
  my %expected = %{ $help{$c} };
  delete $expected{'--prefetch-worker'};
  my %listed = %{ $readme_options{$c} // {} };
  $listed{$_} = 1 for @common;
  is_deeply([ sort keys %listed ], [ sort keys %expected ], "README usage of $c lists exactly what --help lists");
}

# ---- usage errors -----------------------------------------------------------------
($rc, $out, $err) = run_pgvault('lst');
is($rc, 2, 'an unknown command exits 2');
is($err, qq{pgvault: error: unknown command 'lst'; did you mean 'list'?\nTry "pgvault --help" for more information.\n},
  'and suggests the closest command');
($rc, $out, $err) = run_pgvault('verfy', '--backup', 'latest');
like($err, qr/^pgvault: error: unknown command 'verfy'; did you mean 'verify'\?$/m, 'verfy: verify');
($rc, $out, $err) = run_pgvault('frobnicate');
like($err, qr/^pgvault: error: unknown command 'frobnicate'; the commands are list, info, restore, verify, get, wal-fetch, metrics, report$/m,
  'nothing close: the list of commands');
($rc, $out, $err) = run_pgvault();
is($rc, 2, 'no command exits 2');
like($err, qr/^pgvault: error: no command given\nTry "pgvault --help" for more information\.$/m, 'and says so');
($rc, $out, $err) = run_pgvault('list', '--bogus');
is($rc, 2, 'an unknown option exits 2');
like($err, qr/^pgvault: error: the following argument was not expected: --bogus\nTry "pgvault list --help" for more information\.$/m,
  'with the prefix and the command\'s --help');
($rc, $out, $err) = run_pgvault('restore', '--repo', 'file:///nonexistent', '--backup', 'latest');
is($rc, 2, 'a missing required option exits 2');
like($err, qr/^pgvault: error: --pgdata is required\nTry "pgvault restore --help"/m, 'and names it');
($rc, $out, $err) = run_pgvault('restore', '--repo', 'file:///nonexistent', '--backup', 'latest', '-D', '/tmp/x', '--port', '0');
is($rc, 2, '--port 0 is a usage error');
like($err, qr/^pgvault: error: --port: /m, 'naming --port');
($rc, $out, $err) = run_pgvault('wal-fetch', '--bogus', 'a', 'b');
is($rc, 128, 'wal-fetch keeps exit 128 for a usage error (recovery must stop)');
like($err, qr/^pgvault: error: the following argument/m, 'with the same prefix');

# ---- restore --port: the copy starts beside the original -----------------------------
my ($node, $repo) = new_vault_node('port_original');
$node->safe_psql('postgres', 'CREATE TABLE known AS SELECT g AS id FROM generate_series(1, 1000) g');
is($node->safe_psql('postgres', 'SELECT status FROM vault.create_backup()'), 'completed', 'a backup of the running original');

# Without --port: the restore says the copy would collide, and it does.
my $same_port = PostgreSQL::Test::Utils::tempdir() . '/same_port';
($rc, $out, $err) = run_pgvault('restore', '--repo', $repo, '--backup', 'latest', '-D', $same_port);
is($rc, 0, 'a restore without --port succeeds') or diag($err);
like($out, qr/^the copy listens on the port the backup has .*if the original server still runs on this machine, the copy would fail to start on that port; restore with --port N/m,
  'and warns that the original may run on the same port');
like($out, qr/^start it with: pg_ctl -D \Q$same_port\E start$/m, 'then shows how to start it');
my $collision_log = PostgreSQL::Test::Utils::tempdir() . '/collision.log';
ok(!PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $same_port, '-l', $collision_log, '-w', '-t', '60', 'start') == 0,
  'started beside the original on the same port, the copy fails');
like(slurp_file($collision_log), qr/lock file ".*\.s\.PGSQL\.\d+\.lock" already exists|could not bind/,
  'with the FATAL a new user met');

my $copy = PostgreSQL::Test::Cluster->new('port_copy');
($rc, $out, $err) = run_pgvault('restore', '--repo', $repo, '--backup', 'latest', '-D', $copy->data_dir,
  '--port', $copy->port);
is($rc, 0, 'restore --port succeeds') or diag($err);
my $port = $copy->port;
like($out, qr/^port = \Q$port\E \(--port\) in postgresql\.auto\.conf: the copy listens on port \Q$port\E/m,
  'it says the copy has its own port');
like($out, qr/^start it with: pg_ctl -D \Q@{[ $copy->data_dir ]}\E start\nconnect with: psql -p \Q$port\E$/m,
  'and the exact commands');
unlike($out, qr/would fail to start/, 'without the warning');
like(slurp_file($copy->data_dir . '/postgresql.auto.conf'), qr/^# pgvault restore --port: .*\nport = \Q$port\E\n/m,
  'port = N is in postgresql.auto.conf, with why');
$copy->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$copy->start;
is($copy->safe_psql('postgres', 'SELECT count(*) FROM known'), '1000', 'the copy runs beside the original');
is($node->safe_psql('postgres', 'SELECT count(*) FROM known'), '1000', 'and the original still runs');
is($copy->safe_psql('postgres', 'SHOW port'), $port, 'on the port --port gave');
$copy->stop;
$node->stop;

done_testing();
