# pgvault info NAME|latest (text and --json) and the columns and total of
# pgvault list (issue 19 item 2), against backups whose figures vault.history
# knows; and one convention for sizes (item 7): the CLI's human sizes are
# pg_size_pretty's, compared with the server's for the same backups.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgVault::TestNode;
use PgVault::Cli;

my ($node, $repo) = new_vault_node('info', initdb => ['--data-checksums'],
  conf => "archive_mode = on\narchive_library = 'pgvault'\n");
my $q = sub { $node->safe_psql(@_ == 1 ? ('postgres', $_[0]) : @_) };
$q->('CREATE DATABASE shop');
$q->('shop', q{CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g});
my $sysid = $q->('SELECT system_identifier FROM pg_control_system()');
my ($full) = $q->(q{SELECT name FROM vault.create_backup(label => 'before upgrade')});
$q->('CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
my ($incr) = $q->(q{SELECT name FROM vault.create_backup(kind => 'incremental')});
my ($dump) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'shop')});
$q->('SELECT pg_switch_wal()');
$node->poll_query_until('postgres', q{SELECT last_archived_wal IS NOT NULL FROM pg_stat_archiver})
  or die 'no WAL archived';

my ($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $full);
ok($ok, "verify $full (its record is what info shows)") or diag($err);

my %h;
for my $name ($full, $incr, $dump) {
  my @f = split /\|/, $q->(qq{SELECT kind, trigger, source_bytes, stored_bytes, pg_size_pretty(source_bytes),
    pg_size_pretty(stored_bytes), start_lsn, stop_lsn, timeline, compression, coalesce(label, ''),
    coalesce(database, ''), sha256, parent, initiated_by FROM vault.history WHERE name = '$name'});
  @{ $h{$name} }{qw(kind trigger source stored source_pretty stored_pretty start_lsn stop_lsn timeline
    compression label database sha256 parent initiated_by)} = @f;
}

