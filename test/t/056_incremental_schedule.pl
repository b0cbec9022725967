# Scheduling incremental backups (issue 16): "full on Sunday, incremental
# every night" as two settings. pgvault.incremental_schedule fires
# incrementals; a fire time that pgvault.schedule fires at too is the full
# backup's alone. An incremental with nothing to be taken against becomes a
# full backup (pgvault.incremental_fallback = full, the default) and says so,
# or fails and says why (error). vault.status shows the schedules; a restored
# copy takes no scheduled incrementals either (--schedule off).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('incrsched');
sub sql { $node->safe_psql('postgres', shift) }

sub reload_with {
  my ($conf) = @_;
  $node->append_conf('postgresql.conf', $conf);
  $node->reload;
}

# 1. No backup yet: the incremental is taken as a full backup, and says so.
my ($rc, $out, $err) = $node->psql('postgres',
  q{SELECT id FROM vault.create_backup(kind => 'incremental') \gset
SELECT kind || ' ' || name || ' ' || status || ' ' || (parent IS NULL)
      FROM vault.history WHERE id = :id});
is($rc, 0, 'an incremental with no parent succeeds by default') or diag($err);
like($out, qr/^physical \S+-physical completed true$/,
  'as a full physical backup, named and recorded as one');
like($err, qr/NOTICE:  pgvault: taking a full backup instead of an incremental \(pgvault\.incremental_fallback = full\): no physical backup to be a parent for an incremental backup of system \d+ on timeline 1/,
  'the caller is told why') or diag($err);
my $full = sql(q{SELECT name FROM vault.backups ORDER BY id DESC LIMIT 1});
is(sql(q{SELECT id FROM vault.create_backup(kind => 'incremental') \gset
SELECT kind || ' ' || parent FROM vault.history WHERE id = :id}),
  "incremental $full", 'the next incremental is taken against it');

# 2. incremental_fallback = error: the incremental fails, names what is
# missing, and the audit trail has the failed row.
my $empty = PostgreSQL::Test::Utils::tempdir() . '/empty-repo';
reload_with("pgvault.repository = 'file://$empty'\npgvault.incremental_fallback = error\n");
($rc, $out, $err) = $node->psql('postgres',
  q{SELECT * FROM vault.create_backup(kind => 'incremental')});
isnt($rc, 0, 'with incremental_fallback = error it fails');
like($err, qr/no physical backup to be a parent for an incremental backup .*take a full backup first/,
  'saying why and what to do') or diag($err);
is(sql(q{SELECT kind || ' ' || status FROM vault.backups ORDER BY id DESC LIMIT 1}),
  'incremental failed', 'recorded as a failed incremental');
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgvault.incremental_fallback = 'sometimes'});
like($err, qr/invalid value for parameter "pgvault.incremental_fallback": "sometimes".*Available values: full, error/s,
  'an unknown fallback is refused with the allowed values');
reload_with("pgvault.repository = '$repo'\npgvault.incremental_fallback = full\n");

# 3. The schedules: full every 12 s, incremental every 4 s ("N seconds" is
# aligned to multiples of N, so every third incremental time is a full's).
my $log_offset = -s $node->logfile;
my $first_id = sql(q{SELECT max(id) FROM vault.backups});
reload_with("pgvault.schedule = '12 seconds'\npgvault.incremental_schedule = '4 seconds'\n");
ok($node->poll_query_until('postgres',
    q{SELECT schedule = '12 seconds' AND incremental_schedule = '4 seconds'
             AND logical_schedule IS NULL AND verify_schedule IS NULL FROM vault.status}),
  'vault.status shows the full and the incremental schedule');
my $enough = qq{SELECT count(*) FILTER (WHERE kind = 'incremental' AND status = 'completed') >= 2
                   AND count(*) FILTER (WHERE kind = 'physical' AND status = 'completed') >= 2
                  FROM vault.backups WHERE id > $first_id AND trigger = 'scheduled'};
ok($node->poll_query_until('postgres', $enough),
  'scheduled fulls and incrementals run') or diag(sql('SELECT * FROM vault.history'));
ok(PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset) =~
    /the scheduled incremental backup of .* is taken as the full backup pgvault.schedule fired at the same time/,
  'a time both schedules fire at is logged as the full backup\'s');
reload_with("pgvault.schedule = ''\npgvault.incremental_schedule = ''\n");
ok($node->poll_query_until('postgres',
    q{SELECT schedule IS NULL AND incremental_schedule IS NULL AND running_backup IS NULL FROM vault.status}),
  'schedules off, nothing running');

is(sql(qq{SELECT count(*) FROM vault.backups i JOIN vault.backups f USING (scheduled_for)
          WHERE i.id > $first_id AND f.id > $first_id AND i.kind = 'incremental'
            AND f.kind = 'physical'}),
  '0', 'no incremental ran (or was skipped) for a time the full backup ran for');
is(sql(qq{SELECT count(*) FROM vault.backups WHERE id > $first_id AND kind = 'incremental'
            AND status = 'completed' AND (parent IS NULL OR trigger <> 'scheduled')}),
  '0', 'every scheduled incremental names its parent');
# Each completed incremental's parent is the backup that completed before it.
is(sql(qq{SELECT count(*) FROM (
            SELECT kind, parent, lag(name) OVER (ORDER BY completed_at) AS previous
              FROM vault.backups WHERE status = 'completed' AND kind <> 'logical') b
          WHERE kind = 'incremental' AND parent IS DISTINCT FROM previous}),
  '0', 'each incremental is taken against the newest backup before it');

# 4. Incrementals with no full schedule: a warning, since retention could
# never remove the full they all chain back to.
$log_offset = -s $node->logfile;
reload_with("pgvault.incremental_schedule = '\@daily'\n");
ok($node->poll_query_until('postgres', q{SELECT incremental_schedule = '@daily' FROM vault.status}),
  'incremental schedule alone');
ok(PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset) =~
    /WARNING:  pgvault: pgvault.incremental_schedule is set but pgvault.schedule is empty: every incremental chains back to one full backup/,
  'warns that the full it chains back to would stay forever');

# 5. A restored copy takes no scheduled incrementals: --schedule off clears
# pgvault.incremental_schedule with the other schedules.
sql(q{ALTER SYSTEM SET pgvault.incremental_schedule = '30 1 * * 1-6'});
$node->reload;
my $last = sql(q{SELECT name FROM vault.create_backup()});
my $copy = PostgreSQL::Test::Utils::tempdir() . '/copy';
my ($rout, $rerr) = ('', '');
ok(IPC::Run::run([ 'pgvault', 'restore', '--repo', $repo, '--backup', $last, '--pgdata', $copy ],
    '>', \$rout, '2>', \$rerr), 'restore a backup taken with an incremental schedule')
  or diag("$rout\n$rerr");
like($rout, qr/pgvault\.schedule, pgvault\.incremental_schedule, pgvault\.logical_schedule = '' \(--schedule off\)/,
  'the restore says the incremental schedule is off');
my $auto = PostgreSQL::Test::Utils::slurp_file("$copy/postgresql.auto.conf");
like($auto, qr/\npgvault\.incremental_schedule = ''\n/, 'the copy\'s incremental schedule is off');
unlike($auto, qr/30 1 \* \* 1-6/, 'the original line is gone');

$node->stop;
done_testing();
