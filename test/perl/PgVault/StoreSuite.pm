# One scenario, run against each object store (test/t/005_s3.pl,
# 006_azure.pl): pgvault creates the bucket/container, a multi-part backup
# streams into it and restores byte-identically with the CLI alone, a chain
# of incrementals restores and verifies from the store, a wrong
# secret is rejected by the store and recorded without leaking, and a store
# stopped mid-upload fails the backup cleanly, after which the next backup
# succeeds and the failed one's leftovers are gone.
package PgVault::StoreSuite;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use Digest::SHA qw(sha256_hex);
use PgVault::TestNode;
use PgVault::RoundTrip;
use IPC::Run;
use Exporter 'import';

our @EXPORT = qw(run_store_suite);

# %a: store (a PgVault::ObjectStore), scheme ('s3' or 'azure'), label ('S3'),
# part_setting (e.g. "pgvault.s3_part_size = '5MB'"), part_size (bytes),
# secret_setting (the setting to spoil), rejected (qr// for the store's
# answer to a wrong secret), uploads_cleaned (the store lists unfinished
# uploads that pgvault must abort), request_log (the store's request log,
# $store->dir/log/proxy.log, counts the GETs of each object).
sub run_store_suite {
  my (%a) = @_;
  my $store = $a{store};
  my $bucket = 'pgvault-tap';    # not created here: pgvault creates it
  my $prefix = 'cluster-a';
  my ($node, $repo) = new_vault_node("$a{scheme}node",
    repository => "$a{scheme}://$bucket/$prefix", compression => 'none',
    conf => $store->pgvault_conf . "$a{part_setting}\nrestart_after_crash = on\n");
  my $q = sub { $node->safe_psql('postgres', shift) };
  my %secret = $store->pgvault_settings;
  my @secrets = map { $secret{$_} } grep { /key|secret|token/ } keys %secret;

  # 1. A multi-part backup into a bucket that does not exist yet.
  load_data($node, 5);
  my $digests = digests_of($node);
  my ($id, $name, $status, $location, $stored) = split /\|/,
    $q->("SELECT id FROM vault.create_backup(label => '$a{label} round trip') \\gset\n"
       . "SELECT id, name, status, location, stored_bytes FROM vault.history WHERE id = :id");
  is($status, 'completed', "$a{label}: backup completed");
  is($location, "$repo/" . $q->('SELECT system_identifier FROM pg_control_system()') . "/backups/$name/",
    "$a{label}: location points into the bucket");
  my $dir = substr($location, length("$a{scheme}://$bucket/"));
  my @keys = $store->list_keys($bucket, $dir);
  is_deeply([ sort map { substr($_, length $dir) } @keys ], [ 'backup.json', 'backup_manifest', 'base.tar', 'file_identity' ],
    "$a{label}: the bucket holds the backup's objects, backup.json among them");
  my $meta = decode_json($store->get_object($bucket, "${dir}backup.json"));
  my ($base) = grep { $_->{name} eq 'base.tar' } @{ $meta->{objects} };
  cmp_ok($base->{size}, '>', 4 * $a{part_size}, "$a{label}: base.tar spans several parts ($base->{size} bytes)");
  is(sha256_hex($store->get_object($bucket, "${dir}base.tar")), $base->{sha256},
    "$a{label}: the object's bytes hash to the SHA-256 taken while streaming");
  is($store->count_multipart_uploads($bucket), 0, "$a{label}: no unfinished upload left") if $a{uploads_cleaned};

  # 2. The CLI alone lists and restores it.
  is_deeply([ map { $_->{name} } @{ cli_list($node) } ], [$name], "$a{label}: pgvault list --config lists it");
  change_data($node);
  restore_and_compare($node, 'latest', $digests, $a{label});

  # 2b. An incremental chain, restored and verified from the store: the
  # restore reads the full beside the newest and the older incrementals on
  # threads of their own, all from one storage object.
  my @chain = ($name);
  my $chain_digests;
  for my $round (1 .. 2) {
    change_data($node) if $round == 2;
    $node->safe_psql('postgres', "INSERT INTO known SELECT g, 'round $round' FROM generate_series(20000 + $round * 1000, 20000 + $round * 1000 + 499) g");
    $chain_digests = digests_of($node);
    my ($st, $kind, $iname) = split /\|/,
      $q->("SELECT status, kind, name FROM vault.create_backup(kind => 'incremental', label => '$a{label} chain $round')");
    is("$st $kind", 'completed incremental', "$a{label}: incremental $round completed");
    push @chain, $iname;
  }
  my $conf = $node->data_dir . '/postgresql.conf';
  my $chain_out = restore_and_compare($node, $chain[-1], $chain_digests, "$a{label} chain of 3");
  my $verify = sub {
    my ($out, $err) = ('', '');
    my $ok = IPC::Run::run([ 'pgvault', 'verify', '--config', $conf, '--backup', $chain[-1], @_ ],
      '>', \$out, '2>', \$err);
    return ($ok, "$out$err");
  };
  my ($ok, $said) = $verify->();
  ok($ok && $said =~ /its chain of 3 backups was read and checked: \Q$chain[0] <- $chain[1] <- $chain[2]\E/,
    "$a{label}: pgvault verify reads the chain from the store") or diag($said);
  ($ok, $said) = $verify->('--stored-only');
  ok($ok && $said =~ /the stored bytes of \d+ objects match backup\.json/,
    "$a{label}: pgvault verify --stored-only of the chain") or diag($said);

  # 2c. The server fetches each backup.json once (backup_meta_cache.hpp):
  # a job's retention reuses what its choice of a parent read, and the
  # server's processes (the caller's backend, which lists for
  # pgvault.incremental_fallback, the job worker, the alerts worker) share
  # what they parsed through pg_stat_tmp, where each of them used to fetch
  # every backup.json of the system. Counted in the S3 server's own request log.
  if ($a{request_log}) {
    my $log = $store->dir . '/log/proxy.log';
    my $json_gets = sub {
      my %n;
      for (split /\n/, slurp_file($log)) {
        $n{$1}++ if m{^proxy-server: .* GET /\Q$bucket\E/(\S+/backup\.json) HTTP/};
      }
      return \%n;
    };
    sleep 3;  # settled: a backup.json modified within 2 s is read again each time
    $q->("ALTER SYSTEM SET pgvault.retention_count = 100; SELECT pg_reload_conf()");
    my $before = $json_gets->();
    my ($st, $iname) = split /\|/,
      $q->("SELECT status, name FROM vault.create_backup(kind => 'incremental', label => '$a{label} listing')");
    is($st, 'completed', "$a{label}: an incremental with retention on completed");
    my $after = $json_gets->();
    my $sysid = $q->('SELECT system_identifier FROM pg_control_system()');
    my $fetched_between = sub {
      my ($from, $to) = @_;
      return { map { my $k = "$prefix/$sysid/backups/$_/backup.json";
        ($_ => ($to->{$k} // 0) - ($from->{$k} // 0)) } @chain };
    };
    # The alerts worker may have fetched some after the last backup (they
    # are shared then): at most once each, by one process.
    my $fetched = $fetched_between->($before, $after);
    is_deeply([ grep { $fetched->{$_} > 1 } @chain ], [],
      "$a{label}: no earlier backup.json fetched twice, though the caller's backend and the job worker both listed");
    note(join ', ', map { "$_: $fetched->{$_}" } @chain);
    ok(-s $node->data_dir . '/pg_stat_tmp/pgvault_backup_meta.cache', "$a{label}: the listings are shared through pg_stat_tmp");
    # A second one: every earlier backup.json comes from the shared file
    # (new processes again); only the last one, unsettled before, is fetched.
    $before = $after;
    ($st, my $second) = split /\|/,
      $q->("SELECT status, name FROM vault.create_backup(kind => 'incremental', label => '$a{label} listing 2')");
    is($st, 'completed', "$a{label}: a second incremental completed");
    $fetched = $fetched_between->($before, $json_gets->());
    is_deeply($fetched, { map { ($_ => 0) } @chain },
      "$a{label}: no earlier backup.json fetched again by the new processes of the second");
    note(join ', ', map { "$_: $fetched->{$_}" } @chain);
    push @chain, $iname, $second;
    $q->("ALTER SYSTEM RESET pgvault.retention_count; SELECT pg_reload_conf()");

    # 2d. pgvault restore --backup latest of the chain of 5: one listing of
    # the system's backups chooses it and gives its chain, each backup.json
    # fetched once (by the command: the restored copy, once started, reads
    # the store itself).
    my $backup_listings = sub {
      scalar grep { m{^proxy-server: .* GET /\Q$bucket\E%3F\S*list-type\S*backups} } split /\n/, slurp_file($log);
    };
    sleep 3;  # settled, as above
    $before = $json_gets->();
    my $listings_before = $backup_listings->();
    my $latest_dir = PostgreSQL::Test::Utils::tempdir() . '/latest';
    my ($out, $err) = ('', '');
    my $ok = IPC::Run::run([ 'pgvault', 'restore', '--config', $conf, '--backup', 'latest',
      '--pgdata', $latest_dir ], '>', \$out, '2>', \$err);
    ok($ok && $out =~ /restoring its chain of 5 backups/,
      "$a{label}: pgvault restore --backup latest restores the chain of 5") or diag("$out$err");
    $fetched = $fetched_between->($before, $json_gets->());
    is_deeply([ grep { $fetched->{$_} != 1 } @chain ], [],
      "$a{label}: pgvault restore --backup latest fetched each backup.json of the chain once");
    is($backup_listings->() - $listings_before, 1, "$a{label}: and listed the system's backups once");
    note(join ', ', map { "$_: $fetched->{$_}" } @chain);
  }

  # 3. A wrong secret: the store refuses, the row says so, nothing leaks.
  # Set in postgresql.conf as a DBA does (ALTER SYSTEM would put the secret
  # in the statement log, which log_statement = all of the test cluster keeps).
  my $wrong = $a{secret_setting} eq 'azure_key'
    ? 'd3Jvbmcta2V5LW9mLXRoZS1yaWdodC1zaXpl' . sprintf('%06d', int(rand(1e6))) . '=='
    : 'pgvault-wrong-secret-' . int(rand(1e9));
  $node->append_conf('postgresql.conf', "pgvault.$a{secret_setting} = '$wrong'\n");
  $node->reload;
  my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM vault.create_backup()');
  isnt($ret, 0, "$a{label}: a backup with a wrong secret fails");
  my $error = $q->('SELECT error_message FROM vault.history ORDER BY id DESC LIMIT 1');
  like($error, $a{rejected}, "$a{label}: the row names the store and its answer: $error");
  is($q->('SELECT status FROM vault.history ORDER BY id DESC LIMIT 1'), 'failed', "$a{label}: the row is failed");
  $node->append_conf('postgresql.conf', "pgvault.$a{secret_setting} = '$secret{$a{secret_setting}}'\n");
  $node->reload;
  is(scalar @{ cli_list($node) }, scalar @chain, "$a{label}: nothing new listed as restorable");

  # 4. The store stops in the middle of an upload.
  $q->("ALTER SYSTEM SET pgvault.max_rate = '4MB'; SELECT pg_reload_conf()");
  $id = $q->('SELECT id FROM vault.create_backup(wait => false)');
  my $failed_name = $q->("SELECT name FROM vault.history WHERE id = $id");
  ok($node->poll_query_until('postgres', "SELECT coalesce(max(bytes_done), 0) > 2 * $a{part_size} FROM vault.progress"),
    "$a{label}: the backup is uploading");
  $store->stop;
  ok(wait_for_status($node, $id, 'failed'), "$a{label}: the backup fails when the store goes away");
  $error = $q->("SELECT error_message FROM vault.history WHERE id = $id");
  like($error, qr/$a{label}/, "$a{label}: the row says why: $error");
  ok($node->poll_query_until('postgres', "SELECT cleanup_pending FROM vault.backups WHERE id = $id"),
    "$a{label}: its partial objects could not be removed yet: cleanup pending");
  $store->start_again;
  cmp_ok($store->count_multipart_uploads($bucket), '>', 0, "$a{label}: its unfinished upload is in the store")
    if $a{uploads_cleaned};
  $q->("ALTER SYSTEM RESET pgvault.max_rate; SELECT pg_reload_conf()");
  my $next = $q->('SELECT status FROM vault.create_backup()');
  is($next, 'completed', "$a{label}: the next backup succeeds once the store is back");
  is($q->("SELECT cleanup_pending FROM vault.backups WHERE id = $id"), 'f',
    "$a{label}: the failed backup's cleanup is done");
  is_deeply([ $store->list_keys($bucket, "$prefix/" . $q->('SELECT system_identifier FROM pg_control_system()') . "/backups/$failed_name/") ],
    [], "$a{label}: nothing of the failed backup is left");
  is($store->count_multipart_uploads($bucket), 0, "$a{label}: its multipart upload was aborted") if $a{uploads_cleaned};
  is(scalar @{ cli_list($node) }, @chain + 1, "$a{label}: the good backups are listed");

  # 5. No secret in the server log (the reloads above changed one twice) or
  # in the history.
  my $log = slurp_file($node->logfile);
  like($log, qr/parameter "pgvault\.$a{secret_setting}" changed\n/, "$a{label}: the reload log says the secret changed ...");
  is_deeply([ grep { index($log, $_) >= 0 } (@secrets, $wrong) ], [], "$a{label}: ... but no secret is in the server log");
  my $history = $q->("SELECT string_agg(coalesce(error_message, '') || label, ' ') FROM vault.history");
  is_deeply([ grep { index($history, $_) >= 0 } (@secrets, $wrong) ], [], "$a{label}: no secret in vault.history");
  $node->stop;
}

1;
