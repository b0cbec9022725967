# pgvault verify --restore-test runs pg_ctl, postgres and psql as child
# processes: with stand-ins for them (PGVAULT_PG_BINDIR), what they are given
# (no PG* variable of the caller, PGCONNECT_TIMEOUT for psql) and what the
# error says when they fail (the exit status and what they wrote) — and the
# scratch directory is removed on every failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('programs');
my ($status, $name) = split /\|/,
  $node->safe_psql('postgres', 'SELECT status, name FROM vault.create_backup()');
is($status, 'completed', 'physical backup completed');
my $major = $node->safe_psql('postgres', q{SELECT current_setting('server_version_num')::int / 10000});

# A directory of stand-ins: postgres says its version; pg_ctl and psql
# record their environment and arguments, then do what the test says.
my $bin = PostgreSQL::Test::Utils::tempdir() . '/bin';
mkdir $bin or die $!;
sub stand_in {
  my ($program, $body) = @_;
  open(my $fh, '>', "$bin/$program") or die $!;
  print $fh "#!/bin/sh\nenv > '$bin/$program.env'\necho \"\$@\" >> '$bin/$program.args'\n$body\n";
  close $fh;
  chmod 0755, "$bin/$program" or die $!;
  unlink "$bin/$program.args";
}
sub lines_of {
  my ($file) = @_;
  open(my $fh, '<', $file) or return ();
  chomp(my @lines = <$fh>);
  return @lines;
}

sub restore_test {
  local $ENV{PGVAULT_PG_BINDIR} = $bin;
  local $ENV{PGOPTIONS} = '-c work_mem=64kB';
  local $ENV{PGHOST} = '/nonexistent-socket-dir';
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'pgvault', 'verify', '--repo', $repo, '--backup', $name, '--restore-test' ],
    '<', \undef, '>', \$out, '2>', \$err);
  my ($scratch) = $out =~ /restoring into scratch directory (\S+)/;
  return ($ok, $out, $err, $scratch);
}

# ---- a postgres of another major version is not used --------------------------
stand_in('postgres', 'echo "postgres (PostgreSQL) ' . ($major - 1) . '.3"');
stand_in('pg_ctl', 'exit 0');
stand_in('psql', 'exit 0');
my ($ok, $out, $err, $scratch) = restore_test();
ok(!$ok, '--restore-test fails when the only postgres is of another major version');
like($err, qr/needs pg_ctl, postgres and psql of PostgreSQL $major, the backup's version; tried \Q$bin\E \(PostgreSQL @{[ $major - 1 ]}\)/,
  'naming the directory tried and the version found there');
ok(!-e "$bin/pg_ctl.args", 'pg_ctl was never run');
ok(!grep(/^PG/, lines_of("$bin/postgres.env")), 'postgres --version ran without the PG* variables of the caller');

# ---- pg_ctl start fails: its exit status and its words ---------------------------
stand_in('postgres', qq{echo "postgres (PostgreSQL) $major.9"});
stand_in('pg_ctl', q{echo "pg_ctl: could not start server" >&2; echo "Examine the log output." >&2; exit 3});
($ok, $out, $err, $scratch) = restore_test();
ok(!$ok, '--restore-test fails when pg_ctl start fails');
like($err, qr/^pgvault: error: the restored data directory did not start: pg_ctl exited with status 3: "pg_ctl: could not start server\nExamine the log output\."; last lines of the server log:/m,
  'the error gives pg_ctl\'s exit status and what it wrote') or diag($err);
ok(defined $scratch && !-e $scratch, 'the scratch directory is gone');
my @start = lines_of("$bin/pg_ctl.args");
like($start[0] // '', qr/^-D \Q$scratch\E\/data -o -c data_directory=\Q$scratch\E\/data -l \Q$scratch\E\/server\.log -w -t 120 -s start$/,
  'pg_ctl was asked to start the scratch data directory');
is_deeply([ grep(/^PG/, lines_of("$bin/pg_ctl.env")) ], [], 'pg_ctl got none of the PG* variables of the caller');

# ---- psql cannot connect as any role ---------------------------------------------
stand_in('pg_ctl', 'exit 0');
stand_in('psql', q{echo 'psql: error: connection to server failed: FATAL:  role "nobody" does not exist' >&2; exit 2});
($ok, $out, $err, $scratch) = restore_test();
ok(!$ok, '--restore-test fails when no role can connect');
like($err, qr/no role tried \(.*\) could connect to any of its databases; set PGUSER .*\(last error: psql -U \S+ -d template1 exited with status 2: "psql: error: connection to server failed: FATAL:  role "nobody" does not exist"\)/,
  'the error gives psql\'s exit status and what it wrote') or diag($err);
ok(defined $scratch && !-e $scratch, 'the scratch directory is gone');
is_deeply([ grep(/^PG/, lines_of("$bin/psql.env")) ], ['PGCONNECT_TIMEOUT=10'],
  'psql got PGCONNECT_TIMEOUT and none of the PG* variables of the caller');
like((lines_of("$bin/psql.args"))[0] // '', qr/^-X -A -t -q -h \Q$scratch\E -p \d+ -U \S+ -d dbname='postgres' -c SELECT /,
  'psql was pointed at the scratch server\'s socket');

$node->stop;
done_testing();
