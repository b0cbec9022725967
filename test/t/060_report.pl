# The audit report (issue 18): `pgvault report` over a repository with
# backups on several simulated days. Real backups are taken today (a full
# and a logical one; a logical one that fails, known to vault.history only);
# the days before are copies of them whose backup.json says they ran then
# (the repository format allows it: the store is the source of truth), with
# a day with nothing, a backup that never completed (objects, no
# backup.json) and a damaged backup.json. A verification and two restores
# (one that fails) are recorded by the CLI. The HTML must be well-formed
# XML (python3's xml.etree parses it), list every run, mark the missed day
# and the failures on the calendar, agree with vault.history and the CSV
# (whose SHA-256 it carries); the CSV round-trips through python3's csv
# module with the JSON's rows. Then a real browser: headless Chromium with
# no network loads the page, a screenshot is not blank, the DOM has the
# calendar and both charts, and it prints to PDF.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy);
use File::Path qw(make_path);
use POSIX qw(strftime);
use PgVault::TestNode;

my ($python) = grep { $_ eq 'python3' || -x $_ } ('/usr/bin/python3', 'python3');

my ($node, $repo) = new_vault_node('report',
  conf => "archive_mode = on\narchive_library = 'pgvault'\nwal_keep_size = '1GB'\n");
sub sql { $node->safe_psql('postgres', shift) }
my ($root) = $repo =~ m{^file://(.*)$};
my $sysid = sql('SELECT system_identifier FROM pg_control_system()');
my $tmp = PostgreSQL::Test::Utils::tempdir();

sql(q{CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g});
my $full = sql(q{SELECT name FROM vault.create_backup()});
my $logical = sql(q{SELECT name FROM vault.create_backup(kind => 'logical')});
my ($rc) = $node->psql('postgres',
  q{SELECT * FROM vault.create_backup(kind => 'logical', include_tables => ARRAY['no_such_table'])});
isnt($rc, 0, 'a logical backup of a missing table fails (vault.history only)');
sql(q{SELECT pg_switch_wal()});
ok($node->poll_query_until('postgres', 'SELECT archived_count > 0 FROM pg_stat_archiver'),
  'WAL is archived');

# The simulated days, before today (UTC): D-5 .. D-1.
my $today = int(time / 86400) * 86400;
sub day { strftime('%Y-%m-%d', gmtime($today - 86400 * shift)) }
sub stamp { my ($days_ago, $hour) = @_; strftime('%Y%m%dT%H0000Z', gmtime($today - 86400 * $days_ago + 3600 * $hour)) }
sub iso { my ($days_ago, $hour, $sec) = @_;
  strftime('%Y-%m-%dT%H:00:', gmtime($today - 86400 * $days_ago + 3600 * $hour)) . sprintf('%02d.000Z', $sec) }
my $backups = "$root/$sysid/backups";

# A copy of a real backup that says it ran days_ago at hour, for seconds.
sub copy_backup {
  my ($from, $kind, $days_ago, $hour, $seconds, %fields) = @_;
  my $name = stamp($days_ago, $hour) . "-$kind";
  make_path("$backups/$name");
  opendir(my $dh, "$backups/$from") or die $!;
  for my $f (grep { !/^\./ && $_ ne 'backup.json' } readdir $dh) {
    copy("$backups/$from/$f", "$backups/$name/$f") or die $!;
  }
  closedir $dh;
  my $meta = decode_json(slurp_file("$backups/$from/backup.json"));
  $meta->{name} = $name;
  $meta->{trigger} = 'scheduled';
  $meta->{started_at} = iso($days_ago, $hour, 0);
  $meta->{completed_at} = iso($days_ago, $hour, $seconds);
  $meta->{$_} = $fields{$_} for keys %fields;
  open(my $fh, '>', "$backups/$name/backup.json") or die $!;
  print $fh JSON::PP->new->canonical->encode($meta);
  close $fh;
  return $name;
}
my $evil = '<script>alert(1)</script> & "x"';
my @copies = (
  copy_backup($full, 'physical', 5, 2, 30, initiated_by => $evil),
  copy_backup($full, 'physical', 4, 2, 40),
  copy_backup($logical, 'logical', 4, 3, 5),
  copy_backup($full, 'physical', 1, 5, 50),
);
# D-3: nothing. D-2: a backup that never completed. D-1: a damaged one, then a retry that completed.
my $incomplete = stamp(2, 2) . '-physical';
make_path("$backups/$incomplete");
copy("$backups/$full/backup_manifest", "$backups/$incomplete/backup_manifest") or die $!;
my $damaged = stamp(1, 2) . '-physical';
make_path("$backups/$damaged");
open(my $fh, '>', "$backups/$damaged/backup.json") or die $!;
print $fh '{"format_version": 1, "name": ';
close $fh;

# A verification and two restores, recorded by the CLI.
my ($out, $err) = run_command([ 'pgvault', 'verify', '--repo', $repo, '--backup', $full ]);
like($out, qr/backup \Q$full\E verified/, 'pgvault verify passes') or diag($err);
($out, $err) = run_command([ 'pgvault', 'restore', '--repo', $repo, '--backup', $full, '--pgdata', "$tmp/restored" ]);
like($out, qr/restored \d+ files/, 'pgvault restore succeeds') or diag($err);
my @records = glob("$root/$sysid/restores/*.json");
is(scalar @records, 1, 'the restore is recorded in the repository');
my $record = decode_json(slurp_file($records[0]));
is("$record->{backup} $record->{status} $record->{restore} $record->{target}",
  "$full succeeded restore $tmp/restored", 'what was restored, where, and how it ended');
ok($record->{restored_by} =~ /\S/ && $record->{bytes_written} > 0, 'by whom, and how much');
run_command([ 'pgvault', 'restore', '--repo', $repo, '--backup', $full, '--pgdata', "$tmp/restored" ]);
@records = sort glob("$root/$sysid/restores/*.json");
is(scalar @records, 2, 'a restore into a directory that is not empty is recorded too');
my ($failed_record) = grep { $_->{status} eq 'failed' } map { decode_json(slurp_file($_)) } @records;
ok($failed_record && $failed_record->{error} =~ /\S/, 'as failed, with why');
($out, $err) = run_command([ 'pgvault', 'verify', '--repo', $repo, '--backup', $full, '--restore-test' ]);
like($out, qr/restore test passed/, 'a restore test passes') or diag($err);
@records = glob("$root/$sysid/restores/*.json");
is(scalar @records, 3, 'and is recorded');
is(scalar(grep { $_->{restore} eq 'restore test' && $_->{status} eq 'succeeded' && $_->{target} eq 'scratch directory' }
  map { decode_json(slurp_file($_)) } @records), 1, 'as a restore test that succeeded');

# Read-only credentials: the store refuses the record; the restore warns and succeeds.
SKIP: {
  skip 'root ignores file modes', 3 if $> == 0;
  chmod 0500, "$root/$sysid/restores" or die $!;
  ($out, $err) = run_command([ 'pgvault', 'restore', '--repo', $repo, '--backup', $full, '--pgdata', "$tmp/restored2" ]);
  chmod 0700, "$root/$sysid/restores";
  like($out, qr/restored \d+ files/, 'a restore succeeds on a read-only store');
  like($err, qr/warning: the restore of backup "\Q$full\E" was not recorded in the repository/,
    'with a warning that it was not recorded');
  is(scalar(my @now = glob("$root/$sysid/restores/*.json")), 3, 'no record was written');
}

# The report, for a fixed period (so that the CSV can be made again for its checksum).
my $since = day(5);
my $until = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 60));
my @period = ('--since', $since, '--until', $until);
my @report = ('pgvault', 'report', '--repo', $repo, @period, '--schedule', '0 2 * * *');
($out, $err) = run_command([ @report, '-o', "$tmp/report.html" ]);
is($out, '', 'pgvault report -o writes nothing to standard output') or diag($err);
ok(-s "$tmp/report.html", 'the report is written');
my $html = slurp_file("$tmp/report.html");
unlike($html, qr/<script|<link|<img|\@import|url\(|https?:\/\/(?!www\.w3\.org\/)/i,
  'self-contained: no script, no external reference');

# Everything the page says, from a strict XML parser.
my ($parsed, $perr) = run_command([ $python, '-c', q{
import json, sys, xml.etree.ElementTree as ET
ns = {'h': 'http://www.w3.org/1999/xhtml', 's': 'http://www.w3.org/2000/svg'}
root = ET.parse(sys.argv[1]).getroot()
sysid = sys.argv[2]
def text(e): return ''.join(e.itertext())
out = {'runs': [], 'days': [], 'items': [], 'charts': {}, 'restores': []}
for tr in root.iterfind('.//h:table[@id="runs-%s"]/h:tbody/h:tr' % sysid, ns):
    out['runs'].append({'name': tr.get('data-name'), 'status': tr.get('data-status'),
                        'cells': [text(td) for td in tr.iterfind('h:td', ns)]})
for kind in root.iterfind('.//h:div[@id="calendar-%s"]/h:div' % sysid, ns):
    for d in kind.iterfind('.//h:span[@data-date]', ns):
        out['days'].append({'kind': kind.get('data-kind'), 'date': d.get('data-date'),
                            'status': d.get('data-status'), 'failed': d.get('data-failed'),
                            'completed': d.get('data-completed')})
headline = root.find('.//h:div[@id="headline-%s"]' % sysid, ns)
out['colour'] = headline.get('data-colour')
for tr in headline.iterfind('.//h:tr', ns):
    out['items'].append({'colour': tr.get('data-colour'), 'text': text(tr)})
for svg in root.iterfind('.//s:svg', ns):
    out['charts'][svg.get('id')] = {'points': len(svg.findall('.//s:circle', ns)),
                                    'failures': len(svg.findall('.//s:g[@class="failure"]', ns))}
for tr in root.iterfind('.//h:table[@id="restores-%s"]/h:tbody/h:tr' % sysid, ns):
    out['restores'].append([text(td) for td in tr.iterfind('h:td', ns)])
out['sha'] = text(root.find('.//h:span[@id="csv-sha256"]', ns))
out['scripts'] = len(root.findall('.//h:script', ns))
print(json.dumps(out))
}, "$tmp/report.html", $sysid ]);
is($perr, '', 'the page is well-formed XML') or diag($perr);
my $page = decode_json($parsed);

# Every run of the period is in the table.
my %row = map { $_->{name} => $_ } @{ $page->{runs} };
my @expected = ($full, $logical, @copies, $incomplete, $damaged);
is(scalar @{ $page->{runs} }, scalar @expected, 'as many rows as runs');
ok($row{$_}, "run $_ is in the table") for @expected;
is($row{$incomplete}{status}, 'incomplete', 'the run that never completed is shown as incomplete');
like(join(' ', @{ $row{$incomplete}{cells} }), qr/no backup\.json/, 'with why');
is($row{$damaged}{status}, 'damaged', 'the damaged backup is shown');
is($row{$_}{status}, 'completed', "$_ completed") for ($full, $logical, @copies);
like(join(' ', @{ $row{$full}{cells} }), qr/passed .* by pgvault verify/, 'the verification is shown');
is($page->{scripts}, 0, 'no script element');
ok(grep({ $_ eq $evil } @{ $row{ $copies[0] }{cells} }),
  'text from the repository is shown as text, escaped');

# The calendar: the missed day and the failures.
my %physical = map { $_->{date} => $_ } grep { $_->{kind} eq 'physical' } @{ $page->{days} };
is($physical{ day(5) }{status}, 'completed', 'D-5: completed');
is($physical{ day(4) }{status}, 'completed', 'D-4: completed');
is($physical{ day(3) }{status}, 'missed', 'D-3: missed (the schedule fired, nothing ran)');
is($physical{ day(2) }{status}, 'failures only', 'D-2: only a failure');
is("$physical{ day(1) }{status} $physical{ day(1) }{completed} $physical{ day(1) }{failed}",
  'completed 1 1', 'D-1: a failure and a completed retry');
is($physical{ day(0) }{status}, 'completed', 'today: completed');
my %logical_days = map { $_->{date} => $_->{status} } grep { $_->{kind} eq 'logical' } @{ $page->{days} };
is($logical_days{ day(3) }, 'nothing', 'logical backups have no schedule: nothing, not missed');
is($logical_days{ day(4) }, 'completed', 'the logical copy is on its day');

# The headline: amber, with its reasons.
is($page->{colour}, 'amber', 'the headline is amber');
my $items = join("\n", map { "$_->{colour}: $_->{text}" } @{ $page->{items} });
like($items, qr/^green: Newest restorable backup \(physical\)\s*green\s*\Q$full\E, completed /m,
  'the newest restorable backup is today\'s, green');
like($items, qr/^amber: Runs in the period.*1 run did not complete; 1 backup\.json cannot be used; 1 scheduled day has no backup/m,
  'amber because of the failures and the missed day') or diag($items);
like($items, qr/^amber: Restores in the period.*3 restores recorded \(1 restore test\), 1 failed.*1 restore failed/m,
  'and the failed restore');
like($items, qr/^green: Recoverable window \(archived WAL\).*from .* to /m, 'a recoverable window');

# The charts: a point per completed backup (stored and source; duration), failures marked.
my $completed = 2 + @copies;
is($page->{charts}{"chart-size-$sysid"}{points}, 2 * $completed, 'size chart: stored and source of each backup');
is($page->{charts}{"chart-duration-$sysid"}{points}, $completed, 'duration chart: each backup');
is($page->{charts}{"chart-size-$sysid"}{failures}, 2, 'the two failures are marked');
is(scalar @{ $page->{restores} }, 3, 'the restores are listed');
like(join(' ', @{ $row{$full}{cells} }), qr/\(restore-tested\)/, 'the backup is marked restore-tested');

# The numbers match vault.history: every completed row, its sizes and times.
($out) = run_command([ @report, '--format', 'json' ]);
my $json = decode_json($out);
my %json_row = map { $_->{name} => $_ } @{ $json->{runs} };
for my $line (split /\n/, sql(q{SELECT name, source_bytes, stored_bytes,
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') FROM vault.history
    WHERE status = 'completed' ORDER BY name})) {
  my ($name, $source, $stored, $started) = split /\|/, $line;
  is("$json_row{$name}{source_bytes} $json_row{$name}{stored_bytes}", "$source $stored",
    "$name: sizes as vault.history says");
  cmp_ok(abs(sql(qq{SELECT extract(epoch FROM '$json_row{$name}{started_at}'::timestamptz - '${started}Z'::timestamptz)})),
    '<', 5, "$name: started when vault.history says");
}
is(sql(q{SELECT count(*) FROM vault.history WHERE status = 'failed'}), '1',
  'the failed run is in vault.history');
is(scalar(grep { $_->{status} eq 'failed' } @{ $json->{runs} }), 0,
  'and not in the report from the repository alone: it left nothing there');

# --format csv: its SHA-256 is the page's; python3's csv module reads the JSON's rows back.
($out, $err) = run_command([ @report, '--format', 'csv', '-o', "$tmp/runs.csv" ]);
is($err, '', 'pgvault report --format csv') or diag($err);
my $csv = slurp_file("$tmp/runs.csv");
is(sha256_hex($csv), $page->{sha}, 'the page carries the SHA-256 of the CSV of its period');
open($fh, '>', "$tmp/runs.json") or die $!;
print $fh encode_json($json->{runs});
close $fh;
my ($roundtrip, $cerr) = run_command([ $python, '-c', q{
import csv, io, json, sys
raw = open(sys.argv[1], newline='').read()
rows = list(csv.DictReader(io.StringIO(raw, newline='')))
expected = json.load(open(sys.argv[2]))
assert rows == expected, (rows, expected)
again = io.StringIO(newline='')
w = csv.DictWriter(again, fieldnames=list(rows[0].keys()), lineterminator='\r\n')
w.writeheader()
w.writerows(rows)
assert again.getvalue() == raw, 'written again, the CSV differs'
print(len(rows))
}, "$tmp/runs.csv", "$tmp/runs.json" ]);
is($cerr, '', 'the CSV round-trips through python3\'s csv module') or diag($cerr);
is($roundtrip, scalar @expected, 'with every run');
like($csv, qr/\r\n"?[^\r\n]*\Q<script>alert(1)<\/script> & \E""x""/, 'quotes doubled, text as it is');

# Bad input is refused with what is allowed.
(undef, $err) = run_command([ 'pgvault', 'report', '--repo', $repo, '--since', 'yesterday' ]);
like($err, qr/invalid --since "yesterday" \(allowed: a duration/, 'a bad --since is named');
(undef, $err) = run_command([ 'pgvault', 'report', '--repo', $repo, '--schedule', '61 2 * * *' ]);
like($err, qr/--schedule: invalid minute '61'/, 'a bad schedule is named');

# --dbname: vault.history's failed run (it left nothing in the repository)
# joins the table; the database's pgvault.schedule (a time that never comes
# during the test) is used when no --schedule is given.
sql(q{ALTER SYSTEM SET pgvault.schedule = '0 2 29 2 *'});
sql(q{SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT current_setting('pgvault.schedule') = '0 2 29 2 *'}),
  'the schedule is set');
my @with_db = ('pgvault', 'report', '--repo', $repo, @period, '--dbname', $node->connstr('postgres'));
($out, $err) = run_command([ @with_db, '--format', 'json' ]);
my $db_json = decode_json($out);
is(scalar @{ $db_json->{runs} }, @expected + 1, 'with --dbname: one more run') or diag($err);
my ($history_failure) = grep { $_->{status} eq 'failed' } @{ $db_json->{runs} };
is("$history_failure->{kind} $history_failure->{source}", 'logical vault.history',
  'the failed logical run, from vault.history');
like($history_failure->{error}, qr/no_such_table|no matching/, 'with its error');
my %db_row = map { $_->{name} => $_ } @{ $db_json->{runs} };
is($db_row{$full}{source}, 'repository, vault.history', 'a run both know is merged');
like($db_json->{sources}, qr/^repository, vault\.history of database "postgres"/, 'both sources named');
($out, $err) = run_command([ @with_db, '-o', "$tmp/report-db.html" ]);
my $db_html = slurp_file("$tmp/report-db.html");
like($db_html, qr/schedule 0 2 29 2 \* \(UTC\), from pgvault\.schedule of the database/,
  'the calendar says where the schedule came from');
like($db_html, qr/failed \(vault\.history\)/, 'the table marks the run only the database knows');
($out, $err) = run_command([ 'pgvault', 'report', '--repo', $repo, '--dbname', 'host=/nonexistent port=1' ]);
like($err, qr/--dbname: cannot connect:/, 'a database that cannot be reached is an error');

# A real browser, with no network: a screenshot that is not blank, the DOM, a PDF.
SKIP: {
  my ($chromium) = grep { -x $_ } ('/usr/bin/chromium', '/usr/bin/chromium-browser');
  skip 'chromium is not installed (scripts/setup.sh installs it)', 7 unless $chromium;
  my @isolate;
  # unshare -n needs root; -r maps the user to root in a new user namespace first.
  for my $try ([ 'unshare', '-n' ], [ 'unshare', '-r', '-n' ]) {
    if (system('sh', '-c', "@$try true 2>/dev/null") == 0) { @isolate = @$try; last; }
  }
  if (@isolate) {
    my ($interfaces) = run_command([ @isolate, 'cat', '/proc/net/dev' ]);
    unlike($interfaces, qr/^\s*(?!lo:)[\w.-]+:/m, "@isolate: no network interface but loopback");
  } else {
    diag('unshare is not available: Chromium runs with its network features off only');
  }
  my $browse = sub {
    my $profile = PostgreSQL::Test::Utils::tempdir();
    local $ENV{HOME} = $profile;
    return run_command([ @isolate, $chromium, '--headless', '--no-sandbox', '--disable-gpu',
      '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', "--user-data-dir=$profile/chromium",
      '--window-size=1280,2400', @_, "file://$tmp/report.html" ]);
  };
  my ($dom, $derr) = $browse->('--dump-dom');
  like($dom, qr/id="calendar-\Q$sysid\E"/, 'the browser\'s DOM has the calendar') or diag($derr);
  like($dom, qr/<svg[^>]*id="chart-size-\Q$sysid\E"/, 'and the size chart');
  like($dom, qr/<svg[^>]*id="chart-duration-\Q$sysid\E"/, 'and the duration chart');
  $browse->("--screenshot=$tmp/report.png");
  ok(-s "$tmp/report.png", 'a screenshot is taken');
  my ($colours, $perr2) = run_command([ $python, '-c', q{
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, width, height, bpp = 8, b'', 0, 0, 0
while pos < len(data):
    length, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b'IHDR':
        width, height, depth, colour = struct.unpack('>IIBB', body[:10])
        assert depth == 8 and colour in (2, 6), 'unexpected PNG type'
        bpp = 3 if colour == 2 else 4
    elif kind == b'IDAT':
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
seen = set()
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 2):
            seen.add(bytes(line[x:x + 3]))
    prev = line
print(len(seen))
}, "$tmp/report.png" ]);
  cmp_ok($colours || 0, '>', 10, 'the screenshot is not blank (many colours)') or diag($perr2);
  $browse->('--no-pdf-header-footer', "--print-to-pdf=$tmp/report.pdf");
  ok(-s "$tmp/report.pdf", 'it prints to PDF');
  like(substr(slurp_file("$tmp/report.pdf"), 0, 5), qr/^%PDF-/, 'a PDF file');
}

done_testing();
