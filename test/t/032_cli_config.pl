# pgvault --config <datadir>/postgresql.conf sees the settings the server
# sees: postgresql.auto.conf (ALTER SYSTEM) after the file, and the server's
# default repository beside the data directory when pgvault.repository is
# unset; a postgresql.conf outside the data directory finds it through
# data_directory. It says on standard error what it read.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::Cli;

my $node = PostgreSQL::Test::Cluster->new('config');
$node->init(allows_streaming => 1);
# No pgvault.repository: the server's default, <parent of the data directory>/pgvault.
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgvault'
pgvault.encryption_passphrase = 'stale passphrase in postgresql.conf'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgvault');
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgvault.encryption_passphrase = 'fresh passphrase from ALTER SYSTEM'});
$node->reload;
my $data = $node->data_dir;
my $default_repo = 'file://' . dirname($data) . '/pgvault';

my ($name, $location) = split /\|/,
  $node->safe_psql('postgres', q{SELECT name, location FROM vault.create_backup(kind => 'logical')});
like($location, qr{^\Q$default_repo\E/}, 'the server wrote into its default repository');

my $dir = PostgreSQL::Test::Utils::tempdir();
my ($ok, $out, $err) = pgvault('get', '--config', "$data/postgresql.conf", '--backup', 'latest', '-o', "$dir/a.dump");
ok($ok, 'pgvault get --config <datadir>/postgresql.conf succeeds') or diag($err);
like($err, qr/^pgvault: settings from \Q$data\E\/postgresql\.conf, \Q$data\E\/postgresql\.auto\.conf; repository \Q$default_repo\E, the server's default beside data directory \Q$data\E \(pgvault\.repository is not set\)$/m,
  'it says it read postgresql.auto.conf and uses the default repository');
like($err, qr/^--backup latest: "\Q$name\E"/m, 'it found the backup in the default repository');
like(slurp_file("$dir/a.dump"), qr/^PGDMP/, 'decrypted with the ALTER SYSTEM passphrase: a pg_dump archive');

($ok, $out) = pgvault('list', '--config', "$data/postgresql.conf");
like($out, qr/^\Q$name\E\s+logical/m, 'pgvault list --config lists the default repository');

# Debian's layout: postgresql.conf elsewhere, naming the data directory.
my $etc = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$etc/postgresql.conf",
  slurp_file("$data/postgresql.conf") . "\ndata_directory = '$data'\n");
($ok, $out, $err) = pgvault('get', '--config', "$etc/postgresql.conf", '--backup', $name, '-o', "$dir/b.dump");
ok($ok, 'a postgresql.conf outside the data directory works through data_directory') or diag($err);
like($err, qr/^pgvault: settings from \Q$etc\E\/postgresql\.conf, \Q$data\E\/postgresql\.auto\.conf;/m,
  'and reads the data directory\'s postgresql.auto.conf');

# The data directory lost (the disaster): no postgresql.auto.conf to read, said
# so; the default repository beside it does not exist either: an error, not "no backups".
PostgreSQL::Test::Utils::append_to_file("$etc/lost.conf", "data_directory = '$etc/lost/main'\n");
($ok, $out, $err) = pgvault('list', '--config', "$etc/lost.conf");
like($err, qr/^pgvault: settings from \Q$etc\E\/lost\.conf \(no postgresql\.auto\.conf in \Q$etc\E\/lost\/main\); repository file:\/\/\Q$etc\E\/lost\/pgvault, the server's default/m,
  'a lost data directory: it says there was no postgresql.auto.conf to read');
ok(!$ok && $err =~ /repository file:\/\/\Q$etc\E\/lost\/pgvault does not exist/, 'and the missing default repository is an error');

# A file that is not a server's: read alone, and it says so.
PostgreSQL::Test::Utils::append_to_file("$etc/small.conf",
  "pgvault.repository = '$default_repo'\npgvault.encryption_passphrase = 'stale passphrase in postgresql.conf'\n");
($ok, $out, $err) = pgvault('get', '--config', "$etc/small.conf", '--backup', $name, '-o', "$dir/c.dump");
ok(!$ok, 'a small file with the stale passphrase fails');
like($err, qr/^pgvault: settings from \Q$etc\E\/small\.conf only \(.*no PG_VERSION beside it/m, 'saying it read that file only');
like($err, qr/pgvault: error: .*(passphrase|key)/, 'and the error is about the key');
ok(!-e "$dir/c.dump", 'no file written');

$node->stop;
done_testing();
