# Helpers of the WAL archiving TAP tests (041, 042, 047, 048): bursts of
# segments, the names between two segments, the archiver, vault.archiving,
# WAL written and archived, a backup with its start segment.
package PgVault::WalArchive;

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Exporter 'import';

our @EXPORT = qw(burst segment_range archiver_pid archiving proc_status write_wal backup_with_start_segment);

# A burst: $n segment switches in one go, as fast as one session can, each
# after the SQL $fill (it may use the loop's `i`) into the table `filler`;
# returns the first and the last finished segment.
sub burst {
  my ($node, $n, $fill) = @_;
  my $current = 'INSERT INTO filler DEFAULT VALUES; SELECT pg_walfile_name(pg_current_wal_lsn())';
  my $first = $node->safe_psql('postgres', $current);
  $node->safe_psql('postgres', qq{
    DO \$\$ BEGIN
      FOR i IN 1..$n LOOP
        $fill;
        PERFORM pg_switch_wal();
      END LOOP;
    END \$\$});
  my $next = $node->safe_psql('postgres', $current);
  $node->safe_psql('postgres', 'SELECT pg_switch_wal()');
  return ($first, $next);
}

# Segment names from $first to $last (same timeline, 16 MB segments: 256 a log id).
sub segment_range {
  my ($first, $last) = @_;
  my ($tli, $log, $seg) = map { hex } unpack('A8 A8 A8', $first);
  my @names;
  while (1) {
    my $name = sprintf('%08X%08X%08X', $tli, $log, $seg);
    push @names, $name;
    last if $name eq $last || @names > 100000;
    ($log, $seg) = $seg == 0xFF ? ($log + 1, 0) : ($log, $seg + 1);
  }
  return @names;
}

sub archiver_pid {
  my ($node) = @_;
  return $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'");
}

# Columns of vault.archiving, '|'-separated.
sub archiving {
  my ($node, $columns) = @_;
  return $node->safe_psql('postgres', "SELECT $columns FROM vault.archiving");
}

# A numeric field of /proc/<pid>/status (VmHWM, Threads, ...), undef if absent.
sub proc_status {
  my ($pid, $field) = @_;
  my $status = slurp_file("/proc/$pid/status");
  return $status =~ /^\Q$field\E:\s+(\d+)/m ? $1 : undef;
}

# Writes some WAL into the table `filler` and switches segments $n times;
# waits until everything written so far is archived.
sub write_wal {
  my ($node, $n) = @_;
  my $last;
  for (1 .. $n) {
    $last = $node->safe_psql('postgres', q{INSERT INTO filler SELECT generate_series(1, 1000);
                                           SELECT pg_walfile_name(pg_current_wal_lsn())});
    $node->safe_psql('postgres', 'SELECT pg_switch_wal()');
  }
  $node->poll_query_until('postgres', "SELECT '$last' <= last_archived_wal FROM pg_stat_archiver")
    or die "WAL up to $last was not archived";
}

# Takes a physical backup; returns its name, start_lsn, stop_lsn and the
# segment of its start.
sub backup_with_start_segment {
  my ($node) = @_;
  # create_backup returns the id; the LSNs are in vault.history (read in a
  # statement of its own, whose snapshot sees the row the job committed).
  my $row = $node->safe_psql('postgres', q{SELECT id FROM vault.create_backup() \gset
SELECT b.name || '|' || b.start_lsn || '|' || b.stop_lsn || '|' || pg_walfile_name(b.start_lsn)
  FROM vault.history b WHERE b.id = :id});
  return split /\|/, $row;
}

1;
