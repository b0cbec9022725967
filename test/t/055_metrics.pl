# Metrics (issue 17): `pgvault metrics` from the repository alone and
# vault.metrics from SQL, against a real server with WAL archiving. A full
# and a logical backup, a logical one that fails (pg_dump finds no table),
# verifications from SQL and from the CLI (each recorded in the repository
# as <sysid>/verifications/<name>.json). The CLI's output is parsed with the
# Prometheus client's text-format parser and its figures checked against
# vault.history and the records; vault.metrics against both. A record the
# store refuses costs a warning; a malformed one is named, never trusted; a
# failed verification shows as status 0 in both.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

# The Prometheus text-format parser (Debian: python3-prometheus-client, in
# scripts/setup.sh); Debian's python3 first, whatever else is on PATH.
my ($python) = grep { system($_, '-c', 'import prometheus_client.parser') == 0 }
  grep { $_ eq 'python3' || -x $_ } ('/usr/bin/python3', 'python3');
BAIL_OUT('no python3 with prometheus_client: install python3-prometheus-client (scripts/setup.sh)')
  unless $python;

my ($node, $repo) = new_vault_node('metrics',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\n");
sub sql { $node->safe_psql('postgres', shift) }
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = sql('SELECT system_identifier FROM pg_control_system()');

sql(q{CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g});
my $full = sql(q{SELECT name FROM vault.create_backup()});
my $logical = sql(q{SELECT name FROM vault.create_backup(kind => 'logical')});
my ($rc, undef, $stderr) = $node->psql('postgres',
  q{SELECT * FROM vault.create_backup(kind => 'logical', include_tables => ARRAY['no_such_table'])});
isnt($rc, 0, 'a logical backup of a table that does not exist fails');
is(sql(q{SELECT count(*) FROM vault.history WHERE kind = 'logical' AND status = 'failed'}), '1',
  'its row is failed');
sql(q{SELECT pg_switch_wal()});
ok($node->poll_query_until('postgres', 'SELECT archived_count > 0 FROM pg_stat_archiver'),
  'WAL is archived');

# Verification from SQL: recorded on the row and in the repository.
is(sql(qq{SELECT verified FROM vault.verify_backup('$full')}), 't', 'vault.verify_backup passes');
is(sql(qq{SELECT verified FROM vault.verify_backup('$logical')}), 't', 'and of the logical backup');
my $record_path = sub { "$repo_dir/$sysid/verifications/$_[0].json" };
my $record = sub { decode_json(slurp_file($record_path->($_[0]))) };
my $r = $record->($full);
is("$r->{format_version} $r->{backup} $r->{system_identifier} $r->{kind} $r->{status} $r->{verified_by}",
  "1 $full $sysid physical passed vault.verify_backup", 'vault.verify_backup wrote its record');
ok(!defined $r->{error} && $r->{objects} > 0 && $r->{bytes_read} > 0, 'with what it read');

# From the CLI: recorded too (it has no row to write).
my ($out, $err) = run_command([ 'pgvault', 'verify', '--repo', $repo, '--backup', $full ]);
like($out, qr/backup \Q$full\E verified/, 'pgvault verify passes') or diag($err);
$r = $record->($full);
is("$r->{status} $r->{verified_by} $r->{restore_test}", 'passed pgvault verify 0',
  'pgvault verify replaced the record with its own outcome');
my $cli_verified_at = $r->{verified_at};

# pgvault list shows the outcome.
($out) = run_command([ 'pgvault', 'list', '--repo', $repo, '--json' ]);
my %listed = map { $_->{name} => $_ } @{ decode_json($out) };
is($listed{$full}{verification}{verified_at}, $cli_verified_at, 'pgvault list --json has the record');
($out) = run_command([ 'pgvault', 'list', '--repo', $repo ]);
like($out, qr/^\Q$full\E .* passed \Q$cli_verified_at\E /m, 'and so does the table');

# Every sample of a Prometheus text file: "type name {labels} value" per line.
sub parse_metrics {
  my ($file) = @_;
  my ($parsed, $errors) = run_command([ $python, '-c', q{
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        print(json.dumps([family.type, s.name, s.labels, s.value]))
}, $file ]);
  is($errors, '', "the Prometheus parser reads $file") or diag($errors);
  my %m;
  for my $line (split /\n/, $parsed) {
    my ($type, $name, $labels, $value) = @{ decode_json($line) };
    my $key = $name . '{' . join(',', map { "$_=$labels->{$_}" } sort keys %$labels) . '}';
    ok(!exists $m{$key}, "$key once");
    $m{$key} = { type => $type, value => $value };
  }
  return \%m;
}
sub key { my ($name, $kind) = @_; "$name\{" . (defined $kind ? "kind=$kind," : '') . "system_identifier=$sysid}" }

my $dir = PostgreSQL::Test::Utils::tempdir();
my $before = time;
($out, $err) = run_command([ 'pgvault', 'metrics', '--repo', $repo, '-o', "$dir/pgvault.prom" ]);
my $after = time;
is($out, '', 'pgvault metrics -o writes nothing to standard output');
ok(-f "$dir/pgvault.prom" && !-e "$dir/pgvault.prom.partial", 'the file is in place, no partial file left');
is(sprintf('%o', (stat "$dir/pgvault.prom")[2] & 0777), sprintf('%o', 0644 & ~umask),
  'readable by the textfile collector (0644 less the umask)');
my $text = slurp_file("$dir/pgvault.prom");
($out) = run_command([ 'pgvault', 'metrics', '--repo', $repo ]);
my $strip_ages = sub { join "\n", grep { !/^pgvault_\w+_since_\w+/ } split /\n/, shift };
is($strip_ages->($out), $strip_ages->($text), 'standard output has the same metrics');
like($text, qr/^# HELP pgvault_backup_last_duration_seconds .+\n# TYPE pgvault_backup_last_duration_seconds gauge\n/m,
  'HELP and TYPE lines');
my $m = parse_metrics("$dir/pgvault.prom");
ok(!grep({ $_->{type} !~ /^(gauge|counter)$/ } values %$m), 'every family has its TYPE');

# The figures against vault.history.
for my $kind ('physical', 'logical') {
  my ($name, $completed, $started, $source, $stored, $count, $sum) = split /\|/, sql(qq{
    SELECT name, extract(epoch FROM completed_at), extract(epoch FROM started_at), source_bytes,
           stored_bytes,
           (SELECT count(*) FROM vault.history WHERE kind = '$kind' AND status = 'completed'),
           (SELECT sum(stored_bytes) FROM vault.history WHERE kind = '$kind' AND status = 'completed')
      FROM vault.history WHERE kind = '$kind' AND status = 'completed'
     ORDER BY completed_at DESC LIMIT 1});
  my $v = sub { $m->{ key(shift, $kind) }{value} };
  is($v->('pgvault_backup_last_stored_size_bytes'), $stored, "$kind: last stored size = vault.history's");
  is($v->('pgvault_backup_last_source_size_bytes'), $source, "$kind: last source size = vault.history's");
  is($v->('pgvault_repository_backups'), $count, "$kind: backups in the repository");
  is($v->('pgvault_repository_backup_stored_bytes'), $sum, "$kind: bytes in the repository");
  # backup.json's times are the worker's, the row's the transaction's: close, not equal.
  cmp_ok(abs($v->('pgvault_backup_last_completion_timestamp_seconds') - $completed), '<', 5,
    "$kind: completion time matches the row's");
  my $since = $v->('pgvault_backup_since_last_completion_seconds');
  cmp_ok($since, '>=', $before - $completed - 5, "$kind: seconds since completion, low bound");
  cmp_ok($since, '<=', $after + 1 - $completed + 5, "$kind: seconds since completion, high bound");
  cmp_ok(abs($v->('pgvault_backup_last_duration_seconds') - ($completed - $started)), '<', 5,
    "$kind: duration matches the row's");
  is($v->('pgvault_verification_last_status'), 1, "$kind: its verification passed");
  is($v->('pgvault_verification_failed_backups'), 0, "$kind: no failed verification");
}
is($m->{ key('pgvault_repository_backups', 'incremental') }{value}, 0, 'no incremental backup: 0');
ok(!exists $m->{ key('pgvault_backup_last_stored_size_bytes', 'incremental') },
  'and no "last" figures for it');
is($m->{ key('pgvault_repository_incomplete_backups') }{value}, 0,
  'the failed backup left nothing behind');
is($m->{ key('pgvault_repository_damaged_backups') }{value}, 0, 'nothing damaged');
my $verified_epoch = sql(qq{SELECT extract(epoch FROM '$cli_verified_at'::timestamptz)});
cmp_ok(abs($m->{ key('pgvault_verification_last_timestamp_seconds', 'physical') }{value} - $verified_epoch),
  '<', 0.001, 'the physical verification time is the record\'s');
cmp_ok($m->{ key('pgvault_wal_archived_segments') }{value}, '>=', 1, 'archived WAL segments');
cmp_ok($m->{ key('pgvault_wal_archived_stored_bytes') }{value}, '>', 0, 'archived WAL bytes');
is($m->{ key('pgvault_wal_missing_segments') }{value}, 0, 'no gap');

# vault.metrics: the same names and figures, plus what only the server knows.
my %sqlm;
for my $row (split /\n/, sql(q{SELECT metric || '|' || type || '|' || system_identifier || '|' ||
                                      coalesce(kind, '') || '|' || value FROM vault.metrics})) {
  my ($metric, $type, $sys, $kind, $value) = split /\|/, $row;
  my $key = key($metric, $kind eq '' ? undef : $kind);
  ok(!exists $sqlm{$key}, "vault.metrics: $key once");
  $sqlm{$key} = { type => $type, value => $value };
}
for my $key (sort keys %sqlm) {
  next unless exists $m->{$key};
  is($sqlm{$key}{type}, $m->{$key}{type}, "vault.metrics $key has the CLI's type");
  if ($key =~ /_bytes\{|_backups\{|_status\{/) {
    is($sqlm{$key}{value}, $m->{$key}{value}, "vault.metrics $key = pgvault metrics'");
  }
}
for my $kind ('physical', 'logical') {
  ok(exists $sqlm{ key($_, $kind) }, "vault.metrics has $_ of $kind")
    for qw(pgvault_backup_last_completion_timestamp_seconds pgvault_backup_since_last_completion_seconds
           pgvault_backup_last_duration_seconds pgvault_backup_last_stored_size_bytes
           pgvault_verification_last_timestamp_seconds pgvault_verification_since_last_seconds);
}
is($sqlm{ key('pgvault_backup_last_status', 'physical') }{value}, 1, 'the last physical backup completed');
is($sqlm{ key('pgvault_backup_last_status', 'logical') }{value}, 0, 'the last logical backup failed');
is($sqlm{ key('pgvault_backup_failures_total', 'logical') }{value}, 1, 'one failure');
is($sqlm{ key('pgvault_wal_archived_total') }{value}, sql('SELECT archived_count FROM pg_stat_archiver'),
  'archived WAL count = pg_stat_archiver\'s');
is($sqlm{ key('pgvault_wal_archive_failing') }{value}, 0, 'archiving is not failing');
ok(exists $sqlm{ key('pgvault_wal_since_last_archived_seconds') }, 'seconds since WAL was archived');

# A damaged backup fails its verification: status 0 in the repository and on the row.
my ($dump) = grep { !/backup\.json/ } glob("$repo_dir/$sysid/backups/$logical/*");
open(my $fh, '>>', $dump) or die $!;
print $fh 'x';
close $fh;
is(sql(qq{SELECT verified FROM vault.verify_backup('$logical')}), 'f', 'a damaged dump fails verification');
is($record->($logical)->{status}, 'failed', 'recorded as failed');
like($record->($logical)->{error}, qr/size mismatch|SHA-256 mismatch/, 'with why');
($out) = run_command([ 'pgvault', 'metrics', '--repo', $repo, '--system-id', $sysid ]);
open(my $mf, '>', "$dir/m2.prom") or die $!;
print $mf $out;
close $mf;
$m = parse_metrics("$dir/m2.prom");
is($m->{ key('pgvault_verification_last_status', 'logical') }{value}, 0, 'pgvault metrics: failed');
is($m->{ key('pgvault_verification_failed_backups', 'logical') }{value}, 1, 'one backup failed verification');
is(sql(q{SELECT value FROM vault.metrics WHERE metric = 'pgvault_verification_last_status' AND kind = 'logical'}),
  '0', 'vault.metrics: failed');
($out) = run_command([ 'pgvault', 'list', '--repo', $repo ]);
like($out, qr/1 backup failed its last verification:\n  \Q$logical\E: .*mismatch/, 'pgvault list names it');

# A malformed record is named, not trusted; the metrics still come.
open($fh, '>', $record_path->($logical)) or die $!;
print $fh '{"format_version": 1, "backup": "' . $logical . '"}';
close $fh;
($out, $err) = run_command([ 'pgvault', 'metrics', '--repo', $repo, '-o', "$dir/m3.prom" ]);
$m = parse_metrics("$dir/m3.prom");
is($m->{ key('pgvault_verification_unreadable_records') }{value}, 1, 'an unreadable record is counted');
ok(!exists $m->{ key('pgvault_verification_last_status', 'logical') }, 'and not used');
($out) = run_command([ 'pgvault', 'list', '--repo', $repo ]);
like($out, qr/1 verification record cannot be read:\n  \Q$sysid\E\/verifications\/\Q$logical\E\.json: verification record: "system_identifier" is missing/,
  'pgvault list names the record and what is wrong');

# Read-only credentials: the store refuses the record; verify warns and passes.
SKIP: {
  skip 'root ignores file modes', 3 if $> == 0;
  chmod 0500, "$repo_dir/$sysid/verifications" or die $!;
  my ($vout, $verr) = run_command([ 'pgvault', 'verify', '--repo', $repo, '--backup', $full ]);
  chmod 0700, "$repo_dir/$sysid/verifications";
  like($vout, qr/backup \Q$full\E verified/, 'verification passes on a read-only store');
  like($verr, qr/warning: the outcome of verifying backup "\Q$full\E" was not recorded in the repository/,
    'with a warning that it was not recorded');
  is($record->($full)->{verified_at}, $cli_verified_at, 'the old record stays');
}

done_testing();
