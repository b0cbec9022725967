# Encryption at rest: with pgvault.encryption_key_file every object is
# AES-256-GCM encrypted; the backup restores (and verifies) with the key and
# fails clearly without it or with another one. With a passphrase, a logical
# backup comes back through pgvault get into stock pg_restore. Neither the key
# nor the passphrase appears in the log, the history or backup.json.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

my $keys = PostgreSQL::Test::Utils::tempdir();
sub new_key {
  my ($path) = @_;
  open(my $fh, '>:raw', $path) or die $!;
  print $fh join '', map { chr int rand 256 } 1 .. 32;
  close $fh;
  chmod 0600, $path;
  return $path;
}
my $key = new_key("$keys/backup.key");
my $other_key = new_key("$keys/other.key");
my $key_hex = unpack 'H*', slurp_file($key);

my ($node, $repo) = new_vault_node('encryption', conf => "pgvault.encryption_key_file = '$key'\n");
my $conf = $node->data_dir . '/postgresql.conf';
my $q = sub { $node->safe_psql('postgres', shift) };
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $digest = table_digest($node, 'pgbench_accounts', 'aid');

# 1. A physical backup, encrypted with the key file.
my ($name, $encrypted, $fingerprint, $location) = split /\|/,
  $q->(q{SELECT id FROM vault.create_backup() \gset
SELECT name, encrypted, key_fingerprint, location FROM vault.history WHERE id = :id});
is($encrypted, 't', 'the history row says encrypted');
like($fingerprint, qr/^[0-9a-f]{32}$/, 'and records the key fingerprint');
my ($dir) = $location =~ m{^file://(.*)$};
my $meta = decode_json(slurp_file("$dir/backup.json"));
is("$meta->{encryption}/$meta->{key_fingerprint}/$meta->{key_derivation}", "aes-256-gcm/$fingerprint/raw",
  'backup.json records algorithm, fingerprint and derivation');
for my $object (map { $_->{name} } @{ $meta->{objects} }) {
  open(my $fh, '<:raw', "$dir/$object") or die $!;
  read($fh, my $magic, 8);
  is($magic, 'PGVLTENC', "$object is stored encrypted");
}
$q->('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid < 100');

# 2. Restore and verify with the key; without it or with another, a clear refusal.
my $target = PostgreSQL::Test::Utils::tempdir() . '/nokey';
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name, '--pgdata', $target ],
  qr/encrypted \(key fingerprint $fingerprint\), but no encryption key was given: set pgvault\.encryption_key_file/,
  'restore without the key says the backup is encrypted and what to set');
ok(!-e "$target/PG_VERSION", 'nothing left behind');
command_fails_like([ 'pgvault', 'restore', '--repo', $repo, '--backup', $name, '--pgdata', $target,
                     '--encryption-key-file', $other_key ],
  qr/encryption key does not match/, 'restore with another key says the key does not match');
command_ok([ 'pgvault', 'verify', '--config', $conf, '--backup', $name ], 'pgvault verify passes with the key');
command_fails_like([ 'pgvault', 'verify', '--repo', $repo, '--backup', $name ], qr/no encryption key was given/,
  'pgvault verify without the key fails clearly');

my $restored = PostgreSQL::Test::Cluster->new('restored');
command_ok([ 'pgvault', 'restore', '--config', $conf, '--backup', $name, '--pgdata', $restored->data_dir ],
  'pgvault restore --config (which names the key file) succeeds');
$restored->append_conf('postgresql.conf', "port = " . $restored->port . "\npgvault.schedule = ''\n");
$restored->start;
is(table_digest($restored, 'pgbench_accounts', 'aid'), $digest, 'the encrypted backup restores the data as it was');
$restored->stop;

# 3. A passphrase: a logical backup, through pgvault get into stock pg_restore.
my $passphrase = 'correct horse battery staple ' . int(rand(1e9));
$node->append_conf('postgresql.conf', "pgvault.encryption_key_file = ''\npgvault.encryption_passphrase = '$passphrase'\n");
$node->reload;
is($q->('SHOW pgvault.encryption_passphrase'), '********', 'SHOW masks the passphrase');
my ($lname, $lfp, $llocation) = split /\|/,
  $q->(q{SELECT id FROM vault.create_backup(kind => 'logical') \gset
SELECT name, key_fingerprint, location FROM vault.history WHERE id = :id});
($dir) = $llocation =~ m{^file://(.*)$};
$meta = decode_json(slurp_file("$dir/backup.json"));
is($meta->{key_derivation}, 'scrypt', 'a passphrase backup says scrypt');
my $dump = PostgreSQL::Test::Utils::tempdir() . '/shop.pgdump';
command_fails_like([ 'pgvault', 'get', '--repo', $repo, '--backup', $lname, '-o', $dump ],
  qr/encrypted with a passphrase .* set pgvault\.encryption_passphrase/, 'pgvault get without the passphrase fails clearly');
ok(!-e $dump && !-e "$dump.partial", 'and writes no file');
command_ok([ 'pgvault', 'get', '--config', $conf, '--backup', 'latest', '-o', $dump ],
  'pgvault get --config (which holds the passphrase) writes the dump');
$q->('CREATE DATABASE from_dump');
$node->command_ok([ 'pg_restore', '--dbname', $node->connstr('from_dump'), $dump ], 'stock pg_restore reads it');
is($node->safe_psql('from_dump', q{SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY aid)) FROM pgbench_accounts t}),
  table_digest($node, 'pgbench_accounts', 'aid'), 'the dump restores the data');

# 4. Nothing secret anywhere.
my $log = slurp_file($node->logfile);
ok(index($log, $passphrase) < 0 && index(lc $log, $key_hex) < 0, 'neither passphrase nor key in the server log');
like($log, qr/parameter "pgvault\.encryption_passphrase" changed/, 'the reload log only says the passphrase changed');
my $everything = $q->(q{SELECT string_agg(t::text, ' ') FROM vault.history t});
ok(index($everything, $passphrase) < 0 && index($everything, $key_hex) < 0, 'neither in vault.history');
my $json = join '', map { slurp_file($_) } glob("$dir/../*/backup.json");
ok(index($json, $passphrase) < 0 && index($json, $key_hex) < 0, 'neither in any backup.json');

$node->stop;
done_testing();
