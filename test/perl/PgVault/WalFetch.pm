# Shared by the wal-fetch TAP tests (043 file repository, 044 object stores):
# a node that archives through archive_library = 'pgvault' and has a backup
# plus rows written after it; a restored copy whose recovery fetches WAL
# through `pgvault wal-fetch`; running wal-fetch by hand.
package PgVault::WalFetch;

use strict;
use warnings;
use Cwd qw(realpath);
use File::Basename qw(basename dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use Exporter 'import';

our @EXPORT = qw(pgvault_path wal_fetch archiving_node restored_node pitr_restored_node
  wait_until wait_for_file wait_for_gone spool_fetchers);

# The installed pgvault, by absolute path: restore_command runs through the server's shell.
sub pgvault_path {
  for my $dir (split /:/, $ENV{PATH}) {
    return "$dir/pgvault" if -x "$dir/pgvault" && !-d "$dir/pgvault";
  }
  die "pgvault is not on PATH";
}

# Runs pgvault wal-fetch with args, in directory $cwd when given; returns
# (exit status, stdout, stderr).
sub wal_fetch {
  my ($cwd, @args) = @_;
  my ($out, $err) = ('', '');
  my %init = $cwd ? (init => sub { chdir $cwd or die "chdir $cwd: $!" }) : ();
  IPC::Run::run([ pgvault_path(), 'wal-fetch', @args ], '<', \undef, '>', \$out, '2>', \$err, %init);
  return ($? >> 8, $out, $err);
}

# A node archiving into its repository; a backup; several segments of rows
# after it, archived. %opts: compression, repository, conf (more lines),
# before_backup (code run with the node before the first write).
# Returns (node, repo, its postgresql.conf, backup name, the last archived segment).
sub archiving_node {
  my ($name, %opts) = @_;
  my ($node, $repo) = new_vault_node($name, compression => $opts{compression},
    ($opts{repository} ? (repository => $opts{repository}) : ()),
    conf => "archive_mode = on\narchive_library = 'pgvault'\n" . ($opts{conf} // ''));
  my $q = sub { $node->safe_psql('postgres', shift) };
  $q->('CREATE TABLE rows (batch int, id int, val text)');
  $q->(q{INSERT INTO rows SELECT 1, g, md5(g::text) FROM generate_series(1, 5000) g});
  my ($backup) = $q->(q{SELECT name FROM vault.create_backup(wait => true)});
  ok($backup, "$name: backup $backup taken");
  # Several segments after the backup, so replay needs more than one fetch.
  for my $batch (2 .. 5) {
    $q->(qq{INSERT INTO rows SELECT $batch, g, md5(g::text) FROM generate_series(1, 20000) g});
    $q->('SELECT pg_switch_wal()');
  }
  $q->(q{INSERT INTO rows SELECT 6, g, md5(g::text) FROM generate_series(1, 1000) g});
  my $last = $q->('SELECT pg_walfile_name(pg_current_wal_lsn())');
  $q->('SELECT pg_switch_wal()');
  ok($node->poll_query_until('postgres', "SELECT '$last' <= last_archived_wal FROM pg_stat_archiver"),
    "$name: everything up to $last archived");
  return ($node, $repo, $node->data_dir . '/postgresql.conf', $backup, $last);
}

# Restores backup (with the settings of $conf) into a new node set up for
# archive recovery: recovery.signal, and restore_command = pgvault wal-fetch
# with the restored postgresql.conf (plus $opts{fetch_args}) in
# postgresql.auto.conf. The copy takes no backups, and archives (into the
# same repository, on its new timeline) only with keep_archiving => 1.
sub restored_node {
  my ($name, $conf, $backup, %opts) = @_;
  my $restored = PostgreSQL::Test::Cluster->new($name);
  my $pgvault = pgvault_path();
  # pgvault restore writes archive_mode = 'off' into postgresql.auto.conf
  # unless told to preserve it (a restored copy must not archive by default).
  command_ok([ $pgvault, 'restore', '--config', $conf, '--backup', $backup,
               '--pgdata', $restored->data_dir,
               '--archive-mode', ($opts{keep_archiving} ? 'preserve' : 'off') ], "$name: pgvault restore");
  my $own_conf = $restored->data_dir . '/postgresql.conf';
  $restored->append_conf('postgresql.conf', "port = " . $restored->port . "\n"
    . ($opts{keep_archiving} ? '' : "archive_mode = off\n") . "pgvault.schedule = ''\n");
  my $args = $opts{fetch_args} // '';
  PostgreSQL::Test::Utils::append_to_file($restored->data_dir . '/postgresql.auto.conf',
    "restore_command = '$pgvault wal-fetch --config $own_conf $args %f %p'\n"
    . "recovery_target_timeline = 'latest'\n");
  PostgreSQL::Test::Utils::append_to_file($restored->data_dir . '/recovery.signal', '');
  return $restored;
}

# Restores backup with `pgvault restore --config $conf ... @options` (a
# --target*: restore_command and recovery_end_command are pgvault's own) into a
# new node, not started; returns (node, restore's stdout).
sub pitr_restored_node {
  my ($name, $conf, $backup, @options) = @_;
  my $restored = PostgreSQL::Test::Cluster->new($name);
  my ($out, $err) = ('', '');
  IPC::Run::run([ pgvault_path(), 'restore', '--config', $conf, '--backup', $backup,
      '--pgdata', $restored->data_dir, @options ], '>', \$out, '2>', \$err)
    or die "pgvault restore failed: $err";
  $restored->append_conf('postgresql.conf', "port = " . $restored->port . "\npgvault.schedule = ''\n");
  return ($restored, $out);
}

# The PIDs of background fetchers (wal-fetch --prefetch-worker) of spool $spool.
sub spool_fetchers {
  my ($spool) = @_;
  # wal-fetch passes the spool's canonical path.
  $spool = realpath(dirname($spool)) . '/' . basename($spool);
  my @pids;
  opendir(my $proc, '/proc') or die "/proc: $!";
  for my $pid (grep { /^\d+$/ } readdir $proc) {
    open(my $fh, '<', "/proc/$pid/cmdline") or next;
    local $/;
    my $cmdline = <$fh> // '';
    close $fh;
    my @args = split /\0/, $cmdline;
    push @pids, $pid if (grep { $_ eq '--prefetch-worker' } @args) && (grep { $_ eq $spool } @args);
  }
  closedir $proc;
  return @pids;
}

# Waiting for conditions (never for a time): true once cond holds, false
# after PostgreSQL's test timeout.
sub wait_until {
  my ($cond) = @_;
  for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default) {
    return 1 if $cond->();
    select(undef, undef, undef, 0.1);
  }
  return 0;
}
sub wait_for_file { my ($f) = @_; wait_until(sub { -f $f }) }
sub wait_for_gone { my ($f) = @_; wait_until(sub { !-e $f }) }

1;
