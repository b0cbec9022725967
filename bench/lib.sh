# Helpers shared by the side-by-side benchmarks (bench/run.sh,
# bench/incremental.sh). Sourced, not run. The caller sources
# scripts/common.sh first and sets, before calling what uses them:
#   dir (scratch directory, also the server's socket directory), port,
#   zstd_level, cores.
# Every result goes into TIMES/PEAK/OUT through `record`.

log() { printf '[%s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Installs the Debian packages named that are missing.
install_missing_packages() {  # package...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Parses [--size-gb N] [--runs R] into size_gb and runs (the caller sets
# their defaults first); $1 is the usage line shown for bad arguments.
parse_size_and_runs() {
  local usage_line=$1
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --size-gb) [ $# -ge 2 ] || bench_usage "$usage_line"; size_gb=$2; shift 2 ;;
      --size-gb=*) size_gb=${1#*=}; shift ;;
      --runs) [ $# -ge 2 ] || bench_usage "$usage_line"; runs=$2; shift 2 ;;
      --runs=*) runs=${1#*=}; shift ;;
      -h|--help) bench_usage "$usage_line" ;;
      *) echo "unknown argument: $1" >&2; bench_usage "$usage_line" ;;
    esac
  done
  [[ $size_gb =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$size_gb" 'BEGIN{exit !(s > 0)}' ||
    { echo "--size-gb must be a positive number" >&2; exit 2; }
  [[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive integer" >&2; exit 2; }
}
bench_usage() { echo "$1" >&2; exit 2; }

sql() { as_pg_user psql -X -h "$dir" -p "$port" -U postgres -d "${DB:-postgres}" -v ON_ERROR_STOP=1 -Atq "$@"; }

# A pgBackRest configuration file: the repository's lines in $2, the rest is
# shared by every repository (stanza bench). Mode 600: it may hold a secret key.
write_pgbr_conf() {  # file repository-lines
  (umask 077 && cat >"$1") <<EOF
[global]
$2
repo1-retention-full=1000
log-path=$dir/pgbr-log
lock-path=$dir/pgbr-lock
spool-path=$dir/pgbr-spool
log-level-console=warn
log-level-file=off
start-fast=y
compress-type=zst
compress-level=$zstd_level
process-max=$cores

[bench]
pg1-path=$dir/data
pg1-socket-path=$dir
pg1-port=$port
pg1-user=postgres
EOF
  [ "$(id -u)" -ne 0 ] || chown "$PGVAULT_TEST_USER" "$1"
}
# Archives WAL into the pgBackRest repository of a configuration file from now on.
archive_to() {  # pgBackRest configuration file
  sql -c "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$1 --stanza=bench archive-push %p'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
}

# Runs a command, its output into $dir/cmd.log; on failure shows the log and dies.
quiet() {
  if ! "$@" >"$dir/cmd.log" 2>&1; then
    tail -n 30 "$dir/cmd.log" >&2
    die "failed: $*"
  fi
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
mib() { awk -v b="$1" 'BEGIN{printf "%.0f", b / 1048576}'; }
# printf: mawk prints a sum past 2^31 as 3.26295e+09, which bash cannot count with.
dir_bytes() { du -sb "$@" | awk '{s += $1} END{printf "%.0f\n", s}'; }
median() {  # of the space-separated list in $1
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR] = $1} END{
    if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Every timed step starts with nothing left to write back: without it, the
# step after a restore (3 GB written) paid for that restore's write-back,
# and which tool that was depended on the order of the steps.
# And with the server's current WAL segment in place: a backup ends with a
# WAL switch, and the first commit after it creates (zero-fills, fsyncs) the
# next 16 MB segment unless a recycled one is there. pgvault's job commits
# its row right after (in the background now), pg_basebackup and pgBackRest
# commit nothing, so whichever step came next paid 20-45 ms for the step
# before it (seen in strace: the job worker's audit row after a
# pg_basebackup). A transaction of its own here pays it, untimed.
settle() {
  if [ -n "${dir:-}" ] && [ -n "${port:-}" ] && [ -S "$dir/.s.PGSQL.$port" ]; then
    sql -c 'SELECT pg_catalog.txid_current()' >/dev/null 2>&1 || true
  fi
  sync
}

# Takes a pgvault backup (create_backup args in $1) with wait => true, timed
# as `timed` times the other tools. Sets T (s), SIZE (stored bytes), RSS (kB),
# NAME. RSS is the job worker's peak RSS from its last log line (getrusage's
# ru_maxrss, what GNU time reports of the other tools): sampling /proc from
# the shell beside the backup took 10-30 ms of CPU from the backup it timed.
pgvault_backup() {
  local args=$1 t0 t1
  settle
  t0=$EPOCHREALTIME
  sql -c "SELECT status FROM vault.create_backup($args)" >"$dir/cmd.log" 2>&1 ||
    { cat "$dir/cmd.log" >&2; die "pgvault backup ($args) failed"; }
  t1=$EPOCHREALTIME
  T=$(elapsed "$t0" "$t1")
  local row
  row=$(sql -F ' ' -c "SELECT name, stored_bytes, status FROM vault.history ORDER BY id DESC LIMIT 1")
  read -r NAME SIZE _ <<<"$row"
  [ "${row##* }" = completed ] || die "pgvault backup $NAME: ${row##* }"
  job_worker_rss "$NAME"
}
# The peak RSS (kB) the job worker of backup $1 logged at its end
# ("job worker peak memory 41 MB (RSS)", pg_size_pretty's units); sets RSS.
job_worker_rss() {
  local line
  line=$(grep -o "backup \"$1\": job worker peak memory [0-9]* [a-zA-Z]*" "$dir/server.log" | tail -n 1)
  [ -n "$line" ] || die "no peak memory line for backup $1 in $dir/server.log"
  RSS=$(awk '{v = $(NF - 1); u = $NF
    printf "%.0f", u == "bytes" ? v / 1024 : u == "kB" ? v : u == "MB" ? v * 1024 : v * 1048576}' <<<"$line")
}
# Runs a command as the server's user under GNU time: sets T (s) and RSS (kB).
timed() {
  local t0 t1
  settle
  t0=$EPOCHREALTIME
  quiet as_pg_user /usr/bin/time -f '%M' -o "$dir/time.out" "$@"
  t1=$EPOCHREALTIME
  T=$(elapsed "$t0" "$t1")
  RSS=$(tail -n 1 "$dir/time.out")
}

# Results: per key, the list of wall times, the largest RSS, the last size.
declare -A TIMES=() PEAK=() OUT=()
record() {  # key
  TIMES[$1]="${TIMES[$1]:-} $T"
  [ "${RSS:-0}" -gt "${PEAK[$1]:-0}" ] && PEAK[$1]=$RSS
  OUT[$1]=${SIZE:-}
  log "  $1: ${T}s, output $(mib "${SIZE:-0}") MB, peak RSS $(( ${RSS:-0} / 1024 )) MB"
}
med() { median "${TIMES[$1]}"; }
runs_list() { tr ' ' '\n' <<<"${TIMES[$1]}" | grep . | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $1}'; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.2f", a / b}'; }
verdict() {  # value limit
  awk -v v="$1" -v l="$2" 'BEGIN{print (v <= l ? "met" : "**missed**")}'
}

# Builds and installs pgvault (NO_BUILD=1: measures what is installed already)
# and makes the unprivileged user the servers and tools run as.
prepare_pgvault() {
  if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building and installing pgvault (scripts/build.sh)"
    bash "$PGVAULT_ROOT/scripts/build.sh" >/dev/null
  fi
  ensure_test_user
}
