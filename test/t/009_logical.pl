# Logical backups: the server's own pg_dump, custom format, streamed through
# client-side compression into the repository; the stored dump restores with
# stock pg_restore, the options reach pg_dump, and pg_dump's own error is
# what a failed row says.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('logical', compression => 'none');
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $q = sub { $node->safe_psql(shift // 'postgres', shift) };
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$q->('shop', q{
CREATE SCHEMA sales;
CREATE TABLE sales.orders AS SELECT g AS id, md5(g::text) AS item FROM generate_series(1, 5000) g;
CREATE TABLE public.audit AS SELECT g AS id FROM generate_series(1, 100) g;
});
my $orders = $q->('shop', q{SELECT md5(string_agg(id || item, ',' ORDER BY id)) FROM sales.orders});

# 1. A whole database, uncompressed: the object is a pg_dump custom file.
my ($id, $status, $kind, $db, $options, $location) = split /\|/, $q->('postgres',
  q{SELECT id FROM vault.create_backup(kind => 'logical', database => 'shop', label => 'nightly shop') \gset
SELECT id, status, kind, database, options, location FROM vault.history WHERE id = :id});
is("$status/$kind/$db", 'completed/logical/shop', 'logical backup of another database completed');
is_deeply(decode_json($options), { schema_only => JSON::PP::false, data_only => JSON::PP::false, include_tables => [], exclude_tables => [] },
  'the row records the options');
my ($dir) = $location =~ m{^file://(.*)$};
ok(-f "$dir/dump.pgdump" && -f "$dir/backup.json", 'dump.pgdump and backup.json in the repository');
open(my $fh, '<', "$dir/dump.pgdump") or die $!;
read($fh, my $magic, 5);
close $fh;
is($magic, 'PGDMP', 'the object is a pg_dump custom-format archive');
my $meta = decode_json(slurp_file("$dir/backup.json"));
is($meta->{kind} . '/' . $meta->{database}, 'logical/shop', 'backup.json says logical and the database');

$node->safe_psql('postgres', 'CREATE DATABASE shop_copy');
$node->command_ok([ 'pg_restore', '--dbname', $node->connstr('shop_copy'), '--no-owner', "$dir/dump.pgdump" ],
  'stock pg_restore restores the stored dump');
is($q->('shop_copy', q{SELECT md5(string_agg(id || item, ',' ORDER BY id)) FROM sales.orders}), $orders,
  'sales.orders restored exactly');

# 2. Options reach pg_dump; zstd compression on the client side.
$q->('postgres', "ALTER SYSTEM SET pgvault.compression = 'zstd'; SELECT pg_reload_conf()");
($status, $location, my $stored, my $source) = split /\|/, $q->('postgres',
  q{SELECT id FROM vault.create_backup(kind => 'logical', database => 'shop', include_tables => ARRAY['sales.*'], exclude_tables => ARRAY['public.audit']) \gset
SELECT status, location, stored_bytes, source_bytes FROM vault.history WHERE id = :id});
is($status, 'completed', 'logical backup with table patterns completed');
($dir) = $location =~ m{^file://(.*)$};
ok(-f "$dir/dump.pgdump.zst", 'compressed by pgvault: dump.pgdump.zst');
cmp_ok($stored, '<', $source, "stored bytes ($stored) below the dump's size ($source)");
$meta = decode_json(slurp_file("$dir/backup.json"));
is_deeply($meta->{logical}{include_tables}, ['sales.*'], 'backup.json records the include patterns');
is($meta->{compressed_by}, 'client', 'backup.json says the client compressed');

# 3. Refusals before anything starts.
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM vault.create_backup(kind => 'logical', database => 'nosuchdb')});
like($err, qr/database "nosuchdb" does not exist/, 'a missing database is refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM vault.create_backup(schema_only => true)});
like($err, qr/apply to logical backups only/, 'logical options on a physical backup are refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM vault.create_backup(kind => 'logical', schema_only => true, data_only => true)});
like($err, qr/schema_only and data_only cannot both be true/, 'contradictory options are refused');

# 4. pg_dump's own error is the row's error, and nothing is left.
($ret, $out, $err) = $node->psql('postgres',
  q{SELECT * FROM vault.create_backup(kind => 'logical', database => 'shop', include_tables => ARRAY['nosuch.table'])});
isnt($ret, 0, 'a backup whose pg_dump fails fails');
my ($fid, $fstatus, $ferror, $fname) = split /\|/, $q->('postgres',
  q{SELECT id, status, error_message, name FROM vault.history ORDER BY id DESC LIMIT 1});
is($fstatus, 'failed', 'the row is failed');
like($ferror, qr/^pg_dump exited with status 1: .*no matching tables were found/s, "the row carries pg_dump's message: $ferror");
my ($sysid) = $q->('postgres', 'SELECT system_identifier FROM pg_control_system()');
ok(!-e "$repo_dir/$sysid/backups/$fname", 'nothing of the failed dump is left');
is($q->('postgres', q{SELECT count(*) FROM vault.history WHERE status = 'running'}), '0', 'no row left running');

# 5. pgvault.logical_schedule runs logical backups on its own, of
#    pgvault.logical_database, beside the physical schedule: each track
#    fires on its own schedule (logical every 2 s, physical every 3 s) and
#    takes its own kind of backup.
$node->append_conf('postgresql.conf',
  "pgvault.logical_schedule = '2 seconds'\npgvault.logical_database = 'shop'\npgvault.schedule = '3 seconds'\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT logical_schedule = '2 seconds' AND schedule = '3 seconds' FROM vault.status}),
  'vault.status shows both schedules');
ok($node->poll_query_until('postgres',
  q{SELECT count(*) FILTER (WHERE kind = 'logical') > 0 AND count(*) FILTER (WHERE kind = 'physical') > 0
      FROM vault.history WHERE trigger = 'scheduled' AND status = 'completed'}),
  'scheduled logical and physical backups completed');
$node->append_conf('postgresql.conf', "pgvault.logical_schedule = ''\npgvault.schedule = ''\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT logical_schedule IS NULL AND schedule IS NULL FROM vault.status}),
  'both schedules are off again');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM vault.history WHERE status = 'running'}),
  'the last scheduled backup finished');
is($q->('postgres', q{SELECT count(*) FROM vault.history WHERE kind = 'logical' AND trigger = 'scheduled' AND status = 'completed'
                        AND (database <> 'shop' OR options IS NULL OR extract(epoch FROM scheduled_for)::bigint % 2 <> 0)}), '0',
  'every scheduled logical backup is of pgvault.logical_database, at a fire time of the logical schedule');
is($q->('postgres', q{SELECT count(*) FROM vault.history WHERE kind = 'physical' AND trigger = 'scheduled'
                        AND (options IS NOT NULL OR extract(epoch FROM scheduled_for)::bigint % 3 <> 0)}), '0',
  'every scheduled physical backup is at a fire time of the physical schedule');

$node->stop;
done_testing();
