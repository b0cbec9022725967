# issue 19, item 4: `man pgvault` and bash completion, as the build installs
# them beside the pgvault program (PREFIX/bin/pgvault,
# PREFIX/share/man/man1/pgvault.1, PREFIX/share/bash-completion/completions/pgvault).
#  - The man page renders without a warning, and names every command and
#    every option `pgvault --help` and `pgvault COMMAND --help` list (the
#    lists come from --help, so a new option without a man entry fails here).
#  - The completion script, sourced in bash, completes commands, a
#    command's options (exactly those --help lists), fixed values, and a
#    backup name from a real file:// repository; with no repository
#    configured it completes no backup name, quietly.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgVault::TestNode;

# The installed files, found from the pgvault on PATH.
my ($program) = grep { -x } map { "$_/pgvault" } File::Spec->path;
ok($program, "pgvault is on PATH ($program)") or BAIL_OUT('no pgvault');
my $prefix = dirname(dirname($program));
my $man = "$prefix/share/man/man1/pgvault.1";
my $completion = "$prefix/share/bash-completion/completions/pgvault";
ok(-f $man, "the man page is installed: $man");
ok(-f $completion, "the completion script is installed: $completion");

sub run_capture {
  my ($out, $err) = ('', '');
  IPC::Run::run([@_], '<', \undef, '>', \$out, '2>', \$err);
  return ($? >> 8, $out, $err);
}

# ---- the man page renders, without warnings ------------------------------------
my ($rc, $out, $err) = run_capture('groff', '-man', '-ww', '-z', $man);
is($rc, 0, 'groff -man -ww accepts the man page');
is($err, '', 'without a warning');
($rc, $out, $err) = run_capture('groff', '-man', '-Tutf8', '-ww', $man);
is($err, '', 'groff -man -Tutf8 -ww renders it without a warning');
{
  local $ENV{MANROFFSEQ} = '';
  ($rc, $out, $err) = run_capture('man', '--warnings', '-l', $man);
  is($rc, 0, 'man --warnings -l renders it');
  is($err, '', 'without a warning');
}
# As text, each entry on one line (no hyphenation, a long line length).
($rc, my $text, $err) = run_capture('groff', '-man', '-Tascii', '-rLL=2000n', '-P-cbou', $man);
is($rc, 0, 'rendered as plain text');

# ---- every command and option --help lists --------------------------------------
sub help_options {
  my ($help) = @_;
  my %options;
  # The option lines, up to the blank line before the footer's example.
  my ($list) = $help =~ /^Options:\n(.*?)(?:\n\n|\z)/ms;
  for my $line (split /\n/, $list // '') {
    next unless $line =~ /^\s+(-[^ ]+(?:,[^ ]+)*)/;
    $options{$_} = 1 for grep { /^-/ } split /,/, $1;
  }
  delete $options{'--prefetch-worker'};    # internal: --help does not list it either
  return \%options;
}
($rc, my $top_help) = run_capture('pgvault', '--help');
my ($commands_block) = $top_help =~ /^Subcommands:\n(.*?)(?:\n\n|\z)/ms;
my @commands = $commands_block =~ /^\s+([a-z][a-z-]*)\s/mg;
ok(@commands >= 6, 'pgvault --help lists the commands: ' . join(' ', @commands));
my ($man_commands) = $text =~ /^COMMANDS\n(.*?)^[A-Z]/ms;
for my $c (@commands) {
  like($man_commands, qr/^   \Q$c\E$/m, "the man page has a section for $c");
}
for my $o (sort keys %{ help_options($top_help) }) {
  like($text, qr/(?<![\w-])\Q$o\E(?![\w-])/, "the man page mentions pgvault $o");
}
my %options_of;
for my $c (@commands) {
  ($rc, my $help) = run_capture('pgvault', $c, '--help');
  $options_of{$c} = help_options($help);
  # The command's own section, or the common options every command takes.
  my ($section) = $man_commands =~ /^   \Q$c\E\n(.*?)(?=^   [a-z]|\z)/ms;
  my ($common) = $text =~ /^COMMON OPTIONS\n(.*?)^[A-Z]/ms;
  for my $o (sort keys %{ $options_of{$c} }) {
    like("$section\n$common", qr/(?<![\w-])\Q$o\E(?![\w-])/, "the man page's $c section (or the common options) mentions $o");
  }
}

