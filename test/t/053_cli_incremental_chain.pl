# pgvault list, verify and restore (fresh and --delta) of an incremental
# backup's chain, from a repository built by hand in the format of
# src/core/physical/README.md ("Incremental backups in the repository"):
# ustar archives made by GNU tar, INCREMENTAL.<file> entries in the
# incremental file format, PostgreSQL's backup_manifest with
# "Checksum-Algorithm": "NONE" for rebuilt files. The server cannot take
# incrementals yet; this proves the command's side. No server runs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path remove_tree);
use PgVault::Cli;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $root = "$tmp/repo";
my $repo = "file://$root";
my $sysid = '7291234567890123456';
my ($full, $incr1, $incr2) =
  ('20261201T000000Z-physical', '20261202T000000Z-incremental', '20261203T000000Z-incremental');

sub page_of { my ($c) = @_; return $c x 8192; }
sub pages { return join '', map { page_of($_) } split //, shift; }

# The incremental file format: header, block numbers, pages.
sub incremental {
  my ($file_blocks, %stored) = @_;
  my @blocks = sort { $a <=> $b } keys %stored;
  return pack('a4 v v V V', 'PGVI', 1, 0, $file_blocks, scalar @blocks)
    . pack('V*', @blocks) . join('', map { page_of($stored{$_}) } @blocks);
}

# PostgreSQL's backup_manifest: [path, size, content or undef (no checksum)].
sub manifest {
  my $m = qq({ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [);
  my $first = 1;
  for my $f (@_) {
    my ($path, $size, $content) = @$f;
    $m .= $first ? "\n" : ",\n";
    $first = 0;
    $m .= qq({ "Path": "$path", "Size": $size, "Last-Modified": "2026-12-01 00:00:00 GMT", )
      . (defined $content
        ? qq("Checksum-Algorithm": "SHA256", "Checksum": ") . sha256_hex($content) . qq(" })
        : qq("Checksum-Algorithm": "NONE" }));
  }
  $m .= qq(\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n);
  return $m . qq("Manifest-Checksum": ") . sha256_hex($m) . qq("}\n);
}

sub write_file {
  my ($path, $content) = @_;
  open(my $fh, '>:raw', $path) or die "$path: $!";
  print $fh $content;
  close $fh;
}

# One backup: its files (archive path => content) into base.tar by GNU tar,
# its manifest, then backup.json.
sub put_backup {
  my ($name, $parent, $seq, $files, $manifest) = @_;
  my $stage = "$tmp/stage-$name";
  make_path("$stage/base/5", "$stage/global", "$stage/pg_wal");
  write_file("$stage/$_", $files->{$_}) for keys %$files;
  my $dir = "$root/$sysid/backups/$name";
  make_path($dir);
  system('tar', '--format=ustar', '-C', $stage, '-cf', "$dir/base.tar", '.') == 0 or die 'tar failed';
  write_file("$dir/backup_manifest", manifest(@$manifest));
  my @objects = map {
    my $c = slurp_file("$dir/$_");
    { name => $_, size => length $c, sha256 => sha256_hex($c) }
  } ('base.tar', 'backup_manifest');
  my %meta = (
    format_version => $parent ? 2 : 1, name => $name,
    kind => $parent ? 'incremental' : 'physical',
    label => '', trigger => 'manual', initiated_by => 'postgres', database => 'postgres',
    system_identifier => $sysid, pg_version => 150004, timeline => 1,
    start_lsn => "0/${seq}000028", stop_lsn => "0/${seq}000100",
    started_at => "2026-12-0${seq}T00:00:00.000Z", completed_at => "2026-12-0${seq}T00:00:10.000Z",
    compression => 'none', compression_level => 0, compressed_by => 'none',
    source_bytes => 0, stored_bytes => 0, tablespaces => [], objects => \@objects);
  $meta{parent} = $parent if $parent;
  write_file("$dir/backup.json", JSON::PP->new->canonical->encode(\%meta));
}

my $control = sub { return $_[0] x 8192 };
put_backup($full, undef, 1,
  { 'PG_VERSION' => "15\n", 'base/5/100' => pages('abcd'), 'base/5/300' => pages('hi'),
    'global/pg_control' => $control->('1') },
  [ [ 'PG_VERSION', 3, "15\n" ], [ 'base/5/100', 4 * 8192, pages('abcd') ],
    [ 'base/5/300', 2 * 8192, pages('hi') ], [ 'global/pg_control', 8192, $control->('1') ] ]);
put_backup($incr1, $full, 2,
  { 'PG_VERSION' => "15\n", 'base/5/INCREMENTAL.100' => incremental(5, 1 => 'B', 4 => 'E'),
    'global/pg_control' => $control->('2') },
  [ [ 'PG_VERSION', 3, "15\n" ], [ 'base/5/100', 5 * 8192 ],
    [ 'global/pg_control', 8192, $control->('2') ] ]);
put_backup($incr2, $incr1, 3,
  { 'PG_VERSION' => "15\n", 'base/5/INCREMENTAL.100' => incremental(5, 4 => 'X'),
    'base/5/600' => pages('pq'), 'global/pg_control' => $control->('3') },
  [ [ 'PG_VERSION', 3, "15\n" ], [ 'base/5/100', 5 * 8192 ], [ 'base/5/600', 2 * 8192, pages('pq') ],
    [ 'global/pg_control', 8192, $control->('3') ] ]);

# list: kind, parent and chain.
my ($ok, $out, $err) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list succeeds') or diag($err);
like($out, qr/^NAME\s+KIND\s+DATABASE\s+PARENT\s+CHAIN\s+STARTED/m, 'the table has PARENT and CHAIN columns');
like($out, qr/^\Q$incr2\E\s+incremental\s+-\s+\Q$incr1\E\s+3 backups\s/m, 'the second incremental: its parent, a chain of 3');
like($out, qr/^\Q$full\E\s+physical\s+-\s+-\s+-\s/m, 'the full backup has neither');
($ok, $out) = pgvault('list', '--repo', $repo, '--json');
my %by_name = map { $_->{name} => $_ } @{ decode_json($out) };
is_deeply($by_name{$incr2}{chain}, [ $incr2, $incr1, $full ], '--json: the chain a restore reads, newest first');
is($by_name{$incr2}{parent}, $incr1, '--json: the parent');
ok($by_name{$incr2}{restorable}, '--json: restorable');

# verify: the whole chain.
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $incr2);
ok($ok, 'verify of the incremental passes') or diag("$out\n$err");
like($out, qr/^its chain of 3 backups was read and checked: \Q$full <- $incr1 <- $incr2\E$/m, 'and names its chain');
($ok, $out) = pgvault('verify', '--repo', $repo, '--backup', 'latest', '--json');
is_deeply(decode_json($out)->{chain}, [ $incr2, $incr1, $full ], 'verify latest: the newest incremental, chain in --json');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $incr2, '--stored-only');
ok($ok, 'verify --stored-only of the incremental passes') or diag("$out\n$err");
like($out, qr/the stored bytes of \d+ objects match backup\.json.*\n^its chain of 3 backups was read and checked: \Q$full <- $incr1 <- $incr2\E$/m,
  'every backup of its chain, named');