# ---- info, text -----------------------------------------------------------------
($ok, $out, $err) = pgvault('info', '--repo', $repo, $full);
ok($ok, "pgvault info $full succeeds") or diag($err);
my $b = $h{$full};
like($out, qr/^backup "\Q$full\E" \(physical, PostgreSQL 15\.\d+, system $sysid, completed /m, 'it names the backup');
like($out, qr/^kind +physical \(full\)$/m, 'kind');
like($out, qr/^label +before upgrade$/m, 'label');
like($out, qr/^trigger +manual, by \Q$b->{initiated_by}\E$/m, 'trigger and who');
like($out, qr/^completed +\S+Z \(took \d+\.\d s\)$/m, 'completion time and duration');
like($out, qr/^timeline +$b->{timeline}$/m, 'timeline');
like($out, qr/^LSN +\Q$b->{start_lsn}\E to \Q$b->{stop_lsn}\E$/m, 'start and stop LSN');
like($out, qr/^size +\Q$b->{source_pretty}\E of database files, \Q$b->{stored_pretty}\E stored \(ratio \d+\.\d\)$/m,
  'sizes as pg_size_pretty writes them, and the ratio');
like($out, qr/^compression +zstd level \d+ \(by the (?:server|client)\)$/m, 'compression');
like($out, qr/^encryption +none$/m, 'encryption');
like($out, qr/^checksum +\Q$b->{sha256}\E /m, 'the backup checksum vault.history has');
like($out, qr/^verified +passed \S+Z \(pgvault verify\)$/m, 'the last verification');
like($out, qr/^WAL +000000010000000000000\w{3}(?:\.\.\w{24})? \(in the backup/m, 'the WAL it holds');
like($out, qr/^archived WAL +continuous from \Q$b->{stop_lsn}\E to \d+\/[0-9A-F]+ \(timeline 1\)/m,
  'the archived WAL after it');
like($out, qr/^objects \(\d+\):\n  NAME +SIZE +SHA-256\n(?:  \S+ +\d+ \w+ +[0-9a-f]{64}\n)+/m,
  'its objects with sizes and checksums');
like($out, qr/^  base\.tar\.zst +\d+ (?:bytes|kB|MB) +[0-9a-f]{64}$/m, 'base.tar.zst among them');

($ok, $out, $err) = pgvault('info', '--repo', $repo, $incr);
ok($ok, "pgvault info $incr succeeds") or diag($err);
like($out, qr/^kind +incremental, parent "\Q$full\E"$/m, 'an incremental names its parent');
like($out, qr/^chain +2 backups, the full one first: \Q$full\E <- \Q$incr\E$/m, 'and its chain');
like($out, qr/^verified +never /m, 'never verified');

($ok, $out, $err) = pgvault('info', '--repo', $repo, 'latest');
ok($ok, 'pgvault info latest succeeds') or diag($err);
like($out, qr/^--backup latest: "\Q$dump\E", the newest complete backup/m, 'latest: the newest backup, a dump');
like($out, qr/^kind +logical$/m, 'a logical backup');
like($out, qr/^database +shop$/m, 'of database shop');
unlike($out, qr/^(?:timeline|LSN|WAL) /m, 'no timeline, LSN or WAL for a dump');
like($out, qr/^size +\Q$h{$dump}{source_pretty}\E dumped, \Q$h{$dump}{stored_pretty}\E stored/m, 'its sizes');

# ---- info --json ----------------------------------------------------------------
($ok, $out, $err) = pgvault('info', '--repo', $repo, $incr, '--json');
ok($ok, 'pgvault info --json succeeds') or diag($err);
my $j = decode_json($out);
is($j->{name}, $incr, 'json: name');
is($j->{kind}, 'incremental', 'json: kind');
is($j->{parent}, $full, 'json: parent');
is_deeply($j->{chain}, [ $incr, $full ], 'json: the chain, newest first');
is($j->{system_identifier}, $sysid, 'json: system');
is($j->{source_bytes}, $h{$incr}{source}, 'json: source bytes = vault.history');
is($j->{stored_bytes}, $h{$incr}{stored}, 'json: stored bytes = vault.history');
is($j->{start_lsn}, $h{$incr}{start_lsn}, 'json: start LSN');
is($j->{stop_lsn}, $h{$incr}{stop_lsn}, 'json: stop LSN');
is($j->{timeline}, 1, 'json: timeline');
is($j->{digest}, $h{$incr}{sha256}, 'json: the checksum');
is($j->{compression}{algorithm}, 'zstd', 'json: compression');
is($j->{encryption}{algorithm}, 'none', 'json: encryption');
ok(!defined $j->{verification}, 'json: never verified is null');
ok($j->{duration_seconds} >= 0, 'json: duration');
ok(defined $j->{wal}{included}{first} && $j->{wal}{archive}{any}, 'json: its WAL and the archive after it');
my $sum = 0;
$sum += $_->{size} for @{ $j->{objects} };
is($sum, $h{$incr}{stored}, 'json: the objects add up to the stored bytes');
is(scalar(grep { $_->{sha256} =~ /^[0-9a-f]{64}$/ } @{ $j->{objects} }), scalar(@{ $j->{objects} }),
  'json: every object has its SHA-256');
like($err, qr/^$/, 'json: nothing on standard error for a named backup');

($ok, $out, $err) = pgvault('info', '--repo', $repo, 'no-such-backup');
ok(!$ok, 'info of a backup that does not exist fails');
like($err, qr/^pgvault: error: .*no-such-backup/m, 'naming it');

# ---- list -----------------------------------------------------------------------
($ok, $out, $err) = pgvault('list', '--repo', $repo);
ok($ok, 'pgvault list succeeds') or diag($err);
like($out, qr/^NAME +KIND +DATABASE +PARENT +CHAIN +STARTED +COMPLETED +SOURCE +STORED +COMPRESSION +ENCRYPTION +STOP LSN +VERIFIED +TRIGGER +LABEL +SYSTEM ID$/m,
  'the columns a DBA scans for');
like($out, qr/^\Q$full\E +physical +- +- +- +\S+ +\S+ +\Q$h{$full}{source_pretty}\E +\Q$h{$full}{stored_pretty}\E +zstd +none +\S+ +passed \S+ +manual +before upgrade +$sysid$/m,
  'the full backup: sizes as pg_size_pretty, encryption, verified, trigger, label');
like($out, qr/^\Q$dump\E +logical +shop +- +- /m, 'the dump: its database');
like($out, qr/^\Q$incr\E +incremental +- +\Q$full\E +2 backups /m, 'the incremental: its parent and chain');
my ($total_stored, $total_source) = split /\|/,
  $q->(q{SELECT pg_size_pretty(sum(stored_bytes)), pg_size_pretty(sum(source_bytes)) FROM vault.history WHERE status = 'completed'});
like($out, qr/^total: 3 backups, \Q$total_stored\E stored \(\Q$total_source\E of database files and dumps\)$/m,
  'the total line, as pg_size_pretty sums it');

# ---- item 7: the CLI's sizes are pg_size_pretty's, at its edges too ---------------
# pgvault info prints each object's size with human_size; the server prints
# the same numbers with pg_size_pretty.
($ok, $out) = pgvault('info', '--repo', $repo, $full, '--json');
my $objects = decode_json($out)->{objects};
($ok, my $text) = pgvault('info', '--repo', $repo, $full);
for my $o (@$objects) {
  my $pretty = $q->("SELECT pg_size_pretty($o->{size}::bigint)");
  like($text, qr/^  \Q$o->{name}\E +\Q$pretty\E +$o->{sha256}$/m, "$o->{name}: $o->{size} bytes shown as pg_size_pretty's $pretty");
}

done_testing();
