# Runs the installed `pgvault` command for a TAP test.
package PgVault::Cli;

use strict;
use warnings;
use IPC::Run;
use Exporter 'import';

our @EXPORT = qw(pgvault);

# pgvault(ARGS...): runs `pgvault ARGS` with no standard input; returns
# (success, standard output, standard error).
sub pgvault {
  my ($out, $err) = ('', '');
  my $ok = IPC::Run::run([ 'pgvault', @_ ], '<', \undef, '>', \$out, '2>', \$err);
  return ($ok, $out, $err);
}

1;
