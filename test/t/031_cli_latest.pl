# --backup latest is the newest backup the command can use, and the command
# says which one it picked: pgvault restore and verify --restore-test take
# the newest physical backup even when logical dumps are newer; pgvault get
# takes the newest logical backup (of --database when given), never a
# pre_restore dump unless --include-pre-restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::Cli;

my ($node, $repo) = new_vault_node('latest');
my $q = sub { $node->safe_psql(@_ == 1 ? ('postgres', $_[0]) : @_) };
$q->('CREATE DATABASE shop');
$q->('shop', 'CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g');
$q->('CREATE DATABASE tiny');
$q->('tiny', 'CREATE TABLE t AS SELECT 1 AS one');
$q->('CREATE TABLE known AS SELECT g AS id, md5(g::text) AS val FROM generate_series(1, 5000) g');
my $digest = table_digest($node, 'known', 'id');

my ($physical) = $q->(q{SELECT name FROM vault.create_backup()});
my ($shop_dump) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'shop')});
my ($tiny_dump) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'tiny')});
# Replacing shop from its dump takes a pre_restore dump of shop: the newest backup of all.
my ($pre_restore) = $q->(qq{SELECT pre_restore_backup FROM vault.restore_logical('$shop_dump', 'shop', replace => true)});
ok($pre_restore, "restore_logical(replace => true) took pre_restore backup $pre_restore");
is($q->(qq{SELECT string_agg(name, ',' ORDER BY id) FROM vault.backups WHERE status = 'completed'}),
  "$physical,$shop_dump,$tiny_dump,$pre_restore", 'the physical backup is the oldest of four');

# ---- restore ---------------------------------------------------------------------
my $restored = PostgreSQL::Test::Cluster->new('restored');
my ($ok, $out, $err) = pgvault('restore', '--repo', $repo, '--backup', 'latest', '--pgdata', $restored->data_dir);
ok($ok, 'pgvault restore --backup latest succeeds although the newest backups are dumps') or diag($err);
like($out, qr/^--backup latest: "\Q$physical\E", the newest complete physical backup \(system \d+, completed /m,
  'it says which backup "latest" is');
like($out, qr/^restoring backup "\Q$physical\E" \(physical/m, 'and restores that one');
$restored->append_conf('postgresql.conf', "port = " . $restored->port . "\nshared_preload_libraries = ''\n");
$restored->start;
is(table_digest($restored, 'known', 'id'), $digest, 'the restored cluster holds the data');
$restored->stop;

# ---- verify ----------------------------------------------------------------------
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', 'latest');
ok($ok, 'pgvault verify --backup latest succeeds') or diag($err);
like($out, qr/^--backup latest: "\Q$physical\E", the newest complete physical backup/m, 'verify: latest is the physical backup');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', 'latest', '--restore-test');
ok($ok, 'pgvault verify --restore-test --backup latest succeeds') or diag("$out\n$err");
like($out, qr/^backup \Q$physical\E verified: .*restore test passed/m, 'and tested the physical backup');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', 'latest', '--kind', 'logical', '--json');
ok($ok, 'pgvault verify --kind logical --json succeeds') or diag($err);
like($out, qr/"backup": "\Q$tiny_dump\E"/, '--kind logical: the newest dump that is not pre_restore');
like($err, qr/^--backup latest: "\Q$tiny_dump\E", the newest complete logical backup other than pre_restore/m,
  'with --json the choice goes to standard error');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', 'latest', '--database', 'shop');
like($out, qr/^--backup latest: "\Q$shop_dump\E", the newest complete logical backup of database "shop"/m,
  'verify --database shop: the dump of shop');
($ok, $out, $err) = pgvault('verify', '--repo', $repo, '--backup', $physical, '--kind', 'logical');
ok(!$ok && $err =~ /is a physical backup, not logical \(--kind\)/, 'a name that contradicts --kind is refused');

# ---- get -------------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', 'latest', '--database', 'shop', '-o', "$dir/shop.dump");
ok($ok, 'pgvault get --backup latest --database shop succeeds') or diag($err);
like($err, qr/^--backup latest: "\Q$shop_dump\E", the newest complete logical backup of database "shop" other than pre_restore backups/m,
  "it picks shop's dump, not the newer pre_restore one, and says so");
like($err, qr/backup "\Q$shop_dump\E" \(logical, database shop\)/, 'and wrote that one');
$q->('CREATE DATABASE shop_copy');
$node->command_ok([ 'pg_restore', '--dbname', $node->connstr('shop_copy'), "$dir/shop.dump" ], 'pg_restore reads it');
is($q->('shop_copy', 'SELECT count(*) FROM orders'), '1000', 'it is the dump of shop');

($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', 'latest', '-o', '-');
ok($ok, 'pgvault get --backup latest -o - succeeds');
like($err, qr/^--backup latest: "\Q$tiny_dump\E", the newest complete logical backup other than pre_restore/m,
  'without --database: the newest dump that is not pre_restore; the choice is on standard error');
like($out, qr/^PGDMP/, 'standard output holds only the dump');

($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', 'latest', '--database', 'shop',
  '--include-pre-restore', '-o', "$dir/pre.dump");
like($err, qr/^--backup latest: "\Q$pre_restore\E"/m, '--include-pre-restore: the pre_restore dump');

($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', 'latest', '--database', 'nosuchdb', '-o', "$dir/no.dump");
ok(!$ok, 'no dump of the database: an error');
like($err, qr/no complete logical backup of database "nosuchdb" other than pre_restore backups found in repository \Q$repo\E; it holds 4 other complete backups/,
  'that says what was looked for and what there is');
ok(!-e "$dir/no.dump", 'and writes nothing');
($ok, $out, $err) = pgvault('get', '--repo', $repo, '--backup', $tiny_dump, '--database', 'shop', '-o', "$dir/x.dump");
ok(!$ok && $err =~ /is a dump of database "tiny", not of "shop"/, 'a named dump of another database is refused');

# ---- only dumps: restore says what exists ---------------------------------------------
my ($node2, $repo2) = new_vault_node('dumps_only');
$node2->safe_psql('postgres', q{SELECT vault.create_backup(kind => 'logical')});
($ok, $out, $err) = pgvault('restore', '--repo', $repo2, '--backup', 'latest', '--pgdata', "$dir/none");
ok(!$ok, 'restore --backup latest with dumps only fails');
like($err, qr/no complete physical backup found in repository .*the newest "[^"]+-logical" \(logical, database postgres\); pgvault restore restores physical backups only/,
  'naming what the repository holds');
$node2->stop;
$node->stop;
done_testing();
