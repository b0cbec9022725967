# Privilege boundaries (issue 12). pgvault's workers run as the bootstrap
# superuser: a database owner who shadows what their SQL calls (functions
# and an operator in "public", put first in the database's search_path)
# must never get their code run by a manual, scheduled, logical or verify
# run. vault.restore_logical asks of its caller what DROP/CREATE DATABASE
# would, and feeds pg_restore (superuser) only a dump whose bytes match the
# checksum vault.backups recorded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use Digest::SHA qw(sha256_hex);
use PgVault::TestNode;

my ($node, $repo) = new_vault_node('privileges', conf => "log_statement = 'ddl'\n");
my ($repo_dir) = $repo =~ m{^file://(.*)$};
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# The test's own queries must not trip the traps: they pin search_path too.
my $safe = 'SET search_path = pg_catalog, pg_temp; ';
my $q = sub { my ($db, $sql) = @_; $node->safe_psql($db, $safe . $sql) };
my $as = sub {  # runs SQL as a role; returns (exit code, stdout, stderr)
  my ($role, $db, $sql) = @_;
  return $node->psql($db, $sql, extra_params => [ '-U', $role ]);
};
my $wait_for = sub {
  my ($db, $condition, $what) = @_;
  for (1 .. 1800) {
    return pass($what) if $q->($db, "SELECT ($condition)::int") eq '1';
    select(undef, undef, undef, 0.1);
  }
  fail("$what (timed out)");
};

# --- 1. pgvault's own database belongs to an ordinary role ------------------
$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE DATABASE appdb OWNER mallory;
ALTER SYSTEM SET pgvault.database = 'appdb';
});
$node->restart;
$node->safe_psql('appdb', q{
CREATE EXTENSION pgvault;
GRANT USAGE ON SCHEMA vault TO mallory;
GRANT EXECUTE ON FUNCTION vault.create_backup(text, text, boolean, name, boolean, boolean, text[], text[]) TO mallory;
});
# mallory owns "public" (pg_database_owner) and sets the database's
# search_path: for every session and every worker that connects, her
# functions and operators now come before pg_catalog's.
my ($ret, $out, $err) = $as->('mallory', 'appdb', q{
CREATE TABLE public.pwned (who name, what text);
GRANT INSERT ON public.pwned TO PUBLIC;
CREATE FUNCTION public.caught(what text) RETURNS void LANGUAGE sql
  AS $$ INSERT INTO public.pwned VALUES (current_user, what) $$;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('nextval(text)'); RETURN pg_catalog.nextval($1::regclass); END $$;
CREATE FUNCTION public.nextval(regclass) RETURNS bigint LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('nextval(regclass)'); RETURN pg_catalog.nextval($1); END $$;
-- Exactly the argument types of pgvault's NOTIFY payload and of create_backup's options.
CREATE FUNCTION public.json_build_object(text, text, text, bigint, text, text, text, text, text, text,
    text, text, text, timestamptz, text, timestamptz, text, bigint, text, text, text, text)
  RETURNS json LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('json_build_object(notify)'); RETURN '{}'::json; END $$;
CREATE FUNCTION public.json_build_object(text, boolean, text, boolean, text, text[], text, text[])
  RETURNS json LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('json_build_object(options)'); RETURN '{}'::json; END $$;
CREATE FUNCTION public.left(text, integer) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('left'); RETURN pg_catalog.left($1, $2); END $$;
CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('pg_notify'); END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.current_database() RETURNS name LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('current_database'); RETURN pg_catalog.current_database(); END $$;
CREATE FUNCTION public.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('= (text, text)'); RETURN pg_catalog.texteq($1, $2); END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
CREATE FUNCTION public.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
  AS $$ BEGIN PERFORM public.caught('= (bigint, bigint)'); RETURN pg_catalog.int8eq($1, $2); END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_eq);
ALTER DATABASE appdb SET search_path = public, pg_catalog;
});
is($ret, 0, 'an ordinary database owner can set all of this up') or diag($err);
# The traps work: a session of this database calls mallory's now().
($ret, $out, $err) = $as->('mallory', 'appdb', q{SELECT now() IS NOT NULL});
is($q->('appdb', 'SELECT string_agg(what, \',\') FROM public.pwned'), 'now', 'the traps are live in this database');
$q->('appdb', 'DELETE FROM public.pwned');

