# vault.restore_logical: a logical backup comes back through the server's own
# pg_restore into a new database with the same contents; an existing database
# is refused unless replace => true, which first takes a pre_restore logical
# backup of it and says so; a failing pg_restore leaves nothing changed; an
# encrypted backup restores with its passphrase and fails clearly without it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgVault::TestNode;
use PgVault::Cli;
use JSON::PP;

my ($node, $repo) = new_vault_node('restore_logical');
my $q = sub { $node->safe_psql(@_ == 1 ? ('postgres', $_[0]) : @_) };
# Runs SQL in postgres that must fail; returns its stderr.
my $fails = sub {
  my ($sql) = @_;
  my ($ret, $out, $err) = $node->psql('postgres', $sql);
  isnt($ret, 0, "fails: $sql");
  return $err;
};
my $db_exists = sub { $q->("SELECT count(*) FROM pg_database WHERE datname = '$_[0]'") };
my $scratch_left = sub { $q->(q{SELECT count(*) FROM pg_database WHERE datname LIKE 'pgvault\_restore\_%'}) };

$q->('CREATE ROLE shop_owner');
$q->('CREATE DATABASE shop OWNER shop_owner');
$q->('shop', q{
CREATE SCHEMA sales AUTHORIZATION shop_owner;
CREATE TABLE sales.orders (id int PRIMARY KEY, item text NOT NULL, placed date);
INSERT INTO sales.orders SELECT g, md5(g::text), date '2024-01-01' + g % 365 FROM generate_series(1, 5000) g;
CREATE INDEX orders_placed_idx ON sales.orders (placed);
ALTER TABLE sales.orders OWNER TO shop_owner;
CREATE TABLE public.customers (id bigserial PRIMARY KEY, name text, note jsonb);
INSERT INTO public.customers (name, note) SELECT 'c' || g, jsonb_build_object('g', g) FROM generate_series(1, 300) g;
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE id > 4000;
CREATE FUNCTION sales.order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM sales.orders';
});

# What a database holds: every table's rows in key order, the objects, the owner.
sub contents {
  my ($db) = @_;
  return join ' / ',
    $node->safe_psql($db, q{SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM sales.orders t}),
    $node->safe_psql($db, q{SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM public.customers t}),
    $node->safe_psql($db, q{SELECT string_agg(o, ',' ORDER BY o) FROM (
      SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || pg_get_userbyid(c.relowner) AS o
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname IN ('sales', 'public')) s}),
    $node->safe_psql($db, q{SELECT sales.order_count() || ':' || (SELECT count(*) FROM sales.big_orders)}),
    $node->safe_psql($db, q{SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()});
}
my $shop = contents('shop');

my ($name) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'shop')});
like($name, qr/-logical(-\d+)?$/, "logical backup $name of shop taken");

# 1. Into a new database: the same contents, owners included.
my $row = $q->("SELECT backup, source_database, database, pre_restore_backup IS NULL, restored_bytes > 0, duration > '0'
  FROM vault.restore_logical('$name', 'shop_restored')");
is($row, "$name|shop|shop_restored|t|t|t", 'restore_logical says what it restored where, no pre_restore backup');
is(contents('shop_restored'), $shop, 'shop_restored has the contents of shop (rows, objects, owners)');
is($scratch_left->(), '0', 'no scratch database left behind');
like(slurp_file($node->logfile), qr/restored logical backup "$name" of database "shop" into database "shop_restored"/,
  'the restore is logged');

# 2. An existing database is refused without replace.
my $err = $fails->("SELECT * FROM vault.restore_logical('$name', 'shop_restored')");
like($err, qr/database "shop_restored" already exists; pass replace => true to replace it \(a logical backup of it is taken first\)/,
  'an existing database is refused, naming replace');
is($q->(q{SELECT count(*) FROM vault.history WHERE trigger = 'pre_restore'}), '0', 'and no backup was taken');

# 3. replace => true: a pre_restore backup of the changed database first, then the backup's contents.
$q->('shop_restored', q{DELETE FROM sales.orders WHERE id <= 10; INSERT INTO public.customers (name) VALUES ('changed later')});
my $changed = contents('shop_restored');
isnt($changed, $shop, 'shop_restored was changed');
my ($ret, $out);
($ret, $out, $err) = $node->psql('postgres',
  "SELECT pre_restore_backup FROM vault.restore_logical('$name', 'shop_restored', replace => true)");
is($ret, 0, 'restore_logical with replace => true succeeds');
my $pre = $out;
like($pre, qr/-logical(-\d+)?$/, "it names the pre_restore backup $pre");
like($err, qr/NOTICE:  took logical backup "\Q$pre\E" of database "shop_restored" \(trigger pre_restore\) before replacing it/,
  'a NOTICE says the pre_restore backup was taken');
is($q->("SELECT kind || '/' || trigger || '/' || status || '/' || database FROM vault.history WHERE name = '$pre'"),
  'logical/pre_restore/completed/shop_restored', 'its history row: logical, pre_restore, completed, of shop_restored');
is(contents('shop_restored'), $shop, 'shop_restored holds the backup\'s contents again');
$q->("SELECT * FROM vault.restore_logical('$pre', 'shop_before')");
is(contents('shop_before'), $changed, 'the pre_restore backup holds the replaced contents');
is($scratch_left->(), '0', 'no scratch database left behind');

# 4. Refusals before anything is touched.
my ($physical) = $q->(q{SELECT name FROM vault.create_backup()});
like($fails->("SELECT * FROM vault.restore_logical('$physical', 'from_physical')"),
  qr/backup "$physical" is a physical backup; vault.restore_logical\(\) restores logical backups only .*pgvault restore/,
  'a physical backup is refused, pointing to pgvault restore');
like($fails->(q{SELECT * FROM vault.restore_logical('20200101T000000Z-logical', 'nowhere')}),
  qr/backup "20200101T000000Z-logical" not found/, 'an unknown backup is not found');
like($fails->("SELECT * FROM vault.restore_logical('$name', 'postgres', replace => true)"),
  qr/cannot restore into database "postgres": this session is connected to it/, 'the current database is refused');
like($fails->("SELECT * FROM vault.restore_logical('$name', '')"), qr/must not be empty/, 'an empty name is refused');
like($fails->("BEGIN; SELECT * FROM vault.restore_logical('$name', 'in_block'); COMMIT;"),
  qr/cannot run inside a transaction block/, 'a transaction block is refused');
is($db_exists->('from_physical') + $db_exists->('nowhere') + $db_exists->('in_block'), 0, 'no database was created');

# 5. pg_restore fails (an owner that is gone): its error, and nothing changed.
$q->('CREATE ROLE gone_owner');
$q->('CREATE DATABASE doomed');
$q->('doomed', 'CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t OWNER TO gone_owner; INSERT INTO t VALUES (1)');
my ($doomed) = $q->(q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'doomed')});
$q->('DROP DATABASE doomed');
$q->('DROP ROLE gone_owner');
$err = $fails->("SELECT * FROM vault.restore_logical('$doomed', 'doomed_copy')");
like($err, qr/restoring backup "$doomed" into database "doomed_copy" failed: pg_restore exited with status 1: .*role "gone_owner" does not exist/s,
  "pg_restore's error is the error");
