# pgvault verify reads a backup back from the repository alone: it passes on
# a good backup, names the object when one byte of it changes, and with
# --restore-test starts the restored copy on a scratch directory and leaves
# no server and no directory behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use JSON::PP;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('verify');
# A tablespace: --restore-test must map it into its scratch directory (the
# original location is the live server's and not empty).
my $tblspc = PostgreSQL::Test::Utils::tempdir() . '/tblspc';
mkdir $tblspc or die $!;
$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', 'postgres' ], 'pgbench data loaded');
$node->safe_psql('postgres', qq{
CREATE TABLESPACE extra LOCATION '$tblspc';
CREATE TABLE in_extra TABLESPACE extra AS SELECT g AS id, md5(g::text) AS val FROM generate_series(1, 20000) g;
});

my $row = $node->safe_psql('postgres', 'SELECT id FROM vault.create_backup() \gset
SELECT status, name, location, source_bytes FROM vault.history WHERE id = :id');
my ($status, $name, $location, $source_bytes) = split /\|/, $row;
is($status, 'completed', 'physical backup completed');
my ($dir) = $location =~ m{^file://(.*?)/?$};
note(sprintf('backup %s: %.1f MB of database files', $name, $source_bytes / 1048576));

# ---- a good backup verifies ---------------------------------------------------
my ($ok, $out, $err) = run_verify('--backup', 'latest');
ok($ok, 'pgvault verify passes on a good backup') or diag("stdout: $out\nstderr: $err");
like($out, qr/^backup \Q$name\E verified: 3 objects, \d+ files, \d+ bytes/m,
  'it prints what it verified');
like($out, qr/checking base\.tar\.zst .*\n.*checksums match/, 'it names each object it checked');
like($out, qr/all \d+ files of backup_manifest found, sizes and checksums match/,
  'every manifest file was checked');
is($err, '', 'no warnings');

($ok, $out) = run_verify('--backup', $name, '--json');
my $report = eval { decode_json($out) } // {};
ok($ok && $report->{verified}, '--json reports verified') or diag($out);
is($report->{objects}, 3, '--json: 3 objects (base.tar.zst, the tablespace archive, backup_manifest)');
cmp_ok($report->{manifest_files}, '>', 900, '--json: the manifest files were counted');

# ---- --stored-only: the stored bytes, the check pgbackrest verify makes --------
my $record_file = "$dir/../../verifications/$name.json";
my $record_before = slurp_file($record_file);
like($record_before, qr/"status":\s*"passed"/, 'the verification above was recorded');
($ok, $out, $err) = run_verify('--backup', $name, '--stored-only');
ok($ok, 'pgvault verify --stored-only passes on a good backup') or diag("stdout: $out\nstderr: $err");
# 4: file_identity too (the next incremental's), which the default verify does not read.
like($out, qr/^backup \Q$name\E: the stored bytes of 4 objects match backup\.json, \d+ bytes .*contents not decoded, not recorded as a verification$/m,
  'it says what it checked and what it did not');
unlike($out, qr/files of backup_manifest/, 'no file was checked against the manifest');
is(slurp_file($record_file), $record_before, 'a pass of the stored bytes alone leaves the verification record as it was');
($ok, $out) = run_verify('--backup', $name, '--stored-only', '--json');
$report = eval { decode_json($out) } // {};
ok($ok && $report->{verified} && $report->{depth} eq 'stored' && $report->{files} == 0 && $report->{decoded_bytes} == 0,
  '--json: depth "stored", nothing decoded') or diag($out);
($ok, $out, $err) = run_verify('--backup', $name, '--stored-only', '--restore-test');
ok(!$ok && $err =~ /--stored-only checks the stored bytes without decoding them; --restore-test decodes and restores everything: pass one of them/,
  '--stored-only with --restore-test is refused, saying why') or diag($err);

# ---- --restore-test -----------------------------------------------------------
my $t0 = time;
($ok, $out, $err) = run_verify('--backup', 'latest', '--restore-test');
my $elapsed = time - $t0;
ok($ok, 'pgvault verify --restore-test passes on a good backup') or diag("stdout: $out\nstderr: $err");
note(sprintf('--restore-test took %.1f s', $elapsed));
like($out, qr/the server answered as role "[^"]+": PostgreSQL 15\.\d+[^,]*, \d+ databases, recovery finished/,
  'the scratch server answered a query after recovery');
like($out, qr/^backup \Q$name\E verified: 3 objects, .*; restore test passed in/m, 'it says the restore test passed');
my ($scratch) = $out =~ /restoring into scratch directory (\S+)/;
ok(defined $scratch && $scratch =~ /pgvault-restore-test-/, 'it named its scratch directory');
ok(defined $scratch && !-e $scratch, 'the scratch directory is gone');
my @left = grep { defined $scratch && index($_, $scratch) >= 0 } split /\n/, `ps -eo pid,args`;
is_deeply(\@left, [], 'no process of the scratch server is left');
ok(-d "$tblspc" && scalar(glob("$tblspc/*")), 'the live tablespace directory is untouched');
is($node->safe_psql('postgres', 'SELECT count(*) FROM in_extra'), '20000', 'the live server is unaffected');

# A logical backup verifies; --restore-test refuses it up front.
my $logical = $node->safe_psql('postgres', "SELECT status, name FROM vault.create_backup(kind => 'logical')");
my ($lstatus, $lname) = split /\|/, $logical;
is($lstatus, 'completed', 'logical backup completed');
($ok, $out, $err) = run_verify('--backup', $lname);
ok($ok, 'a logical backup verifies') or diag("stdout: $out\nstderr: $err");
like($out, qr/dump\.pgdump\.zst: .* decoded, a pg_dump custom-format archive/, 'the dump is recognised');
($ok, $out, $err) = run_verify('--backup', $lname, '--restore-test');
ok(!$ok, '--restore-test refuses a logical backup');
like($err, qr/pgvault: error: backup "\Q$lname\E" is a logical backup; --restore-test restores physical backups only/,
  'with a clear message');

# ---- an extra object is a warning ---------------------------------------------
my $stray = "$dir/stray.tmp";
open(my $fh, '>', $stray) or die $!;
print $fh "left over\n";
close $fh;
($ok, $out, $err) = run_verify('--backup', $name);
ok($ok, 'an object backup.json does not list does not fail verification');
like($err, qr/pgvault: warning: object "stray\.tmp" in the directory of backup "\Q$name\E" is not listed in backup\.json/,
  'but it is reported as a warning');
unlink $stray;

# ---- one changed byte is named -----------------------------------------------
my $object = "$dir/base.tar.zst";
ok(-f $object, 'the backup has base.tar.zst');
flip_byte($object, int((-s $object) / 2));
($ok, $out, $err) = run_verify('--backup', $name);
ok(!$ok, 'pgvault verify fails after one byte of base.tar.zst changed');
like($err, qr/^pgvault: error: object "base\.tar\.zst" of backup "\Q$name\E" is corrupt: SHA-256 mismatch/m,
  'naming the object and what is wrong');
($ok, $out, $err) = run_verify('--backup', $name, '--json');
$report = eval { decode_json($out) } // {};
ok(!$ok && defined $report->{verified} && !$report->{verified}
    && ($report->{error} // '') =~ /base\.tar\.zst/, '--json reports the failure too');
($ok, $out, $err) = run_verify('--backup', $name, '--stored-only');
ok(!$ok, 'pgvault verify --stored-only fails too');
like($err, qr/^pgvault: error: object "base\.tar\.zst" of backup "\Q$name\E" is corrupt: SHA-256 mismatch/m,
  'naming the object');
like(slurp_file($record_file), qr/"status":\s*"failed".*"verified_by":\s*"pgvault verify --stored-only"|"verified_by":\s*"pgvault verify --stored-only".*"status":\s*"failed"/s,
  'a failure of the stored bytes is recorded: the backup is damaged whatever the depth');
flip_byte($object, int((-s $object) / 2));    # restore it

# A missing object.
my ($tsobject) = grep { m{/\d+\.tar\.zst$} } glob("$dir/*.tar.zst");
rename $tsobject, "$tsobject.moved" or die $!;
($ok, $out, $err) = run_verify('--backup', $name);
my ($tsname) = $tsobject =~ m{([^/]+)$};
ok(!$ok, 'pgvault verify fails when an object is missing');
like($err, qr/object "\Q$tsname\E" of backup "\Q$name\E" is missing from the repository/, 'naming it');
rename "$tsobject.moved", $tsobject or die $!;
($ok) = run_verify('--backup', $name);
ok($ok, 'and passes again once it is back');

$node->stop;
done_testing();

sub run_verify {
  my @args = @_;
  my ($stdout, $stderr);
  my $ok = IPC::Run::run([ 'pgvault', 'verify', '--repo', $repo, @args ], '>', \$stdout, '2>', \$stderr);
  return ($ok, $stdout // '', $stderr // '');
}

sub flip_byte {
  my ($file, $at) = @_;
  open(my $f, '+<', $file) or die "$file: $!";
  binmode $f;
  seek($f, $at, 0);
  read($f, my $byte, 1);
  seek($f, $at, 0);
  print $f chr(ord($byte) ^ 0xff);
  close $f;
}
