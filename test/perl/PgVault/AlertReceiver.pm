# A webhook receiver on 127.0.0.1 for the alert tests: records every POST's
# path, Content-Type and JSON body, one JSON line each, and answers 200.
#   my $r = PgVault::AlertReceiver->start($tmpdir);       # any free port
#   $r->url('/hook/TOKEN');  $r->received;  $r->events;
#   $r->wait_for_events('stale', 1);  $r->stop;  $r->start_again;  # same port
package PgVault::AlertReceiver;

use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;

# Debian's python3 (scripts/setup.sh installs what the tests need for it).
our $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

my $script = <<'PY';
import http.server, json, os, sys
port_file, requests, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(requests, 'a') as f:
            f.write(json.dumps({'path': self.path, 'content_type': self.headers.get('Content-Type'),
                                'body': json.loads(body)}) + '\n')
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(('127.0.0.1', port), Handler)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + '.tmp', port_file)
server.serve_forever()
PY

sub start {
  my ($class, $dir) = @_;
  my $self = bless { dir => $dir, requests => "$dir/requests.jsonl", port => 0 }, $class;
  PostgreSQL::Test::Utils::append_to_file("$dir/receiver.py", $script) unless -e "$dir/receiver.py";
  $self->start_again;
  return $self;
}

# Starts the receiver (again) on its port (the first time: any free one).
sub start_again {
  my ($self) = @_;
  my $port_file = "$self->{dir}/port";
  unlink $port_file;
  $self->{h} = IPC::Run::start([ $python, "$self->{dir}/receiver.py", $port_file, $self->{requests}, $self->{port} ],
    '>', "$self->{dir}/receiver.out", '2>', "$self->{dir}/receiver.err");
  for (1 .. 300) {
    last if -s $port_file;
    select(undef, undef, undef, 0.1);
  }
  die 'the webhook receiver did not start: ' . slurp_file("$self->{dir}/receiver.err") unless -s $port_file;
  $self->{port} = slurp_file($port_file);
  return $self;
}

sub port { return $_[0]{port} }

sub url {
  my ($self, $path) = @_;
  return "http://127.0.0.1:$self->{port}" . ($path // '/');
}

sub stop {
  my ($self) = @_;
  $self->{h}->kill_kill if $self->{h};
  delete $self->{h};
}

# Every request so far: { path, content_type, body }.
sub received {
  my ($self) = @_;
  return () unless -e $self->{requests};
  return map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($self->{requests});
}

sub events {
  my ($self) = @_;
  return map { $_->{body}{event} } $self->received;
}

# The bodies of the requests whose event is $event (and, given, whose
# fields match: kind => 'wal').
sub bodies {
  my ($self, $event, %match) = @_;
  return grep {
    my $b = $_;
    $b->{event} eq $event && !grep { ($b->{$_} // '') ne $match{$_} } keys %match
  } map { $_->{body} } $self->received;
}

# Waits (up to 180 s: the machines are shared) until $count requests have
# event $event (and the fields of %match); true if they came.
sub wait_for_events {
  my ($self, $event, $count, %match) = @_;
  for (1 .. 1800) {
    return 1 if $self->bodies($event, %match) >= $count;
    select(undef, undef, undef, 0.1);
  }
  return 0;
}

1;