like($err, qr/DETAIL:  The partly restored database "pgvault_restore_\d+_\d+" was dropped/, 'and it says the partly restored database was dropped');
is($db_exists->('doomed_copy'), '0', 'the target does not exist');
$err = $fails->("SELECT * FROM vault.restore_logical('$doomed', 'shop_restored', replace => true)");
like($err, qr/DETAIL:  Database "shop_restored" is unchanged \(its pre_restore backup is "[^"]+"\)/, 'a failed replace says the database is unchanged');
is(contents('shop_restored'), $shop, 'and it is');
is($scratch_left->(), '0', 'no scratch database left behind');

# Every restore that got past its checks is recorded in the repository, as
# the CLI's restores are: `pgvault report` lists them with no database.
my ($report_ok, $report_json, $report_err) = pgvault('report', '--repo', $repo, '--format', 'json');
ok($report_ok, 'pgvault report reads the repository') or diag($report_err);
my @sql_restores = grep { $_->{restore} eq 'vault.restore_logical' } @{ decode_json($report_json)->{restores} };
my ($restored) = grep { $_->{backup} eq $name && $_->{status} eq 'succeeded' } @sql_restores;
ok($restored, 'a restore_logical that succeeded is recorded');
like($restored->{target} // '', qr/^database shop_restored/, 'with the database it restored into');
like($restored->{restored_by} // '', qr/^role \S+$/, 'and the role that ran it');
cmp_ok($restored->{bytes_written} // 0, '>', 0, 'and the bytes of dump restored');
my ($replaced) = grep { $_->{backup} eq $name && ($_->{target} // '') =~ /replaced; its pre_restore backup is / } @sql_restores;
ok($replaced, 'a replace names the pre_restore backup');
my @doomed = grep { $_->{backup} eq $doomed && $_->{status} eq 'failed' } @sql_restores;
is(scalar(@doomed), 2, 'both failed restores of the doomed dump are recorded');
like($doomed[0]{error} // '', qr/role "gone_owner" does not exist/, "with pg_restore's error");
ok(!grep({ $_->{backup} eq '20200101T000000Z-logical' } @sql_restores), 'a restore refused by its checks is not');

# 6. Encrypted with a passphrase: restores with it, refused clearly without it.
my $passphrase = 'restore me ' . int(rand(1e9));
$node->append_conf('postgresql.conf', "pgvault.encryption_passphrase = '$passphrase'\n");
$node->reload;
my ($enc, $encrypted) = split /\|/,
  $q->(q{SELECT id FROM vault.create_backup(kind => 'logical', database => 'shop') \gset
SELECT name, encrypted FROM vault.history WHERE id = :id});
is($encrypted, 't', "logical backup $enc is encrypted");
$q->("SELECT * FROM vault.restore_logical('$enc', 'shop_encrypted')");
is(contents('shop_encrypted'), $shop, 'the encrypted backup restores with the passphrase');
$node->append_conf('postgresql.conf', "pgvault.encryption_passphrase = 'not it'\n");
$node->reload;
like($fails->("SELECT * FROM vault.restore_logical('$enc', 'shop_wrong')"), qr/passphrase does not match/,
  'a wrong passphrase is refused');
$node->append_conf('postgresql.conf', "pgvault.encryption_passphrase = ''\n");
$node->reload;
like($fails->("SELECT * FROM vault.restore_logical('$enc', 'shop_nokey', replace => true)"),
  qr/encrypted with a passphrase .*set pgvault\.encryption_passphrase/, 'no passphrase: says what to set');
is($db_exists->('shop_wrong') + $db_exists->('shop_nokey'), 0, 'no database was created without the key');
unlike(slurp_file($node->logfile), qr/\Q$passphrase\E/, 'the passphrase is not in the log');

$node->stop;
done_testing();
