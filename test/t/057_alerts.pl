# Alerts that reach a person (issue 17, items 1, 2, 3 and 7): a webhook
# receiver and an SMTP server on 127.0.0.1 record what pgvault's alerts
# worker sends. A failed backup alerts once however often it fails again, the
# next success says "recovered"; a receiver that is down does not hold up the
# backup, delivery is retried and the failure shows in vault.status; the
# webhook URL's token is in no log line and no non-superuser's view.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Encode qw(decode encode);
use PgVault::TestNode;
use PgVault::AlertReceiver;

# Debian's python3, which has python3-aiosmtpd (scripts/setup.sh).
my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $tmp = PostgreSQL::Test::Utils::tempdir();

# The webhook receiver (PgVault::AlertReceiver) records every POST.
my $receiver = PgVault::AlertReceiver->start($tmp);
my $port = $receiver->port;
sub received { return $receiver->received }
sub received_events { return $receiver->events }
sub wait_for_events { return $receiver->wait_for_events(@_) }
my $token = 'SECRETTOKEN123';
my $webhook = "http://127.0.0.1:$port/hook/$token?token=QUERYSECRET456";

my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $maildir = "$tmp/maildir";
my $smtp_h = IPC::Run::start(
  [ $python, '-m', 'aiosmtpd', '-n', '-l', "127.0.0.1:$smtp_port", '-c', 'aiosmtpd.handlers.Mailbox', $maildir ],
  '>', "$tmp/smtp.out", '2>', "$tmp/smtp.err");

# The node's name is its cluster_name, which names it in alerts.
my ($node, $repo) = new_vault_node('alerts-db', conf => qq{
pgvault.alert_webhook_url = '$webhook'
});

sub sql { return $node->safe_psql('postgres', shift) }

ok($node->poll_query_until('postgres', q{SELECT alert_channels = 'webhook' FROM vault.status}),
  'the alerts worker runs with the webhook channel');
is(sql(q{SHOW pgvault.alert_webhook_url}), '********', 'SHOW masks the webhook URL');

# A URL that would send the token in clear text to another host is refused.
my ($ret, $out, $err) = $node->psql('postgres',
  q{ALTER SYSTEM SET pgvault.alert_webhook_url = 'http://hooks.example.com/services/T0/SECRETPATH'});
isnt($ret, 0, 'plain http to another host is refused');
like($err, qr{must use https://.*accepted only to 127\.0\.0\.1, ::1 or localhost}, 'saying what is allowed');
unlike($err, qr/SECRETPATH/, 'without the URL\'s path');
($ret, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgvault.alert_on = 'backup_failed, stal'});
like($err, qr/unknown alert event "stal"; allowed: backup_failed, archive_failed, verify_failed, misconfigured, stale, anomaly, recovered, all, none/,
  'alert_on lists the events it accepts');

# vault.test_alert() reports each channel.
is(sql(q{SELECT string_agg(channel || ':' || configured || ':' || delivered, ' ' ORDER BY channel) FROM vault.test_alert()}),
  'email:false:false webhook:true:true', 'test_alert: the webhook delivered, email not configured');
ok(wait_for_events('test', 1), 'the receiver got the test alert');
my ($test) = grep { $_->{body}{event} eq 'test' } received();
is($test->{content_type}, 'application/json', 'a JSON POST');
like($test->{body}{text}, qr/^alerts-db: test alert from pgvault/, 'with a sentence in text (Slack-style)');

# A failed backup: exactly one alert, with the backup's facts.
my $readonly = "$tmp/readonly";
mkdir $readonly or die $!;
chmod 0500, $readonly;
sql("ALTER SYSTEM SET pgvault.repository = 'file://$readonly/repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = 'file://$readonly/repo'") or die;
($ret) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'the backup into an unwritable repository fails');
ok(wait_for_events('backup_failed', 1), 'the failure was posted');
my ($failed) = grep { $_->{body}{event} eq 'backup_failed' } received();
my $fb = $failed->{body};
my ($name, $sysid) = split /\|/, sql(q{SELECT name || '|' || system_identifier FROM vault.backups ORDER BY id DESC LIMIT 1});
is($fb->{name}, $name, 'naming the backup');
is($fb->{kind}, 'physical', 'its kind');
is($fb->{status}, 'failed', 'its status');
like($fb->{error}, qr/Permission denied/, 'its error');
ok($fb->{started_at} && $fb->{completed_at}, 'its times');
is($fb->{cluster_name}, 'alerts-db', 'the cluster name');
is($fb->{system_identifier}, sql('SELECT system_identifier FROM pg_control_system()'), 'the system identifier');
ok(length $fb->{host}, 'the host');
like($fb->{text}, qr/^alerts-db: physical backup "\Q$name\E" failed: .*Permission denied/, 'and a sentence');
is($failed->{path}, "/hook/$token?token=QUERYSECRET456", 'to the configured URL');