# --- 2. manual, logical, scheduled and verify runs trip none of them --------
($ret, $out, $err) = $as->('mallory', 'appdb', q{SELECT status FROM vault.create_backup(label => 'manual')});
is($out, 'completed', 'mallory\'s manual physical backup completes') or diag($err);
($ret, $out, $err) = $as->('mallory', 'appdb',
  q{SELECT status FROM vault.create_backup(kind => 'logical', label => 'manual logical')});
is($out, 'completed', 'mallory\'s logical backup of her database completes') or diag($err);
# issue 19: create_backup is a C function now, still SECURITY DEFINER: the
# grant is all mallory needs, the row names her, and no internal function
# is hers to call.
is($q->('appdb', q{SELECT string_agg(initiated_by || ' ' || coalesce(database, '-'), ', ' ORDER BY id)
                     FROM vault.backups WHERE label IN ('manual', 'manual logical')}),
  'mallory -, mallory appdb', 'initiated_by is the caller; a physical backup has no database');
($ret, $out, $err) = $as->('mallory', 'appdb', q{SELECT * FROM vault._progress()});
like($err, qr/permission denied for function _progress/, 'mallory cannot call pgvault\'s internals');
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pgvault.schedule = '2 seconds';
ALTER SYSTEM SET pgvault.verify_schedule = '2 seconds';
SELECT pg_reload_conf();
});
$wait_for->('appdb', q{EXISTS (SELECT FROM vault.backups WHERE trigger = 'scheduled' AND status = 'completed')},
  'a scheduled backup completed');
$wait_for->('appdb', q{EXISTS (SELECT FROM vault.backups WHERE verify_status = 'passed')},
  'the verify worker verified a backup');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET pgvault.schedule;
ALTER SYSTEM RESET pgvault.verify_schedule;
SELECT pg_reload_conf();
});
$wait_for->('appdb', q{NOT EXISTS (SELECT FROM vault.backups WHERE status = 'running')}, 'the last run finished');
is($q->('appdb', q{SELECT count(*) FROM vault.backups WHERE status NOT IN ('completed', 'expired', 'skipped')}), '0',
  'every backup completed (or was skipped while another ran)');
is($q->('appdb', q{SELECT coalesce(string_agg(DISTINCT who || ': ' || what, ', '), 'nothing') FROM public.pwned}),
  'nothing', 'none of mallory\'s functions or operators ran');

# pgvault works in pgvault.database only: back to "postgres" for the rest.
$node->safe_psql('postgres', q{ALTER SYSTEM RESET pgvault.database});
$node->restart;

# --- 3. vault.restore_logical asks what DROP/CREATE DATABASE would ----------
$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE DATABASE bobdb OWNER bob;
GRANT USAGE ON SCHEMA vault TO alice, bob;
GRANT EXECUTE ON FUNCTION vault.restore_logical(text, name, boolean) TO alice, bob;
});
$node->safe_psql('bobdb', q{CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100); ALTER TABLE t OWNER TO bob});
my $name = $q->('postgres', q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'bobdb')});
like($name, qr/-logical/, "logical backup $name of bobdb");

($ret, $out, $err) = $as->('alice', 'postgres', "SELECT * FROM vault.restore_logical('$name', 'bobdb', replace => true)");
isnt($ret, 0, 'alice cannot replace bob\'s database');
like($err, qr/permission denied to replace database "bobdb": role "alice" does not own it \(its owner is "bob"\)/,
  'and is told why');
is($q->('postgres', q{SELECT count(*) FROM vault.backups WHERE trigger = 'pre_restore'}), '0',
  'no pre_restore backup was even started');
($ret, $out, $err) = $as->('alice', 'postgres', "SELECT * FROM vault.restore_logical('$name', 'alice_copy')");
isnt($ret, 0, 'alice cannot create a database without CREATEDB');
like($err, qr/permission denied to create database "alice_copy": role "alice" has neither CREATEDB nor SUPERUSER/,
  'and is told why');
