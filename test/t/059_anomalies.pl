# Anomalies and the size ceiling (issue 17, item 5). A logical dump that is
# suddenly a tenth of the three before it completes and raises "anomaly"
# (webhook, WARNING); pgvault.max_backup_size stops a logical and a physical
# backup that pass it: the row is failed with a clear error (never left
# running), nothing of the backup stays in the repository, backup_failed
# alerts, and the next backup under the limit completes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::AlertReceiver;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $receiver = PgVault::AlertReceiver->start($tmp);
my ($node, $repo) = new_vault_node('anomaly-db',
  conf => "pgvault.alert_webhook_url = '" . $receiver->url('/hook') . "'\n");
sub sql { return $node->safe_psql('postgres', shift) }
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = sql('SELECT system_identifier FROM pg_control_system()');

# About 10 MB of dump, 5 MB stored.
sql(q{CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS v FROM generate_series(1, 150000) g});
my @usual = map { sql(q{SELECT name FROM vault.create_backup(kind => 'logical')}) } 1 .. 3;
sql(q{DELETE FROM big WHERE id > 15000});
my $small = sql(q{SELECT name FROM vault.create_backup(kind => 'logical')});
is(sql(qq{SELECT status FROM vault.history WHERE name = '$small'}), 'completed', 'the small dump completes');
ok($receiver->wait_for_events('anomaly', 1), 'and raises anomaly');
my ($anomaly) = $receiver->bodies('anomaly');
is($anomaly->{name}, $small, 'naming the backup');
is($anomaly->{kind}, 'logical', 'its kind');
like($anomaly->{text},
  qr/^anomaly-db: logical backup "\Q$small\E" is unusual: it stores \S+ \S+ against the usual \d+ (?:kB|MB), \d+% of it; its dump is \S+ \S+ against the usual \d+ (?:kB|MB), \d+% of it \(usual: the median of the last 3 comparable backups\)$/,
  'saying what was unusual and by how much');
like(slurp_file($node->logfile), qr/WARNING:  pgvault: logical backup "\Q$small\E" is unusual/, 'logged as a WARNING');
is(scalar($receiver->bodies('anomaly')), 1, 'the first three, with too little history, raised none');

# The ceiling.
sql(q{INSERT INTO big SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(15001, 150000) g});
sql(q{ALTER SYSTEM SET pgvault.max_backup_size = '1MB'; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT current_setting('pgvault.max_backup_size') = '1MB'}), 'a ceiling of 1MB');
for my $kind ('logical', 'physical') {
  my ($ret, $out, $err) = $node->psql('postgres', qq{SELECT * FROM vault.create_backup(kind => '$kind')});
  isnt($ret, 0, "a $kind backup over the ceiling fails");
  like($err, qr/$kind backup "[^"]+" stopped: it stores more than pgvault\.max_backup_size \((?:1024 kB|1048576 bytes)\): .* written so far; nothing of it is kept and no earlier backup was removed/,
    'saying why');
  my ($name, $status, $error) = split /\|/,
    sql(qq{SELECT name, status, error_message FROM vault.history WHERE kind = '$kind' ORDER BY id DESC LIMIT 1});
  is($status, 'failed', 'its row is failed');
  like($error, qr/stopped: it stores more than pgvault\.max_backup_size/, 'with the reason');
  ok(!-e "$repo_dir/$sysid/backups/$name", 'nothing of it is in the repository');
  ok($receiver->wait_for_events('backup_failed', 1, kind => $kind), 'backup_failed alerted');
}
is(sql(q{SELECT count(*) FROM vault.backups WHERE status = 'running'}), '0', 'no row is left running');
is(sql(q{SELECT count(*) FROM vault.history WHERE status = 'completed' AND kind = 'logical'}), '4',
  'the earlier backups stay');
sql(q{ALTER SYSTEM RESET pgvault.max_backup_size; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT current_setting('pgvault.max_backup_size') = '0'}), 'no ceiling');
is(sql(q{SELECT status FROM vault.create_backup(kind => 'logical')}), 'completed', 'the next backup completes');

$receiver->stop;
done_testing();
