# Real object stores on 127.0.0.1 for pgvault's TAP tests: OpenStack Swift
# with the S3 API (signatures checked) and Azurite (Azure Blob, SharedKey
# checked), run by test/servers/swift.sh and azurite.sh in a fresh tempdir.
#
#   my $s3 = PgVault::ObjectStore->start_s3();
#   $s3->create_bucket('backups');
#   ... pgvault.s3_endpoint = $s3->endpoint, s3_access_key_id, ... ($s3->pgvault_conf)
#   is_deeply([ $s3->list_keys('backups', 'prefix/') ], [...]);
#   is($s3->count_multipart_uploads('backups'), 0, 'no upload left behind');
#   $s3->stop; ...; $s3->start_again;      # same port, same data
#
#   my $az = PgVault::ObjectStore->start_azurite();
#   $az->create_container('backups'); $az->list_keys('backups');
#
# Servers still running are stopped when the object goes away and at END, so
# a failing test leaves nothing behind.  Their logs stay in $store->dir/log
# (kept by PostgreSQL::Test::Utils when a test fails).
package PgVault::ObjectStore;

use strict;
use warnings;
use Carp;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Digest::SHA qw(sha256_hex hmac_sha256_base64);
use MIME::Base64 qw(decode_base64);
use POSIX qw(strftime);
use IPC::Run;
use PostgreSQL::Test::Utils ();

# test/servers: next to test/perl, unless PGVAULT_TEST_SERVERS says otherwise.
my $servers_dir = $ENV{PGVAULT_TEST_SERVERS}
  // abs_path(dirname(__FILE__) . '/../../servers');

my $azure_version = '2020-10-02';
my %running;    # dir => object, for END

sub start_s3 { my ($class, %opts) = @_; return $class->_start('s3', %opts); }
# start_azurite(tls => 1): HTTPS with a self-signed certificate for
# 127.0.0.1, made here with openssl; ca_file is its PEM.
sub start_azurite { my ($class, %opts) = @_; return $class->_start('azure', %opts); }

