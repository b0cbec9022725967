# The repository's format versions (README.md, "Repository layout"): the
# first backup records the repository format at the root; a backup.json or a
# repository of a newer format is refused with a message saying to upgrade
# pgvault, by the CLI and by SQL alike, and nothing of it is deleted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('format');
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $q = sub { $node->safe_psql('postgres', shift) };

sub pgvault {
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'pgvault', @_ ], '<', \undef, '>', \$out, '2>', \$err);
  return ($ok, "$out$err");
}

# What SQL says, whether it raises or reports the error in its result.
sub sql_outcome {
  my ($sql) = @_;
  my ($ret, $out, $err) = $node->psql('postgres', $sql);
  return "$out$err";
}

my ($older, $older_location) = split /\|/, $q->('SELECT name, location FROM vault.create_backup()');
my ($newer, $newer_location) = split /\|/, $q->(q{SELECT name, location FROM vault.create_backup(kind => 'logical')});
like(slurp_file("$repo_dir/pgvault-repository.json"), qr/^\{"format":1\}\s*$/,
  'the first backup recorded repository format 1 at the root');

# ---- one backup.json of a newer format ------------------------------------------------
my ($newer_dir) = $newer_location =~ m{^file://(.*)$};
my $meta_file = "$newer_dir/backup.json";
my $meta = slurp_file($meta_file);
(my $meta_v2 = $meta) =~ s/"format_version": 1,/"format_version": 4,/ or die "no format_version in $meta";
append_to_file("$meta_file.new", $meta_v2);
rename("$meta_file.new", $meta_file) or die $!;
my $backup_refusal = qr/backup "\Q$newer\E" \(system \d+\): backup\.json: format_version 4 is newer than this pgvault understands \(3\); upgrade pgvault to read this backup/;

my ($ok, $out) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list still lists the repository');
like($out, qr/^\Q$older\E\s+physical/m, 'with the backup it can read');
like($out, qr/^\Q$newer\E\s+DAMAGED/m, 'and the newer backup as not readable');
like($out, $backup_refusal, 'saying why: upgrade pgvault');
($ok, $out) = pgvault('verify', '--repo', $repo, '--backup', $newer);
ok(!$ok, 'pgvault verify refuses the newer backup');
like($out, $backup_refusal, 'with the same message');
($ok, $out) = pgvault('get', '--repo', $repo, '--backup', $newer, '--output', PostgreSQL::Test::Utils::tempdir() . '/dump');
ok(!$ok, 'pgvault get refuses it');
like($out, $backup_refusal, 'pgvault get says why');
like(sql_outcome("SELECT verified, error FROM vault.verify_backup('$newer')"), $backup_refusal,
  'vault.verify_backup refuses it with the same message');

# Retention keeps it, however few backups it may keep, and says so.
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgvault.retention_count = 1\npgvault.logical_retention_count = 1\n");
$node->reload;
my ($third) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical')});
ok(-f $meta_file, 'retention kept the backup of the newer format');
ok($node->wait_for_log(qr/retention keeps backup "\Q$newer\E" \(system \d+\): backup\.json: format_version 4 is newer/, $log_offset),
  'and logged that it kept it');
$node->append_conf('postgresql.conf', "pgvault.retention_count = 0\npgvault.logical_retention_count = -1\n");
$node->reload;
append_to_file("$meta_file.new", $meta);
rename("$meta_file.new", $meta_file) or die $!;

# ---- a repository of a newer format ---------------------------------------------------
unlink("$repo_dir/pgvault-repository.json") or die $!;
append_to_file("$repo_dir/pgvault-repository.json", qq({"format": 2, "introduced_by": "a later pgvault"}\n));
my $repository_refusal = qr/repository format 2 is newer than this pgvault understands \(1\); upgrade pgvault to read it/;
($ok, $out) = pgvault('list', '--repo', $repo);
ok(!$ok, 'pgvault list refuses a repository of a newer format');
like($out, $repository_refusal, 'saying to upgrade pgvault');
($ok, $out) = pgvault('verify', '--repo', $repo, '--backup', 'latest');
ok(!$ok, 'pgvault verify refuses it');
like($out, $repository_refusal, 'pgvault verify says why');
my $restored = PostgreSQL::Test::Cluster->new('restored');
($ok, $out) = pgvault('restore', '--repo', $repo, '--backup', $older, '--pgdata', $restored->data_dir);
ok(!$ok, 'pgvault restore refuses it');
like($out, $repository_refusal, 'pgvault restore says why');
like(sql_outcome('SELECT verified, error FROM vault.verify_backup()'), $repository_refusal,
  'vault.verify_backup refuses it');
like(sql_outcome('SELECT * FROM vault.cleanup()'), $repository_refusal, 'vault.cleanup refuses it');
my @backups_before = glob("$repo_dir/*/backups/*");
like(sql_outcome(q{SELECT status FROM vault.create_backup(kind => 'logical')}), $repository_refusal,
  'a backup into it fails, saying why');
my @backups_after = glob("$repo_dir/*/backups/*");
is(scalar(@backups_after), scalar(@backups_before), 'and leaves nothing in it');
my ($older_dir) = $older_location =~ m{^file://(.*)$};
ok(-f "$older_dir/backup.json" && -f $meta_file, 'nothing was deleted');
ok(-f "$repo_dir/pgvault-repository.json", 'the newer format file is left as it is');

done_testing();