is($q->('postgres', q{SELECT count(*) FROM pg_database WHERE datname IN ('alice_copy') OR datname LIKE 'pgvault\_restore\_%'}),
  '0', 'no database was created');
($ret, $out, $err) = $as->('bob', 'postgres',
  "SELECT pre_restore_backup IS NOT NULL FROM vault.restore_logical('$name', 'bobdb', replace => true)");
is($out, 't', 'bob, the owner, replaces his database (without CREATEDB)') or diag($err);
is($q->('bobdb', 'SELECT count(*) FROM public.t'), '100', 'with the backup\'s contents');

# --- 4. a dump changed in the repository is refused before pg_restore -------
my $backup_dir = "$repo_dir/$sysid/backups/$name";
my $meta_file = "$backup_dir/backup.json";
my $meta_text = slurp_file($meta_file);
my $meta = decode_json($meta_text);
my ($dump) = grep { $_->{name} =~ /^dump\.pgdump/ } @{ $meta->{objects} };
my $dump_file = "$backup_dir/$dump->{name}";
my $dump_bytes = do { local $/; open my $fh, '<:raw', $dump_file or die $!; <$fh> };
# Another logical backup's dump, swapped in, with backup.json made to agree.
my $other = $q->('postgres', q{SELECT name FROM vault.create_backup(kind => 'logical', database => 'appdb')});
my $other_bytes = do { local $/; open my $fh, '<:raw', "$repo_dir/$sysid/backups/$other/$dump->{name}" or die $!; <$fh> };
my $write = sub { my ($file, $bytes) = @_; open my $fh, '>:raw', $file or die $!; print $fh $bytes; close $fh };
$write->($dump_file, $other_bytes);
$dump->{sha256} = sha256_hex($other_bytes);
$dump->{size} = length $other_bytes;
$write->($meta_file, encode_json($meta));
my $log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM vault.restore_logical('$name', 'tampered')");
isnt($ret, 0, 'a dump swapped in the repository (backup.json agreeing) is not restored');
like($err, qr/backup "\Q$name\E" was changed in the repository after it was taken: the SHA-256 digest of its objects in backup\.json is [0-9a-f]{64}, vault\.history recorded [0-9a-f]{64}/,
  'the error says the repository no longer matches vault.history');
# One byte of the dump changed, backup.json kept: the stored bytes are read
# and checked in full before pg_restore starts.
$write->($meta_file, $meta_text);
my $flipped = $dump_bytes;
substr($flipped, length($flipped) / 2, 1) = chr(ord(substr($flipped, length($flipped) / 2, 1)) ^ 0x01);
$write->($dump_file, $flipped);
($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM vault.restore_logical('$name', 'tampered')");
isnt($ret, 0, 'a dump changed without backup.json is not restored either');
like($err, qr/object "\Q$dump->{name}\E" of backup "\Q$name\E" is corrupt: SHA-256 mismatch/, 'naming the object');
my $log = substr(slurp_file($node->logfile), $log_offset);
unlike($log, qr/CREATE DATABASE "?pgvault_restore_/, 'no scratch database was created: pg_restore never started');
is($q->('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'tampered'}), '0', 'no database tampered');
$write->($dump_file, $dump_bytes);

# A backup vault.history does not know can be checked against the repository
# only: a superuser may restore it, a granted role may not.
$node->safe_psql('postgres', "ALTER ROLE alice CREATEDB; DELETE FROM vault.backups WHERE name = '$name'");
($ret, $out, $err) = $as->('alice', 'postgres', "SELECT * FROM vault.restore_logical('$name', 'alice_copy')");
isnt($ret, 0, 'a granted role cannot restore a backup vault.history has no row for');
like($err, qr/backup "\Q$name\E" is not in vault\.history, so its dump cannot be checked against a checksum this cluster recorded; only a superuser may restore it/,
  'and is told why');
($ret, $out, $err) = $node->psql('postgres', "SELECT database FROM vault.restore_logical('$name', 'unrecorded_copy')");
is($out, 'unrecorded_copy', 'a superuser can') or diag($err);
like($err, qr/WARNING:  pgvault: backup "\Q$name\E" is not in vault\.history/, 'with a warning');

done_testing();