# Two more failures, then a success: no more failure alerts, one "recovered".
($ret) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()') for 1 .. 2;
chmod 0700, $readonly;
sql("ALTER SYSTEM SET pgvault.repository = '$repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = '$repo'") or die;
is(sql('SELECT status FROM vault.create_backup()'), 'completed', 'a backup completes again');
ok(wait_for_events('recovered', 1), 'recovered was posted');
is(scalar(grep { $_ eq 'backup_failed' } received_events()), 1,
  'three failures in a row alerted once');
my ($recovered) = grep { $_->{body}{event} eq 'recovered' } received();
like($recovered->{body}{text}, qr/^alerts-db: physical backups recovered: backup ".*" completed/,
  'recovered names the backup that completed');

# The receiver down: backups are unaffected, delivery is retried, and
# vault.status shows the failure.
$receiver->stop;
chmod 0500, $readonly;
sql("ALTER SYSTEM SET pgvault.repository = 'file://$readonly/repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = 'file://$readonly/repo'") or die;
($ret) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'another failure while the receiver is down');
ok($node->poll_query_until('postgres', q{SELECT alert_failing FROM vault.status}),
  'vault.status: alert delivery failing');
my $status_error = sql('SELECT alert_last_error FROM vault.status');
like($status_error, qr{^webhook: http://127\.0\.0\.1:\Q$port\E/…: }, 'alert_last_error names the channel and host');
unlike($status_error, qr/SECRETTOKEN|QUERYSECRET/, 'but not the token');
chmod 0700, $readonly;
sql("ALTER SYSTEM SET pgvault.repository = '$repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = '$repo'") or die;
is(sql('SELECT status FROM vault.create_backup()'), 'completed', 'a backup completes while alerts cannot be delivered');
$receiver->start_again;
ok(wait_for_events('backup_failed', 2), 'the failure alert is delivered once the receiver is back');
ok(wait_for_events('recovered', 2), 'and so is the recovery');
ok($node->poll_query_until('postgres', q{SELECT NOT alert_failing AND alert_last_delivered_at IS NOT NULL FROM vault.status}),
  'vault.status: delivering again');

# vault.verify_wal checks the archived WAL after a backup: with no WAL
# archive it fails, and that alerts verify_failed, as a WAL verification.
is(sql(q{SELECT verified FROM vault.verify_wal()}), 'f', 'verify_wal: no archived WAL after the backup');
ok(wait_for_events('verify_failed', 1), 'a failed verify_wal alerts verify_failed');
my ($wal_check) = grep { $_->{body}{event} eq 'verify_failed' } received();
like($wal_check->{body}{text}, qr/^alerts-db: verification of the archived WAL after backup "[^"]+" failed: .*no WAL of that timeline is archived/,
  'saying it was the archived WAL that failed');
my $log = slurp_file($node->logfile);
like($log, qr/WARNING:  pgvault: alert channel webhook cannot deliver \(retrying with backoff\)/,
  'the delivery failure is logged');
is(scalar(() = $log =~ /alert channel webhook cannot deliver/g), 1, 'once, not per retry');

# Email through the local SMTP server.
sql(qq{ALTER SYSTEM SET pgvault.smtp_url = 'smtp://127.0.0.1:$smtp_port';
       ALTER SYSTEM SET pgvault.alert_email_to = 'dba\@example.com';
       ALTER SYSTEM SET pgvault.alert_email_from = 'pgvault\@example.com';
       SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT alert_channels = 'webhook, email' FROM vault.status}),
  'the alerts worker has the email channel');