# restore: the chain, every page from the newest backup that has it.
my $data = "$tmp/data";
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', 'latest', '-D', $data);
ok($ok, 'restore of the latest (incremental) backup succeeds') or diag("$out\n$err");
like($out, qr/^incremental backup: restoring its chain of 3 backups, \Q$full <- $incr1 <- $incr2\E/m, 'it says which chain');
like($out, qr/^  restoring incremental 2 of 3: "\Q$incr1\E", for the 1 files that need older pages$/m, 'and which backup it reads');
like($out, qr/^restored \d+ files .*, 1 of them rebuilt from the chain \(\d+ \w+ read in [^)]+\);/m, 'and what was rebuilt');
is(slurp_file("$data/base/5/100"), pages('aBcdX'), 'the rebuilt file: newest page wins, older pages below');
is(slurp_file("$data/base/5/600"), pages('pq'), 'a whole file of the newest backup');
ok(!-e "$data/base/5/300", 'a file the newest backup does not have is never written');

# --delta over a stale copy: equal to a fresh restore, equal files kept.
my $fresh = "$tmp/fresh";
($ok) = pgvault('restore', '--repo', $repo, '--backup', $incr2, '-D', $fresh);
ok($ok, 'a fresh restore for comparison');
write_file("$data/base/5/600", 'stale');
write_file("$data/base/5/999", 'not in the backup');
my @before = stat("$data/PG_VERSION");
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $incr2, '-D', $data);
ok(!$ok, 'without --delta a non-empty directory is refused');
like($err, qr/restore with --delta/, 'the error points at --delta');
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $incr2, '-D', $data, '--delta');
ok($ok, 'restore --delta succeeds') or diag("$out\n$err");
like($out, qr/^delta: \d+ files already matched the backup and were kept, \d+ files not in the backup removed, 5 pages of rebuilt files already right$/m,
  'it says what it kept') or diag($out);
