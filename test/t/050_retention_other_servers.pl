# A retention run never removes backups another server of the same system
# wrote. A test copy restored to a point is promoted onto timeline 2 beside
# the original, which goes on on timeline 1, both with the same repository:
# the copy's retention (keep 1) expires none of the original's backups, not
# even those before the fork (the original went on after it, shown by a
# backup and by archived segments), and the original's retention (keep 1)
# leaves the copy's backup alone while it expires its own older one. A
# backup name the other server used this second is never written over.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgVault::TestNode;
use PgVault::WalFetch;

my ($node, $repo, $conf, $first) = archiving_node('original', compression => 'zstd');

sub listed {
  my ($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
  return { map { $_->{name} => $_->{timeline} } @{ decode_json($out) } };
}

# The copy: the first backup, recovered to where it is consistent and
# promoted onto timeline 2; it may take backups (a DBA testing on it).
my $copy = PostgreSQL::Test::Cluster->new('copy');
command_ok([ pgvault_path(), 'restore', '--config', $conf, '--backup', $first,
             '--target', 'immediate', '--pgdata', $copy->data_dir ],
  'the first backup restores to its consistent point');
$copy->append_conf('postgresql.conf', "port = " . $copy->port . "\n");
$copy->start;
ok($copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the copy is promoted');
is($copy->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '2',
  'the copy runs on timeline 2');

# The original goes on on timeline 1: more WAL archived, a second backup.
$node->safe_psql('postgres', q{INSERT INTO rows SELECT 7, g, md5(g::text) FROM generate_series(1, 20000) g});
my $second = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'after the fork')});
my $last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok($node->poll_query_until('postgres', "SELECT '$last' <= last_archived_wal FROM pg_stat_archiver"),
  'the original archived its timeline past the fork');

# The copy keeps one backup: its own new one is taken, the original's stay.
$copy->safe_psql('postgres', q{ALTER SYSTEM SET pgvault.retention_count = 1; SELECT pg_reload_conf()});
my $log_offset = -s $copy->logfile;
my $copy_backup = $copy->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'copy')});
my $l = listed();
isnt($copy_backup, $second, 'the copy\'s backup has a name of its own, even in the same second');
is($l->{$copy_backup}, 2, 'the copy\'s backup is on timeline 2');
is($l->{$second}, 1, 'the original\'s backup after the fork is still its own');
ok(exists $l->{$first} && exists $l->{$second},
  'the copy\'s retention (keep 1) removed neither of the original\'s backups');
my $copy_log = slurp_file($copy->logfile, $log_offset);
like($copy_log, qr/retention keeps backup "\Q$second\E" \(timeline 1, ends at [0-9A-F\/]+\) is another server's: it is not on the history of this server \(timeline 2/,
  'the backup after the fork is on another server\'s history (logged)');
like($copy_log, qr/retention keeps backup "\Q$first\E" \(timeline 1, ends at [0-9A-F\/]+\) is another server's: timeline 1 went on after this server .* forked from it at [0-9A-F\/]+, on another server/,
  'the backup before the fork is kept too: timeline 1 went on elsewhere');
like($copy_log, qr/remove it with vault\.delete_backup\(\)/, 'the log says what a DBA can do');
$copy->stop;

# The original keeps one backup: its own older one goes, the copy's stays.
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgvault.retention_count = 1; SELECT pg_reload_conf()});
my $third = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'third')});
$l = listed();
ok(!exists $l->{$first} && !exists $l->{$second} && exists $l->{$third},
  'the original\'s retention expired its own older backups');
ok(exists $l->{$copy_backup}, 'and left the copy\'s backup on timeline 2 alone');

# Another server's backups under the names the next backup would take (the
# copy's clock, this second and the next ones): the name skips them and
# their objects are untouched.
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
(my $dir = $repo) =~ s{^file://}{};
my @planted;
my $now = time;
for my $t ($now .. $now + 20) {
  my @g = gmtime($t);
  my $name = sprintf('%04d%02d%02dT%02d%02d%02dZ-physical', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]);
  next if -e "$dir/$sysid/backups/$name";  # this server's own (the third backup)
  mkdir "$dir/$sysid/backups/$name" or die "mkdir: $!";
  append_to_file("$dir/$sysid/backups/$name/base.tar.zst", "another server's backup");
  push @planted, $name;
}
my $fourth = $node->safe_psql('postgres', q{SELECT name FROM vault.create_backup(label => 'fourth')});
# Whichever suffix it takes (this server may have used the base name this
# second too), it is none of the planted names.
like($fourth, qr/^\d{8}T\d{6}Z-physical-\d+$/, "a name in use by another server's objects is skipped ($fourth)");
ok(!grep({ $_ eq $fourth } @planted), 'it is none of the names the other server used');
is(scalar(grep { slurp_file("$dir/$sysid/backups/$_/base.tar.zst") eq "another server's backup" } @planted),
  scalar(@planted), 'and those objects are untouched');
ok(exists listed()->{$fourth}, 'the backup under the new name is listed');

done_testing();
