# A mistyped repository must not look empty: every pgvault command that
# reads fails, naming the URL and what is missing (directory, bucket,
# container), while an existing repository with no backups (of this system)
# is not an error. Against a file repository, Swift's S3 API and Azurite.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::ObjectStore;
use PgVault::Cli;

# ---- file:// -------------------------------------------------------------------
my ($node, $repo) = new_vault_node('missing_repo');
my $row = $node->safe_psql('postgres', 'SELECT status FROM vault.create_backup()');
is($row, 'completed', 'a physical backup exists in the real repository');
my $typo = $repo =~ s{/repo$}{/ropo}r;
my $typo_dir = $typo =~ s{^file://}{}r;

my ($ok, $out, $err) = pgvault('list', '--repo', $typo);
ok(!$ok, 'pgvault list of a missing directory fails');
like($err, qr/^pgvault: error: repository \Q$typo\E does not exist \(no directory \Q$typo_dir\E\)/m,
  'and names the URL and the missing directory');
is($out, '', 'and prints no "no backups"');
ok(!-e $typo_dir, 'looking did not create the directory');

my $target = PostgreSQL::Test::Utils::tempdir() . '/restored';
for my $cmd ([ 'restore', '--backup', 'latest', '--pgdata', $target ],
             [ 'verify', '--backup', 'latest' ],
             [ 'get', '--backup', 'latest', '-o', PostgreSQL::Test::Utils::tempdir() . '/x.dump' ]) {
  ($ok, $out, $err) = pgvault(@$cmd, '--repo', $typo);
  ok(!$ok, "pgvault $cmd->[0] with a missing repository fails");
  like($err, qr/repository \Q$typo\E does not exist/, "pgvault $cmd->[0] says the repository does not exist");
}
ok(!-e $target, 'restore wrote nothing');

my $empty = PostgreSQL::Test::Utils::tempdir() . '/empty';
mkdir $empty or die $!;
($ok, $out, $err) = pgvault('list', '--repo', "file://$empty");
ok($ok, 'an existing empty repository is not an error');
like($out, qr/^no backups in file:\/\/\Q$empty\E/, 'it says there are no backups');
($ok, $out, $err) = pgvault('list', '--repo', $repo, '--system-id', '1234');
ok($ok, 'no backups of another system is not an error');
like($out, qr/^no backups of system 1234 in \Q$repo\E/, 'it says so');
$node->stop;

# ---- S3 (Swift) and Azure (Azurite) ----------------------------------------------
for my $store (PgVault::ObjectStore->start_s3(), PgVault::ObjectStore->start_azurite()) {
  my $kind = $store->kind;
  my ($scheme, $what) = $kind eq 's3' ? ('s3', 'bucket') : ('azure', 'container');
  my $conf = $store->dir . '/pgvault.conf';
  PostgreSQL::Test::Utils::append_to_file($conf, $store->pgvault_conf);
  $store->create_bucket('present');

  ($ok, $out, $err) = pgvault('list', '--config', $conf, '--repo', "$scheme://absent/prefix");
  ok(!$ok, "$kind: pgvault list of a missing $what fails");
  like($err, qr/repository $scheme:\/\/absent\/prefix does not exist \(no $what "absent"\)/,
    "$kind: and names the URL and the missing $what");
  ($ok, $out, $err) = pgvault('verify', '--config', $conf, '--repo', "$scheme://absent", '--backup', 'latest');
  ok(!$ok && $err =~ /does not exist \(no $what "absent"\)/, "$kind: pgvault verify says so too")
    or diag($err);

  ($ok, $out, $err) = pgvault('list', '--config', $conf, '--repo', "$scheme://present/prefix");
  ok($ok, "$kind: an existing empty $what is not an error") or diag($err);
  like($out, qr/^no backups in $scheme:\/\/present\/prefix/, "$kind: it says there are no backups");
  $store->stop;
}

done_testing();