# ---- bash completion ----------------------------------------------------------------
# Sources the script in a fresh bash and calls its function for WORDS with
# the cursor on the last word; the candidates, one per line.
sub complete {
  my (@words) = @_;
  my $script = qq{source '$completion' || exit 9
COMP_WORDS=(@{[ join ' ', map { my $w = $_; $w =~ s/'/'\\''/g; "'$w'" } @words ]})
COMP_CWORD=@{[ $#words ]}
COMP_LINE="\${COMP_WORDS[*]}"
COMP_POINT=\${#COMP_LINE}
_pgvault pgvault "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
};
  my ($rc, $out, $err) = run_capture('bash', '--norc', '--noprofile', '-c', $script);
  is($err, '', "completing '@words' prints nothing on standard error");
  return [ sort grep { $_ ne '' } split /\n/, $out ];
}

is_deeply(complete('pgvault', ''), [ sort(@commands, '--help', '--version') ], 'the commands, and --help, --version');
is_deeply(complete('pgvault', 're'), [qw(report restore)], 're: report, restore');
is_deeply(complete('pgvault', 'res'), ['restore'], 'res: restore');
is_deeply(complete('pgvault', 'wal'), ['wal-fetch'], 'wal: wal-fetch');
for my $c (@commands) {
  my %want = (%{ $options_of{$c} });
  my @long = grep { /^--/ } keys %want;
  is_deeply(complete('pgvault', $c, '--'), [ sort @long ], "$c: exactly the long options --help lists");
}
is_deeply(complete('pgvault', 'restore', '--tab'), ['--tablespace-mapping'], 'restore --tab: --tablespace-mapping');
is_deeply(complete('pgvault', 'restore', '--archive-mode', ''), [qw(off preserve)], '--archive-mode: off, preserve');
is_deeply(complete('pgvault', 'verify', '--kind', 'l'), ['logical'], '--kind l: logical');
is_deeply(complete('pgvault', 'report', '--format', 'c'), ['csv'], 'report --format c: csv');
is_deeply(complete('pgvault', 'report', '--schedule', ''), [], "report --schedule: a cron line, nothing offered");
is_deeply(complete('pgvault', 'restore', '--schedule', ''), [qw(off preserve)], 'restore --schedule: off, preserve');

# Backup names from a real repository.
my ($node, $repo) = new_vault_node('completion');
my $name = $node->safe_psql('postgres', 'SELECT name FROM vault.create_backup()');
like($name, qr/^\d{8}T\d{6}Z-physical$/, "a backup in the repository: $name");
is_deeply(complete('pgvault', 'restore', '--repo', $repo, '--backup', ''), [ sort('latest', $name) ],
  '--backup: "latest" and the repository\'s backup name, with --repo on the line');
is_deeply(complete('pgvault', 'verify', '--repo', $repo, '--backup', substr($name, 0, 6)), [$name],
  'a prefix completes the name');
is_deeply(complete('pgvault', 'info', '--repo', $repo, ''), [ sort('latest', $name) ],
  'info: its argument is a backup name');
{
  local $ENV{PGVAULT_REPOSITORY} = $repo;
  is_deeply(complete('pgvault', 'get', '--backup', ''), [ sort('latest', $name) ], 'or with $PGVAULT_REPOSITORY');
}
{
  delete local $ENV{PGVAULT_REPOSITORY};
  delete local $ENV{PGVAULT_CONFIG};
  is_deeply(complete('pgvault', 'restore', '--backup', ''), ['latest'],
    'no repository configured: no backup name, and nothing printed');
  is_deeply(complete('pgvault', 'restore', '--repo', 'file:///nonexistent/repo', '--backup', ''), ['latest'],
    'a repository that cannot be read: the same, quietly');
}
$node->stop;

done_testing();
