# The PostgreSQL way of running pgvault's tests works on its own (README.md,
# "Tests"): `make installcheck` runs every sql/*.sql against a server a
# developer started — twice in a row, since the second must first drop the
# database pgvault's scheduler is connected to — and `make
# prove_installcheck` runs a TAP file with PGXS's prove rule. Both run in a
# copy of the test files, because prove_installcheck starts by removing its
# directory's tmp_check, which is where this test's own server lives.
use strict;
use warnings;
use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $source = $ENV{TESTDIR} or die 'TESTDIR is not set';
my $tree = PostgreSQL::Test::Utils::tempdir();
make_path("$tree/sql", "$tree/expected", "$tree/test/t", "$tree/test/perl/PgVault");
copy("$source/Makefile", "$tree/Makefile") or die "Makefile: $!";
copy("$source/test/regress.conf", "$tree/test/regress.conf") or die "regress.conf: $!";
copy("$source/test/perl/PgVault/TestNode.pm", "$tree/test/perl/PgVault/TestNode.pm") or die $!;
for my $dir ('sql', 'expected') {
  for my $file (glob("$source/$dir/*")) {
    copy($file, "$tree/$dir/") or die "$file: $!";
  }
}
my @sql_files = glob("$tree/sql/*.sql");
my $tap_file = 'test/t/030_cli_missing_repository.pl';
copy("$source/$tap_file", "$tree/$tap_file") or die "$tap_file: $!";

sub make {
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'make', '--no-print-directory', '-C', $tree, @_ ],
    '<', \undef, '>', \$out, '2>', \$err);
  return ($ok, "$out$err");
}

# ---- make installcheck, against a server started by hand --------------------------
my $node = PostgreSQL::Test::Cluster->new('installcheck');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', slurp_file("$tree/test/regress.conf"));
$node->start;
{
  local $ENV{PGHOST} = $node->host;
  local $ENV{PGPORT} = $node->port;
  my ($ok, $out) = make('print-regress');
  is(scalar(split ' ', $out), scalar(@sql_files), 'REGRESS names every sql/*.sql file');
  like($out, qr/^setup\b/, 'and setup first');
  for my $run ('first', 'second') {
    ($ok, $out) = make('installcheck');
    ok($ok, "make installcheck, $run run, succeeds") or diag $out;
    like($out, qr/All @{[ scalar @sql_files ]} tests passed/, "and runs every test, $run run");
  }
}
$node->stop;

# ---- make prove_installcheck -------------------------------------------------------
my ($ok, $out) = make('prove_installcheck', "PROVE_TESTS=$tap_file");
ok($ok, 'make prove_installcheck succeeds') or diag $out;
like($out, qr/^Files=1, Tests=[1-9]\d*/m, 'and runs the chosen TAP file');
like($out, qr/^Result: PASS/m, 'which passes');

done_testing();
