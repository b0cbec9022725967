# pgvault wal-fetch against real object stores: WAL archived by
# archive_library = 'pgvault' into S3 (Swift's s3api) and Azure Blob
# (Azurite, encrypted with a passphrase), over connections the archiver
# keeps from file to file, replays into a restored backup
# through restore_command = 'pgvault wal-fetch ...'; a damaged object and a
# stopped store are hard errors (exit 128) that name the file and the store.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::ObjectStore;
use PgVault::TestNode;
use PgVault::WalFetch;

# How many TCP connections process $pid holds open (ESTABLISHED) to port
# $port: its sockets (/proc/PID/fd) found in the kernel's TCP tables.
sub connections_to {
  my ($pid, $port) = @_;
  my %mine;
  opendir(my $fds, "/proc/$pid/fd") or die "cannot read /proc/$pid/fd: $!";
  for my $fd (readdir $fds) {
    my $target = readlink("/proc/$pid/fd/$fd") // next;
    $mine{$1} = 1 if $target =~ /^socket:\[(\d+)\]$/;
  }
  my $open = 0;
  for my $table ("/proc/$pid/net/tcp", "/proc/$pid/net/tcp6") {
    open(my $f, '<', $table) or next;
    <$f>;    # the header
    while (<$f>) {
      my @c = split;
      my ($remote_port) = $c[2] =~ /:([0-9A-F]{4})$/;
      $open++ if hex($remote_port) == $port && $c[3] eq '01' && $mine{ $c[9] };
    }
  }
  return $open;
}

sub round_trip {
  my (%a) = @_;
  my ($store, $scheme, $label) = @a{qw(store scheme label)};
  my $bucket = "wal-$scheme";
  $store->create_bucket($bucket);
  my ($node, $repo, $conf, $backup, $last) = archiving_node("${scheme}wal",
    compression => 'zstd', repository => "$scheme://$bucket/cluster",
    conf => $store->pgvault_conf . ($a{conf} // ''));
  # Checked right after a push (a store may close a connection idle for
  # seconds): the pushes share one storage, whose connections stay open for
  # the next file instead of one connection (and TLS handshake) per file.
  my $archiver = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'");
  my $open = connections_to($archiver, $store->port);
  cmp_ok($open, '>=', 1, "$label: the archiver keeps its connections to the store for the next file");
  cmp_ok($open, '<=', 4, "$label: at most one per push in flight (pgvault.archive_parallel = 4): $open");
  my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
  my $digest = table_digest($node, 'rows', 'batch, id');
  my $dir = "cluster/$sysid/wal/" . substr($last, 0, 8) . '/' . substr($last, 0, 16) . '/';
  my ($key) = grep { m{/\Q$last\E-[0-9a-f]{64}\.zst$} } $store->list_keys($bucket, $dir);
  ok($key, "$label: $last is archived in the store as $key");
  if ($a{encrypted}) {
    is(substr($store->get_object($bucket, $key), 0, 8), 'PGVLTENC', "$label: stored encrypted");
  }

  # The restore names its backup without --system-id: the repository's
  # systems come from a delimited listing and each system's backups/
  # directory, never from a listing of every object (its WAL archive).
  my $proxy_log = $store->dir . '/log/proxy.log';
  my $log_before = -e $proxy_log ? -s $proxy_log : 0;
  my $restored = restored_node("${scheme}replayed", $conf, $backup);
  if ($store->kind eq 's3') {
    open(my $log, '<', $proxy_log) or die "$proxy_log: $!";
    seek($log, $log_before, 0);
    my @listings;
    while (<$log>) {
      next unless m{ GET /\Q$bucket\E%3F(\S*list-type\S*) HTTP/};
      (my $query = $1) =~ s/%([0-9A-F]{2})/chr hex $1/ge;    # the log quotes the query once
      $query =~ s/%([0-9A-F]{2})/chr hex $1/ge;
      push @listings, $query unless $query =~ /max-keys=1(&|$)/;    # the root's existence probe
    }
    ok((grep { /delimiter=\// && /prefix=cluster\/(&|$)/ } @listings),
      "$label: the restore found the repository's systems by a delimited listing")
      or diag(join("\n", @listings));
    is_deeply([ grep { !/delimiter=/ && !m{prefix=cluster/\d+/backups/} } @listings ], [],
      "$label: and listed nothing but their backups/ directories");
  }
  $restored->start;
  ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
    "$label: the restored node replays the archive from the store and promotes at its end");
  is(table_digest($restored, 'rows', 'batch, id'), $digest, "$label: every row is there");
  ok($restored->log_contains(qr/restored log file "\Q$last\E" from archive/),
    "$label: $last came through wal-fetch");
  my $status = $restored->data_dir . '.pgvault-spool/prefetch.status';
  ok(wait_for_file($status), "$label: the background fetcher prefetched from the store");
  like(PostgreSQL::Test::Utils::slurp_file($status), qr/^after \w{24}: fetched \d+/,
    "$label: its status says what it fetched");
  my %settings = $store->pgvault_settings;
  for my $secret (grep { defined } $a{secret}, $settings{s3_secret_access_key}, $settings{azure_key}) {
    ok(!$restored->log_contains(qr/\Q$secret\E/), "$label: no secret in the server log");
  }
  $restored->stop;
  $node->stop;

  my $scratch = PostgreSQL::Test::Utils::tempdir();
  my ($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, '0000000100000000000000F0', "$scratch/x");
  is($rc, 1, "$label: a segment that is not archived: exit 1") or diag($err);

  # A damaged object: the checksum in its key no longer matches.
  my $stored = $store->get_object($bucket, $key);
  substr($stored, length($stored) / 2, 8) = 'DAMAGED!';
  $store->put_object($bucket, $key, $stored);
  ($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $last, "$scratch/x");
  is($rc, 128, "$label: a damaged object: exit 128");
  like($err, qr/cannot fetch WAL file \Q$last\E from \Q$repo\E: .*cannot be decoded/,
    "$label: the message names the file and the store");
  ok(!-e "$scratch/x", "$label: nothing written");

  # The store stopped: unreachable is a hard error, not "not archived".
  $store->stop;
  ($rc, $out, $err) = wal_fetch(undef, '--config', $conf, '--system-id', $sysid, $last, "$scratch/x");
  is($rc, 128, "$label: an unreachable store: exit 128") or diag($err);
  like($err, qr/cannot fetch WAL file \Q$last\E from/, "$label: saying which file") or diag($err);
}

my $s3 = PgVault::ObjectStore->start_s3();
round_trip(store => $s3, scheme => 's3', label => 'S3');    # stops the store at its end

my $azure = PgVault::ObjectStore->start_azurite();
my $passphrase = 'wal fetch passphrase 044';
round_trip(store => $azure, scheme => 'azure', label => 'Azure', encrypted => 1, secret => $passphrase,
  conf => "pgvault.encryption_passphrase = '$passphrase'\n");

done_testing();