my @after = stat("$data/PG_VERSION");
is("$after[1] $after[9]", "$before[1] $before[9]", 'an unchanged file is not rewritten (inode, mtime)');
ok(!-e "$data/base/5/999", 'a file not in the backup is removed');
for my $f ('base/5/100', 'base/5/600', 'global/pg_control', 'PG_VERSION', 'postgresql.auto.conf') {
  is(slurp_file("$data/$f"), slurp_file("$fresh/$f"), "delta and fresh restore agree: $f");
}
write_file("$data/postmaster.pid", "4242\n");
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $incr2, '-D', $data, '--delta');
ok(!$ok, 'a delta restore into a running server\'s directory is refused');
like($err, qr/postmaster\.pid: a server may be running there/, 'naming postmaster.pid');

# A broken chain: listed, passed over by latest, refused by name.
unlink "$root/$sysid/backups/$incr1/backup.json" or die $!;
($ok, $out) = pgvault('list', '--repo', $repo);
like($out, qr/^\Q$incr2\E\s+incremental\s+-\s+\Q$incr1\E\s+BROKEN\s/m, 'list flags the broken chain');
like($out, qr/^1 incremental backup with a broken chain \(not restorable\):\n  the chain of backup "\Q$incr2\E" is broken: backup "\Q$incr2\E" is relative to "\Q$incr1\E", which is missing/m,
  'with the reason');
($ok, $out) = pgvault('list', '--repo', $repo, '--json');
%by_name = map { $_->{name} => $_ } @{ decode_json($out) };
ok(!$by_name{$incr2}{restorable} && $by_name{$incr2}{chain_error} =~ /is missing/, '--json: not restorable, with the reason');
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $incr2, '-D', "$tmp/broken");
ok(!$ok, 'restore of the broken chain fails');
like($err, qr/the chain of backup "\Q$incr2\E" is broken/, 'naming the broken link');
ok(!-e "$tmp/broken", 'before writing anything');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $incr2);
ok(!$ok && $err =~ /is broken/, 'verify refuses it too');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $incr2, '--stored-only');
ok(!$ok && $err =~ /is broken/, 'and so does verify --stored-only');
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', 'latest', '-D', "$tmp/latest");
ok($ok, 'restore --backup latest still works') or diag("$out\n$err");
like($out, qr/^  passed over \Q$incr2\E: the chain of backup/m, 'passing over the broken incremental, named');
like($out, qr/^--backup latest: "\Q$full\E", the newest backup whose chain is complete$/m, 'for the full backup');

done_testing();