is(sql(q{SELECT string_agg(channel || ':' || delivered || ':' || coalesce(error, ''), ' ' ORDER BY channel) FROM vault.test_alert()}),
  'email:true: webhook:true:', 'test_alert: both channels delivered');

sub mails {
  my @mails;
  for my $file (glob("$maildir/new/*")) {
    my $text = slurp_file($file);
    my ($head, $body) = split /\r?\n\r?\n/, $text, 2;
    $head =~ s/\r?\n[ \t]+/ /g;
    my ($subject) = $head =~ /^Subject: (.*?)\r?$/m;
    push @mails, { head => $head, subject => encode('UTF-8', decode('MIME-Header', $subject)), body => $body };
  }
  return @mails;
}

sub wait_for_mail {
  my ($pattern) = @_;
  for (1 .. 1800) {
    my @m = grep { $_->{subject} =~ $pattern } mails();
    return $m[0] if @m;
    select(undef, undef, undef, 0.1);
  }
  return undef;
}

ok(wait_for_mail(qr/^\[pgvault\] alerts-db: test alert$/), 'the test mail arrived');
chmod 0500, $readonly;
sql("ALTER SYSTEM SET pgvault.repository = 'file://$readonly/repo'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pgvault.repository') = 'file://$readonly/repo'") or die;
($ret) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
isnt($ret, 0, 'a failure with both channels');
chmod 0700, $readonly;
my $mail = wait_for_mail(qr/backup failed/);
ok($mail, 'the failure mail arrived');
like($mail->{subject}, qr/^\[pgvault\] alerts-db: physical backup failed — .*Permission denied/,
  'with a clear subject');
like($mail->{head}, qr/^From: pgvault\@example\.com\r?$/m, 'from the configured sender');
like($mail->{head}, qr/^To: dba\@example\.com\r?$/m, 'to the configured address');
like($mail->{body}, qr/^alerts-db: physical backup ".*" failed: .*Permission denied/, 'a sentence first');
like($mail->{body}, qr/^system identifier:\s+\d+\r?$/m, 'then the facts');
ok(wait_for_events('backup_failed', 3), 'and the webhook got it too');

# What a non-superuser granted vault.status sees: no URL, no secret.
sql(q{CREATE ROLE alert_reader LOGIN;
      GRANT USAGE ON SCHEMA vault TO alert_reader;
      GRANT SELECT ON vault.status TO alert_reader;
      GRANT EXECUTE ON FUNCTION vault._scheduler_state(), vault._setting_problems(), vault._alert_state(), vault._stale_state() TO alert_reader});
my $as_reader = $node->safe_psql('postgres',
  q{SELECT row_to_json(s)::text FROM vault.status s}, extra_params => [ '-U', 'alert_reader' ]);
like($as_reader, qr/"alert_channels":"webhook, email"/, 'a granted role sees the channels');
unlike($as_reader, qr{SECRETTOKEN|QUERYSECRET|/hook/}, 'but not the URL');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name IN ('pgvault.alert_webhook_url', 'pgvault.smtp_password', 'pgvault.smtp_user')},
    extra_params => [ '-U', 'alert_reader' ]),
  '0', 'pg_settings hides the secrets from it');
($ret, $out, $err) = $node->psql('postgres', 'SHOW pgvault.alert_webhook_url', extra_params => [ '-U', 'alert_reader' ]);
like($err, qr/permission denied|must be superuser/, 'SHOW refuses it');
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM vault.test_alert()', extra_params => [ '-U', 'alert_reader' ]);
like($err, qr/permission denied for function test_alert/, 'and vault.test_alert() without a grant');

# A setting rejected at start-up alerts "misconfigured".
$node->append_conf('postgresql.conf', "pgvault.schedule = '61 * * * *'\n");
$node->restart;
ok(wait_for_events('misconfigured', 1), 'a rejected setting at start-up alerts misconfigured');
my ($misconfigured) = grep { $_->{body}{event} eq 'misconfigured' } received();
like($misconfigured->{body}{text}, qr/pgvault settings were rejected: pgvault\.schedule \(.*\): .*invalid minute/,
  'naming the setting');

$log = slurp_file($node->logfile);
unlike($log, qr/SECRETTOKEN|QUERYSECRET/, 'the webhook token is in no log line');

$receiver->stop;
$smtp_h->kill_kill;
done_testing();
