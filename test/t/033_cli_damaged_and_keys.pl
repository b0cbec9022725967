# pgvault list shows a backup whose backup.json is not valid JSON as damaged,
# with the parse error (table and --json), instead of leaving it out; the
# command's "no key" errors name the ways the command takes a key
# (--encryption-key-file, $PGVAULT_ENCRYPTION_KEY_FILE,
# $PGVAULT_ENCRYPTION_PASSPHRASE, the --config file's settings).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;
use PgVault::Cli;

my $keys = PostgreSQL::Test::Utils::tempdir();
open(my $fh, '>:raw', "$keys/backup.key") or die $!;
print $fh join '', map { chr int rand 256 } 1 .. 32;
close $fh;
chmod 0600, "$keys/backup.key";

my ($node, $repo) = new_vault_node('damaged', conf => "pgvault.encryption_key_file = '$keys/backup.key'\n");
my ($name, $location) = split /\|/, $node->safe_psql('postgres', 'SELECT name, location FROM vault.create_backup()');
my ($dir) = $location =~ m{^file://(.*?)/?$};
my $sysid = (split m{/}, $dir)[-3];

# A second backup directory whose backup.json is cut short.
my $broken = "$name-copy";
my $broken_dir = "$dir/../$broken";
mkdir $broken_dir or die $!;
PostgreSQL::Test::Utils::append_to_file("$broken_dir/backup_manifest", 'x');
PostgreSQL::Test::Utils::append_to_file("$broken_dir/backup.json", substr(slurp_file("$dir/backup.json"), 0, 40));

my ($ok, $out, $err) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list succeeds') or diag($err);
like($out, qr/^\Q$name\E\s+physical/m, 'the good backup is listed');
like($out, qr/^\Q$broken\E\s+DAMAGED\s.*\Q$sysid\E$/m, 'the damaged one is listed as DAMAGED');
like($out, qr/^1 damaged backup \(backup\.json unusable.*\n  backup "\Q$broken\E" \(system \Q$sysid\E\): .*not valid JSON/m,
  'with the parse error');

($ok, $out, $err) = pgvault('list', '--repo', $repo, '--json');
my $list = eval { decode_json($out) } // [];
is(scalar @$list, 2, '--json: both backups');
is($list->[0]{name}, $name, '--json: the good one as its backup.json');
is($list->[1]{name}, $broken, '--json: the damaged one');
ok($list->[1]{damaged}, '--json: marked damaged');
like($list->[1]{error} // '', qr/not valid JSON/, '--json: with the parse error');
is($list->[1]{system_identifier}, $sysid, '--json: and its system');

# ---- keys --------------------------------------------------------------------------
local $ENV{PGVAULT_ENCRYPTION_KEY_FILE};
local $ENV{PGVAULT_ENCRYPTION_PASSPHRASE};
delete $ENV{PGVAULT_ENCRYPTION_KEY_FILE};
delete $ENV{PGVAULT_ENCRYPTION_PASSPHRASE};
my $target = PostgreSQL::Test::Utils::tempdir() . '/nokey';
($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', $name, '--pgdata', $target);
ok(!$ok, 'restore without a key fails');
like($err, qr/backup "\Q$name\E" is encrypted \(key fingerprint [0-9a-f]+\), but no encryption key was given: .*--encryption-key-file FILE, set \$PGVAULT_ENCRYPTION_KEY_FILE, or set pgvault\.encryption_key_file in the --config file/,
  'the error names --encryption-key-file, the environment and the --config setting');
ok(!-e "$target/PG_VERSION", 'nothing restored');

{
  local $ENV{PGVAULT_ENCRYPTION_PASSPHRASE} = 'a passphrase';
  ($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $name);
  ok(!$ok, 'verify with a passphrase for a key-file backup fails');
  like($err, qr/with a key file, but only a passphrase was given: pass --encryption-key-file/,
    'and says a key file is needed');
}
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $name, '--encryption-key-file', "$keys/backup.key");
ok($ok, 'verify with --encryption-key-file passes') or diag($err);

# A passphrase backup, asked for with a key file.
$node->append_conf('postgresql.conf', "pgvault.encryption_key_file = ''\npgvault.encryption_passphrase = 'pass phrase'\n");
$node->reload;
my ($lname) = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(kind => 'logical')});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/x.dump';
($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', $lname, '-o', $dump);
like($err, qr/is encrypted with a passphrase \(key fingerprint [0-9a-f]+\), but no encryption key was given: set pgvault\.encryption_passphrase in the --config file, or \$PGVAULT_ENCRYPTION_PASSPHRASE, to the passphrase/,
  'get without the passphrase names the environment variable and the --config setting');
($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', $lname, '-o', $dump, '--encryption-key-file', "$keys/backup.key");
like($err, qr/encrypted with a passphrase .*but a key file was given \(\Q$keys\E\/backup\.key\): give the passphrase instead/,
  'get with a key file for a passphrase backup says what to give instead');
ok(!-e $dump && !-e "$dump.partial", 'no file written');
{
  local $ENV{PGVAULT_ENCRYPTION_PASSPHRASE} = 'pass phrase';
  ($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', $lname, '-o', $dump);
  ok($ok, 'get with $PGVAULT_ENCRYPTION_PASSPHRASE works') or diag($err);
}

$node->stop;
done_testing();