sub _start {
  my ($class, $kind, %opts) = @_;
  my $dir = $opts{dir} // PostgreSQL::Test::Utils::tempdir($kind eq 's3' ? 'swift' : 'azurite');
  my $self = bless {
    kind => $kind,
    dir => abs_path($dir),
    script => "$servers_dir/" . ($kind eq 's3' ? 'swift.sh' : 'azurite.sh'),
    owner_pid => $$,
  }, $class;
  if ($opts{tls}) {
    mkdir "$self->{dir}/tls";
    my ($out, $err) = ('', '');
    IPC::Run::run([ 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', "$self->{dir}/tls/key.pem", '-out', "$self->{dir}/tls/cert.pem" ],
      '<', \undef, '>', \$out, '2>', \$err) or croak "openssl could not make a certificate: $err";
    $self->{ca_file} = "$self->{dir}/tls/cert.pem";
  }
  _exit_on_signals();
  $self->start_again;
  return $self;
}

# A test killed by INT/TERM/HUP (Ctrl-C, a CI timeout) would skip END and
# leave the servers running: turn those signals into exit(), which runs END.
# Handlers a test has set itself are left alone.
sub _exit_on_signals {
  for my $sig (qw(INT TERM HUP)) {
    next if defined $SIG{$sig} && $SIG{$sig} ne '' && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub { print STDERR "PgVault::ObjectStore: SIG$_[0], stopping the object stores\n"; exit 1; };
  }
}

# Starts the server (again) on the same port with the same data.
sub start_again {
  my ($self) = @_;
  croak "$self->{kind} server already running" if $self->{running};
  my ($out, $err) = ('', '');
  # Swift's Python servers take 30-40 s to answer on a loaded machine
  # (parallel builds and tests), more than the scripts' default 25 s.
  local $ENV{SWIFT_START_TIMEOUT} = $ENV{SWIFT_START_TIMEOUT} // 120;
  local $ENV{AZURITE_START_TIMEOUT} = $ENV{AZURITE_START_TIMEOUT} // 120;
  my $ok = IPC::Run::run([ 'bash', $self->{script}, 'start', $self->{dir} ],
    '<', \undef, '>', \$out, '2>', \$err);
  croak "could not start the $self->{kind} server in $self->{dir}:\n$out$err" unless $ok;
  my %env = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $out;
  $self->{env} = \%env;
  $self->{running} = 1;
  $running{ $self->{dir} } = $self;
  Test::More::note("$self->{kind} server at " . $self->endpoint) if Test::More->can('note');
  return $self;
}

sub stop {
  my ($self) = @_;
  return unless $self->{running} && $$ == $self->{owner_pid};
  my ($out, $err) = ('', '');
  IPC::Run::run([ 'bash', $self->{script}, 'stop', $self->{dir} ],
    '<', \undef, '>', \$out, '2>', \$err)
    or croak "could not stop the $self->{kind} server in $self->{dir}:\n$out$err";
  $self->{running} = 0;
  delete $running{ $self->{dir} };
  return;
}

sub DESTROY { local ($@, $!, $?); my $self = shift; eval { $self->stop }; }

END {
  local $?;    # keep the test's exit status
  for my $store (values %running) { eval { $store->stop }; }
}

# ------------------------------------------------------------------ accessors
sub kind { $_[0]{kind} }                       # 's3' or 'azure'
sub dir { $_[0]{dir} }                         # configs, data, log/
sub is_running { $_[0]{running} }
sub env { %{ $_[0]{env} } }                    # S3_* or AZURE_* as printed by the script

sub endpoint { $_[0]{env}{S3_ENDPOINT} // $_[0]{env}{AZURE_ENDPOINT} }
sub access_key_id { $_[0]{env}{S3_ACCESS_KEY_ID} }
sub secret_access_key { $_[0]{env}{S3_SECRET_ACCESS_KEY} }
sub region { $_[0]{env}{S3_REGION} }
sub account { $_[0]{env}{AZURE_ACCOUNT} }
sub key { $_[0]{env}{AZURE_KEY} }
sub port { ($_[0]->endpoint =~ m{:(\d+)})[0] }
sub ca_file { $_[0]{ca_file} }                 # PEM of a TLS server's certificate, else undef

# pgvault's storage settings (names as in src/core/storage/settings.cpp).
sub pgvault_settings {
  my ($self) = @_;
  return $self->{kind} eq 's3'
    ? (s3_endpoint => $self->endpoint, s3_region => $self->region, s3_uri_style => 'path',
       s3_access_key_id => $self->access_key_id, s3_secret_access_key => $self->secret_access_key)
    : (azure_endpoint => $self->endpoint, azure_account => $self->account, azure_key => $self->key);
}

# The same as postgresql.conf lines.
sub pgvault_conf {
  my %s = $_[0]->pgvault_settings;
  return join '', map { "pgvault.$_ = '$s{$_}'\n" } sort keys %s;
}

# ------------------------------------------------------------------ requests
# $store->request($method, $path, %opts): a signed request; $path is
# "/bucket/key" (S3) or "/container/blob" (Azure), without the account.
#   query   => [ name => value, ... ]   (sorted and escaped here)
#   body    => bytes
#   headers => { name => value }        (Azure: x-ms-* ones are signed)
#   timeout => seconds                  (60)
# Returns ($http_status, $body, \%headers); status 0 = no connection.
sub request {
  my ($self, $method, $path, %opts) = @_;
  croak "$self->{kind} server not running" unless $self->{running};
  my @q = @{ $opts{query} // [] };
  my @pairs;
  push @pairs, [ _uri_escape(shift @q), _uri_escape(shift(@q) // '') ] while @q;
  @pairs = sort { $a->[0] cmp $b->[0] } @pairs;
  # "name=" even for empty values: curl 7.88's SigV4 signs the query verbatim.
  my $qs = join '&', map { "$_->[0]=$_->[1]" } @pairs;
  my $url = $self->endpoint . _uri_escape($path, '/') . ($qs ne '' ? "?$qs" : '');

  my %h = %{ $opts{headers} // {} };
  my $body = $opts{body};
  my @curl = ('curl', '-sS', '--max-time', $opts{timeout} // 60,
    $method eq 'HEAD' ? ('-I') : ('-X', $method), $self->{ca_file} ? ('--cacert', $self->{ca_file}) : ());
  if ($self->{kind} eq 's3') {
    # curl --user splits at the first colon and the key is test:tester: the
    # credentials are in the netrc file swift.sh writes.
    $h{'x-amz-content-sha256'} = sha256_hex($body // '');
    push @curl, '--netrc-file', "$self->{dir}/netrc", '--aws-sigv4', 'aws:amz:' . $self->region . ':s3';
  } else {
    $h{'x-ms-date'} = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime);
    $h{'x-ms-version'} //= $azure_version;
    $h{Authorization} = 'SharedKey ' . $self->account . ':'
      . $self->_azure_signature($method, $path, \@pairs, \%h, $body);
  }
  if (defined $body) {
    $h{'Content-Type'} //= 'application/octet-stream';
    push @curl, '--data-binary', '@-';
  } elsif ($method eq 'PUT' || $method eq 'POST') {
    $h{'Content-Length'} = 0;
  }
  push @curl, '-H', "$_: $h{$_}" for sort keys %h;
  push @curl, '-D', '-', '-w', '\n%{http_code}', $url;

  my ($out, $err) = ('', '');
  IPC::Run::run(\@curl, '<', \($body // ''), '>', \$out, '2>', \$err);
  my ($status) = $out =~ s/\n(\d{3})\z//s ? ($1) : (0);
  # -D - puts the header block(s) first (possibly after a "100 Continue").
  my %resp;
  while ($out =~ s/\AHTTP\/[\d.]+ \d{3}[^\n]*\n(.*?)\r?\n\r?\n//s) {
    %resp = map { /^([^:]+):\s*(.*?)\r?$/ ? (lc $1 => $2) : () } split /\n/, $1;
  }
  return ($status, $out, \%resp);
}

sub _uri_escape {
  my ($s, $keep) = @_;
  $keep //= '';
  $s =~ s/([^A-Za-z0-9_.~\Q$keep\E-])/sprintf('%%%02X', ord $1)/ge;
  return $s;
}

# SharedKey for the emulator's path-style URLs: the canonical resource repeats
# the account ("/devstoreaccount1/devstoreaccount1/container/blob").
sub _azure_signature {
  my ($self, $method, $path, $pairs, $h, $body) = @_;
  my %lh = map { lc($_) => $h->{$_} } keys %$h;
  my $len = defined $body && length $body ? length $body : '';
  my $ctype = defined $body ? ($lh{'content-type'} // 'application/octet-stream') : '';
  my $canon_headers = join '', map { "$_:$lh{$_}\n" } sort grep { /^x-ms-/ } keys %lh;
  my $resource = '/' . $self->account . '/' . $self->account . _uri_escape($path, '/');
  $resource .= join '', map { "\n" . lc(_uri_unescape($_->[0])) . ':' . _uri_unescape($_->[1]) } @$pairs;
  my $sts = join("\n", $method, map({ $lh{$_} // '' } qw(content-encoding content-language)), $len,
    $lh{'content-md5'} // '', $ctype, '',
    map({ $lh{$_} // '' } qw(if-modified-since if-match if-none-match if-unmodified-since range)))
    . "\n$canon_headers$resource";
  my $sig = hmac_sha256_base64($sts, decode_base64($self->key));
  return $sig . '=' x ((4 - length($sig) % 4) % 4);
}

sub _uri_unescape { my $s = shift; $s =~ s/%([0-9A-F]{2})/chr hex $1/ge; return $s; }

sub _ok_request {
  my ($self, $what, @args) = @_;
  my ($status, $body, $h) = $self->request(@args);
  croak "$what: HTTP $status\n$body" unless $status =~ /^2/;
  return wantarray ? ($body, $h) : $body;
}

# --------------------------------------------------------------- conveniences
sub create_bucket {
  my ($self, $name) = @_;
  return $self->{kind} eq 's3'
    ? $self->_ok_request("create bucket $name", 'PUT', "/$name")
    : $self->_ok_request("create container $name", 'PUT', "/$name", query => [ restype => 'container' ]);
}
sub create_container { my $self = shift; return $self->create_bucket(@_); }

sub put_object {
  my ($self, $bucket, $key, $data) = @_;
  my %h = $self->{kind} eq 'azure' ? (headers => { 'x-ms-blob-type' => 'BlockBlob' }) : ();
  return $self->_ok_request("put $bucket/$key", 'PUT', "/$bucket/$key", body => $data, %h);
}

sub get_object {
  my ($self, $bucket, $key) = @_;
  return scalar $self->_ok_request("get $bucket/$key", 'GET', "/$bucket/$key");
}

sub delete_object {
  my ($self, $bucket, $key) = @_;
  return $self->_ok_request("delete $bucket/$key", 'DELETE', "/$bucket/$key");
}

# Keys (blob names) in a bucket (container) under $prefix, in listing order;
# follows continuation tokens / markers.
sub list_keys {
  my ($self, $bucket, $prefix) = @_;
  my (@keys, $token);
  do {
    my @q = defined $prefix ? (prefix => $prefix) : ();
    my $body;
    if ($self->{kind} eq 's3') {
      push @q, 'list-type' => 2;
      push @q, 'continuation-token' => $token if defined $token;
      $body = $self->_ok_request("list $bucket", 'GET', "/$bucket", query => \@q);
      push @keys, map { _xml_unescape($_) } $body =~ m{<Key>(.*?)</Key>}g;
      ($token) = $body =~ m{<NextContinuationToken>(.*?)</NextContinuationToken>};
      undef $token unless $body =~ m{<IsTruncated>true</IsTruncated>};
    } else {
      push @q, restype => 'container', comp => 'list';
      push @q, marker => $token if defined $token;
      $body = $self->_ok_request("list $bucket", 'GET', "/$bucket", query => \@q);
      push @keys, map { _xml_unescape($_) } $body =~ m{<Blob>\s*<Name>(.*?)</Name>}g;
      ($token) = $body =~ m{<NextMarker>([^<]+)</NextMarker>};
    }
  } while (defined $token);
  return @keys;
}

# Uploads begun but neither completed nor aborted: S3 in-progress multipart
# uploads (?uploads); Azure blobs that have only uncommitted blocks.
sub count_multipart_uploads {
  my ($self, $bucket) = @_;
  if ($self->{kind} eq 's3') {
    my $body = $self->_ok_request("list uploads in $bucket", 'GET', "/$bucket", query => [ uploads => '' ]);
    croak "more than 1000 uploads in progress in $bucket" if $body =~ m{<IsTruncated>true</IsTruncated>};
    my @ids = $body =~ m{<UploadId>}g;
    return scalar @ids;
  }
  my $body = $self->_ok_request("list uncommitted blobs in $bucket", 'GET', "/$bucket",
    query => [ restype => 'container', comp => 'list', include => 'uncommittedblobs' ]);
  my %committed = map { $_ => 1 } $self->list_keys($bucket);
  return scalar grep { !$committed{ _xml_unescape($_) } } $body =~ m{<Blob>\s*<Name>(.*?)</Name>}g;
}

sub _xml_unescape {
  my $s = shift;
  $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&quot;/"/g; $s =~ s/&apos;/'/g;
  $s =~ s/&#(\d+);/chr $1/ge; $s =~ s/&#x([0-9a-fA-F]+);/chr hex $1/ge; $s =~ s/&amp;/&/g;
  return $s;
}

1;
