# A failed backup's pending cleanup is done in the store it was written to
# (issue 13, item 8), not in whatever pgvault.repository says now.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo_a) = new_vault_node('pending_cleanup');
my ($dir_a) = $repo_a =~ m{^file://(.*)$};
my $dir_b = PostgreSQL::Test::Utils::tempdir() . '/repo_b';
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

sub sql { return $node->safe_psql('postgres', shift) }
sub set_repository {
  my ($url) = @_;
  sql("ALTER SYSTEM SET pgvault.repository = '$url'; SELECT pg_reload_conf()");
  $node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = '$url'")
    or die "reload";
}

# A backup in repository A that failed and could not be cleaned: its objects
# are still there (backup.json gone: incomplete) and its row says so.
sql('SELECT vault.create_backup()');
my $failed = sql('SELECT (vault.create_backup()).id');
my $name = sql("SELECT name FROM vault.backups WHERE id = $failed");
my $dir = "$dir_a/$sysid/backups/$name";
unlink("$dir/backup.json") or die "unlink: $!";
sql("UPDATE vault.backups SET status = 'failed', cleanup_pending = true WHERE id = $failed");
ok(-e "$dir/base.tar.zst", 'the leftovers are in repository A');

# Repository A unreachable, the next success in B: the flag stays.
set_repository("file://$dir_b");
chmod(0000, "$dir_a/$sysid/backups") or die "chmod: $!";
sql('SELECT vault.create_backup()');
chmod(0755, "$dir_a/$sysid/backups");
is(sql("SELECT cleanup_pending FROM vault.backups WHERE id = $failed"), 't',
  'A unreachable: cleanup stays pending after a success in B');
ok(-e "$dir/base.tar.zst", 'and the leftovers are still in A');

# A reachable again: the next success in B cleans A and clears the flag.
sql('SELECT vault.create_backup()');
ok(!-e $dir, 'the leftovers are removed from repository A, where they were written');
is(sql("SELECT cleanup_pending FROM vault.backups WHERE id = $failed"), 'f', 'and the flag is cleared');
like(slurp_file($node->logfile), qr/removed the leftovers of incomplete backup "\Q$name\E"/, 'logged');
is(sql("SELECT repository FROM vault.backups WHERE id = $failed"), $repo_a, 'the row names its repository');

done_testing();
