#!/usr/bin/env bash
# WAL archiving and point-in-time replay, side by side: pgvault's archive
# module (archive_library = 'pgvault') against pgBackRest (archive-push and
# archive-get, both async, process-max = cores), into the same kind of
# repository — a directory on the local disk and the S3 server of the tests
# (OpenStack Swift with s3api over HTTPS on 127.0.0.1, test/servers/swift.sh).
# Not part of the test suite (it takes minutes).
#
#   bash bench/wal_archive.sh            (as root or with sudo)
#
# Environment (defaults in brackets):
#   DURATION      seconds pgbench writes in each archiving run [60]
#   SCALE         pgbench scale of the database [20]
#   CLIENTS       pgbench clients (-c; -j is the core count) [4]
#   WORKLOAD      bulk: each pgbench transaction inserts 1000 rows (about 100 kB
#                 of WAL), or tpcb: pgbench's default tpcb-like script [bulk]
#   REPLAY_GB     GB of WAL replayed in each PITR restore [1]
#   STORES        which repositories, in order ["file s3"]
#   RUNS          rounds of every measurement, medians reported [1]
#   ZSTD_LEVEL    compression of both tools: zstd at this level [3]
#   PARALLEL      pgvault.archive_parallel and pgBackRest's process-max [cores]
#   WAL_FETCH_OPTIONS  extra options for `pgvault wal-fetch` (e.g. --prefetch N) []
#   ARCHIVING=0   measure replay only (skip part 1, archiving while pgbench writes) [1]
#   NO_BUILD=1    use the installed pgvault instead of running scripts/build.sh
#   KEEP=1        keep the scratch directory
#
# What it measures, for each store:
# 1. Archiving while pgbench (WORKLOAD, -c CLIENTS -j cores) writes as fast as
#    it can for DURATION seconds, one fresh copy of the same cluster per tool:
#    segments archived per second in that window (pg_stat_archiver), the
#    largest .ready backlog (pg_wal/archive_status sampled every 0.5 s), the
#    time from pgbench's end until no .ready is left (drain), the WAL written
#    and pgbench's TPS.
# 2. Replay of REPLAY_GB of archived WAL from a base taken before the writes:
#    the same WAL (written once, by pgbench, archived by `cp`) is put into a
#    repository of each tool by a standby with archive_mode = always, then the
#    base is restored with recovery.signal and restore_command = `pgvault
#    wal-fetch`, `pgbackrest archive-get` or `cp` (WAL already local: the floor,
#    PostgreSQL's own redo speed) and timed from start to the end of recovery
#    (pg_is_in_recovery() false).
# The medians go to bench/WAL_RESULTS.md (and are printed). Everything it
# started or created is stopped and removed on exit, also on failure.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"

duration=${DURATION:-60}
scale=${SCALE:-20}
clients=${CLIENTS:-4}
workload=${WORKLOAD:-bulk}
replay_gb=${REPLAY_GB:-1}
stores=${STORES:-file s3}
runs=${RUNS:-1}
zstd_level=${ZSTD_LEVEL:-3}
cores=$(nproc)
parallel=${PARALLEL:-$cores}
wal_fetch_options=${WAL_FETCH_OPTIONS:-}
archiving=${ARCHIVING:-1}
results=$PGVAULT_ROOT/bench/WAL_RESULTS.md
bench_start=$EPOCHREALTIME
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

die_usage() { echo "bench/wal_archive.sh: $*" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]*$ ]] || die_usage "DURATION must be a positive number of seconds"
[[ $scale =~ ^[1-9][0-9]*$ ]] || die_usage "SCALE must be a positive integer"
[[ $clients =~ ^[1-9][0-9]*$ ]] || die_usage "CLIENTS must be a positive integer"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die_usage "RUNS must be a positive integer"
[[ $parallel =~ ^[1-9][0-9]*$ ]] || die_usage "PARALLEL must be a positive integer"
[[ $zstd_level =~ ^[1-9][0-9]*$ ]] || die_usage "ZSTD_LEVEL must be a positive integer"
[[ $replay_gb =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$replay_gb" 'BEGIN{exit !(s > 0)}' ||
  die_usage "REPLAY_GB must be a positive number"
[ "$workload" = bulk ] || [ "$workload" = tpcb ] || die_usage "WORKLOAD must be bulk or tpcb"
[ "$archiving" = 0 ] || [ "$archiving" = 1 ] || die_usage "ARCHIVING must be 0 or 1"
for s in $stores; do
  [ "$s" = file ] || [ "$s" = s3 ] || die_usage "STORES lists file and/or s3, not '$s'"
done

log() { printf '[%s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- dependencies -------------------------------------------------------------
# pgBackRest, and what test/servers/swift.sh needs (python3-swift, curl, openssl).
missing=()
for p in pgbackrest python3-swift python3 curl openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
  log "building and installing pgvault (scripts/build.sh)"
  bash "$PGVAULT_ROOT/scripts/build.sh" >/dev/null
fi
ensure_test_user

# --- scratch directory, cleanup ------------------------------------------------
dir=$(make_workdir bench-wal)
port=$(( 20000 + RANDOM % 20000 ))
servers=$PGVAULT_ROOT/test/servers
s3dir=$dir/s3
running=""       # data directory of the cluster that runs now (one at a time)
pgbench_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$pgbench_pid" ] && kill "$pgbench_pid" 2>/dev/null || true
  [ -n "$running" ] && as_pg_user pg_ctl -D "$running" -m immediate -w stop >/dev/null 2>&1 || true
  # pgBackRest's async processes end by themselves once their cluster is gone;
  # give them a moment before their directories go.
  sleep 0.5
  as_pg_user bash "$servers/swift.sh" stop "$s3dir" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command, its output into $dir/cmd.log; on failure shows the log and dies.
quiet() {
  if ! "$@" >"$dir/cmd.log" 2>&1; then
    tail -n 30 "$dir/cmd.log" >&2
    die "failed: $*"
  fi
}
sql() { as_pg_user psql -X -h "$dir" -p "$port" -U postgres -d "${DB:-postgres}" -v ON_ERROR_STOP=1 -Atq "$@"; }
# A sleep without forking /bin/sleep: a read that times out on a pipe nobody writes.
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }
# Numbers for the tables: two decimals at most, no trailing zeros.
trim() { awk -v x="$1" 'BEGIN{ if (x == "-") { print x; exit } s = sprintf("%.2f", x); sub(/\.?0+$/, "", s); print s }'; }
mib() { awk -v b="$1" 'BEGIN{printf "%.0f", b / 1048576}'; }
median() {  # of the space-separated list in $1
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR] = $1} END{
    if (NR == 0) printf "-"; else if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# .ready files waiting in the running cluster's pg_wal, into READY (no fork: a glob).
ready_count() {
  local f=("$running"/pg_wal/archive_status/*.ready)
  READY=${#f[@]}
}
shopt -s nullglob
mkdir_pg() { as_pg_user mkdir -p "$@"; }

# --- the template cluster: every run starts from a copy of it --------------------
# pgvault is preloaded in every copy (the pgBackRest ones too), so the clusters
# differ only in how they archive.
template=$dir/template
log "template cluster: pgbench -i -s $scale (port $port)"
as_pg_user initdb -D "$template" -U postgres -A trust >/dev/null
cat >>"$template/postgresql.conf" <<EOF
shared_preload_libraries = 'pgvault'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
wal_level = replica
max_wal_size = 16GB
checkpoint_timeout = 30min
EOF
running=$template
as_pg_user pg_ctl -D "$template" -l "$dir/template.log" -w start >/dev/null
sql -c "CREATE EXTENSION pgvault" -c "CREATE DATABASE bench"
quiet as_pg_user pgbench -h "$dir" -p "$port" -U postgres -i -s "$scale" -q bench
# The bulk workload: 1000 rows of about 80 bytes per transaction, one commit.
DB=bench sql -c "CREATE TABLE bench_wal (id bigint, created_at timestamptz, pad text)"
bulk_script=$dir/bulk.sql
echo "INSERT INTO bench_wal SELECT g, now(), md5(g::text) || md5(random()::text) FROM generate_series(1, 1000) g;" >"$bulk_script"
chmod a+r "$bulk_script"
pgbench_script=()
[ "$workload" = bulk ] && pgbench_script=(-f "$bulk_script")
DB=bench sql -c "VACUUM ANALYZE"
pg_version=$(sql -c "SHOW server_version")
have_parallel=$(sql -c "SELECT count(*) FROM pg_settings WHERE name = 'pgvault.archive_parallel'")
db_bytes=$(sql -c "SELECT pg_database_size('bench')")
sql -c "CHECKPOINT"
as_pg_user pg_ctl -D "$template" -m fast -w stop >/dev/null
running=""
# Where replay from the template starts.
redo_lsn=$(as_pg_user pg_controldata "$template" | sed -n "s/^Latest checkpoint's REDO location: *//p")
if [ "$have_parallel" = 1 ]; then
  archive_parallel_line="pgvault.archive_parallel = $parallel"
  pgvault_mode="\`pgvault.archive_parallel = $parallel\`"
else
  archive_parallel_line=""
  pgvault_mode="serial (this build has no \`pgvault.archive_parallel\`: one segment per archive callback)"
fi
if pgvault --help 2>&1 | grep -q 'wal-fetch'; then have_wal_fetch=1; else have_wal_fetch=0; fi
log "pgvault archiving: $pgvault_mode; wal-fetch: $([ "$have_wal_fetch" = 1 ] && echo present || echo absent)"

# Starts a fresh copy of the template in $1 (its postgresql.conf gets the lines
# on stdin; a file named in $2, if any, is created in it: recovery.signal or
# standby.signal). Only one cluster runs at a time, on the same port.
# copy_template and start_data are the two halves, for a timed start.
start_copy() {  # data directory, [signal file]
  copy_template "$@"
  start_data "$1"
}
copy_template() {  # data directory, [signal file]
  local data=$1
  rm -rf "$data"
  cp -a "$template" "$data"
  cat >>"$data/postgresql.conf"
  [ -z "${2:-}" ] || as_pg_user touch "$data/$2"
  sync -f "$data"
}
start_data() {  # data directory
  running=$1
  as_pg_user pg_ctl -D "$1" -l "$1.log" -w start >/dev/null || { tail -n 20 "$1.log" >&2; die "$1 did not start"; }
}
stop_running() {  # [mode]
  as_pg_user pg_ctl -D "$running" -m "${1:-fast}" -w stop >/dev/null
  running=""
}
# Polls a query until it returns t (timeout $2 s, default 600).
wait_for() {
  local deadline=$((SECONDS + ${2:-600}))
  until [ "$(sql -c "$1" 2>/dev/null || true)" = t ]; do
    [ $SECONDS -lt $deadline ] || die "timed out waiting for: $1"
    nap 0.2
  done
}
wait_no_ready() {  # timeout s
  local deadline=$((SECONDS + ${1:-600}))
  ready_count
  while [ "$READY" -gt 0 ]; do
    [ $SECONDS -lt $deadline ] || die "the .ready backlog did not drain in ${1:-600} s"
    nap 0.1
    ready_count
  done
}
# Starts pgbench (tpcb-like, no vacuum: the template is vacuumed) in the
# background for $1 seconds; sh writes its pid and becomes pgbench, the pid to
# stop it by, as root too.
pgbench_start() {  # seconds
  rm -f "$dir/pgbench.pid"
  # shellcheck disable=SC2016
  as_pg_user sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$dir/pgbench.pid" \
    pgbench -h "$dir" -p "$port" -U postgres -n -c "$clients" -j "$cores" -T "$1" "${pgbench_script[@]}" bench \
    >"$dir/pgbench.out" 2>&1 &
  pgbench_bg=$!
  until [ -s "$dir/pgbench.pid" ]; do nap 0.05; done
  pgbench_pid=$(<"$dir/pgbench.pid")
}

# --- repositories ----------------------------------------------------------------
# pgvault's lines for postgresql.conf and `pgvault wal-fetch --config`, and
# pgBackRest's configuration file, for a repository named $2 in store $1.
pgvault_repo_lines() {  # store name
  case $1 in
    file) echo "pgvault.repository = 'file://$dir/repos/$2'" ;;
    s3)
      cat <<EOF
pgvault.repository = 's3://$s3_bucket/$2'
pgvault.s3_endpoint = '$S3_ENDPOINT'
pgvault.s3_region = '$S3_REGION'
pgvault.s3_access_key_id = '$S3_ACCESS_KEY_ID'
pgvault.s3_secret_access_key = '$S3_SECRET_ACCESS_KEY'
pgvault.storage_ca_file = '$S3_CA_FILE'
EOF
      ;;
  esac
}
write_pgbr_conf() {  # file store name data-directory spool-directory
  local repo_lines
  case $2 in
    file) repo_lines="repo1-type=posix
repo1-path=$dir/repos/$3" ;;
    s3) repo_lines="repo1-type=s3
repo1-path=/$3
repo1-s3-bucket=$s3_bucket
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=${S3_ENDPOINT##*:}
repo1-s3-region=$S3_REGION
repo1-s3-key=$S3_ACCESS_KEY_ID
repo1-s3-key-secret=$S3_SECRET_ACCESS_KEY
repo1-s3-uri-style=path
repo1-storage-ca-file=$S3_CA_FILE" ;;
  esac
  mkdir_pg "$5" "$dir/pgbr-log" "$dir/pgbr-lock.$3"
  # Mode 600: the S3 one holds the secret key.
  (umask 077 && cat >"$1") <<EOF
[global]
$repo_lines
log-path=$dir/pgbr-log
lock-path=$dir/pgbr-lock.$3
spool-path=$5
log-level-console=warn
log-level-file=warn
archive-async=y
process-max=$parallel
compress-type=zst
compress-level=$zstd_level

[bench]
pg1-path=$4
pg1-socket-path=$dir
pg1-port=$port
pg1-user=postgres
EOF
  [ "$(id -u)" -ne 0 ] || chown "$PGVAULT_TEST_USER" "$1"
}
# postgresql.conf lines that make a cluster in data directory $3 archive into
# repository $2 of store $1 with tool $4 (pgBackRest: its configuration file
# is written too, and the stanza created from the template's pg_control).
archive_lines() {  # store name data tool
  case $4 in
    pgvault)
      mkdir_pg "$dir/repos"
      printf "archive_library = 'pgvault'\npgvault.compression = 'zstd'\npgvault.compression_level = %s\n%s\n" \
        "$zstd_level" "$archive_parallel_line"
      pgvault_repo_lines "$1" "$2" ;;
    pgbackrest)
      mkdir_pg "$dir/repos"
      write_pgbr_conf "$dir/$2.conf" "$1" "$2" "$3" "$dir/$2.spool"
      quiet as_pg_user pgbackrest --config="$dir/$2.conf" --stanza=bench --pg1-path="$template" --no-online stanza-create
      echo "archive_command = 'pgbackrest --config=$dir/$2.conf --stanza=bench archive-push %p'" ;;
  esac
}

# --- 1. archiving while pgbench writes ----------------------------------------------
# Per store/tool/metric: the list of values of all runs.
declare -A M=()
put() { M[$1]="${M[$1]:-} $2"; }

archive_run() {  # store tool run
  local store=$1 tool=$2 name="$1-$2-$3" data="$dir/$1-$2-$3"
  log "$store, $tool archiving, run $3/$runs: pgbench for $duration s"
  {
    echo "archive_mode = on"
    archive_lines "$store" "$name" "$data" "$tool"
  } >"$dir/conf.lines"
  start_copy "$data" <"$dir/conf.lines"
  # Archiving works before the window opens: a switched segment gets archived.
  local seg
  seg=$(sql -c "SELECT pg_walfile_name(pg_current_wal_lsn())" -c "SELECT pg_switch_wal()")
  seg=${seg%%$'\n'*}
  wait_for "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" 120
  wait_no_ready 120
  sql -c "CHECKPOINT"

  local before after t0 t1 t2 max_ready=0
  before=$(sql -F ' ' -c "SELECT archived_count, failed_count, pg_current_wal_lsn() FROM pg_stat_archiver")
  t0=$EPOCHREALTIME
  pgbench_start "$duration"
  while kill -0 "$pgbench_bg" 2>/dev/null; do
    ready_count
    [ "$READY" -gt "$max_ready" ] && max_ready=$READY
    nap 0.5
  done
  wait "$pgbench_bg" || { cat "$dir/pgbench.out" >&2; die "pgbench failed"; }
  t1=$EPOCHREALTIME
  pgbench_pid=""
  after=$(sql -F ' ' -c "SELECT archived_count, failed_count, pg_current_wal_lsn() FROM pg_stat_archiver")
  ready_count
  [ "$READY" -gt "$max_ready" ] && max_ready=$READY
  local ready_at_stop=$READY
  wait_no_ready 1800
  t2=$EPOCHREALTIME
  local end
  end=$(sql -F ' ' -c "SELECT archived_count, failed_count FROM pg_stat_archiver")

  local c0 f0 l0 c1 l1 c2 f2 window wal_bytes tps
  read -r c0 f0 l0 <<<"$before"
  read -r c1 _ l1 <<<"$after"
  read -r c2 f2 <<<"$end"
  window=$(elapsed "$t0" "$t1")
  wal_bytes=$(sql -c "SELECT pg_wal_lsn_diff('$l1', '$l0')::bigint")
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$dir/pgbench.out" | tail -n 1)
  local k="$store/$tool"
  put "$k/rate" "$(awk -v c="$((c1 - c0))" -v t="$window" 'BEGIN{printf "%.2f", c / t}')"
  put "$k/written" "$(awk -v b="$wal_bytes" -v t="$window" 'BEGIN{printf "%.2f", b / 16777216 / t}')"
  put "$k/wal_mb" "$(mib "$wal_bytes")"
  put "$k/max_ready" "$max_ready"
  put "$k/ready_at_stop" "$ready_at_stop"
  put "$k/drain" "$(elapsed "$t1" "$t2")"
  put "$k/tps" "$(awk -v t="$tps" 'BEGIN{printf "%.0f", t}')"
  put "$k/failed" "$((f2 - f0))"
  [ "$store" = file ] && put "$k/stored_mb" "$(mib "$(du -sb "$dir/repos/$name" | cut -f1)")"
  log "  $((c1 - c0)) archived in ${window}s ($((c2 - c0)) once drained), WAL $(mib "$wal_bytes") MB, TPS $tps, max .ready $max_ready (at stop $ready_at_stop), drain $(elapsed "$t1" "$t2")s, failures $((f2 - f0))"
  stop_running fast
  [ "${KEEP:-0}" = 1 ] || rm -rf "$data" "$dir/repos/$name" "$dir/$name.spool"
}

# --- 2. replay ----------------------------------------------------------------------
# The WAL to replay: written once by pgbench on a copy of the template until
# REPLAY_GB past the template's redo point, archived by `cp` into $local_wal,
# the last segment switched so that all of it is there.
local_wal=$dir/wal-local
make_replay_wal() {
  local target
  target=$(awk -v g="$replay_gb" 'BEGIN{printf "%.0f", g * 1073741824}')
  log "replay WAL: pgbench until $(mib "$target") MB of WAL past the template's checkpoint ($redo_lsn)"
  mkdir_pg "$local_wal"
  start_copy "$dir/walgen" <<EOF
archive_mode = on
archive_command = 'test ! -f $local_wal/%f && cp %p $local_wal/%f'
EOF
  pgbench_start 3600
  until [ "$(sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$redo_lsn') >= $target")" = t ]; do
    kill -0 "$pgbench_bg" 2>/dev/null || { cat "$dir/pgbench.out" >&2; die "pgbench ended early"; }
    nap 0.5
  done
  kill "$pgbench_pid" 2>/dev/null || true
  wait "$pgbench_bg" 2>/dev/null || true
  pgbench_pid=""
  local seg
  read -r seg replay_end_lsn < <(sql -F ' ' -c "SELECT pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn()")
  sql -c "SELECT pg_switch_wal()" >/dev/null
  wait_for "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver"
  wait_no_ready 600
  stop_running fast
  rm -rf "$dir/walgen"
  local files=("$local_wal"/*)
  replay_segments=${#files[@]}
  replay_bytes=$(sql_free_lsn_diff "$replay_end_lsn" "$redo_lsn")
  log "replay WAL: $replay_segments segments, $(mib "$replay_bytes") MB of WAL from $redo_lsn to $replay_end_lsn"
}
# LSN arithmetic without a server: "X/Y" hex to bytes.
lsn_bytes() { local hi=${1%/*} lo=${1#*/}; echo $(( (16#$hi << 32) + 16#$lo )); }
sql_free_lsn_diff() { echo $(( $(lsn_bytes "$1") - $(lsn_bytes "$2") )); }

# Puts the replay WAL into repository $2 of store $1 with tool $3: a standby
# of the template restores it with `cp` and archives it again (archive_mode =
# always) exactly as the tool's primary would.
feed_repository() {  # store name tool
  log "$1: putting the replay WAL into $3's repository (a standby with archive_mode = always)"
  {
    echo "archive_mode = always"
    echo "restore_command = 'cp $local_wal/%f %p'"
    archive_lines "$1" "$2" "$dir/feed" "$3"
  } >"$dir/conf.lines"
  start_copy "$dir/feed" standby.signal <"$dir/conf.lines"
  wait_for "SELECT archived_count >= $replay_segments FROM pg_stat_archiver" 1800
  wait_no_ready 600
  local failed
  failed=$(sql -c "SELECT failed_count FROM pg_stat_archiver")
  [ "$failed" = 0 ] || log "  ($failed failed attempts, retried)"
  stop_running fast
  rm -rf "$dir/feed"
}

# Restores the base (a copy of the template) with recovery.signal and the
# restore_command in $2, and times it from start to the end of recovery.
replay_run() {  # key restore_command [extra postgresql.conf line]
  local key=$1 data=$dir/replay t0 t1
  log "  replay: $key"
  copy_template "$data" recovery.signal <<EOF
restore_command = '$2'
${3:-}
EOF
  t0=$EPOCHREALTIME
  start_data "$data"
  local deadline=$((SECONDS + 1800))
  until [ "$(sql -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null || true)" = t ]; do
    [ $SECONDS -lt $deadline ] || die "recovery with $key did not end in 30 minutes"
    if ! as_pg_user pg_ctl -D "$data" status >/dev/null 2>&1; then
      tail -n 20 "$data.log" >&2
      die "the server recovering with $key stopped"
    fi
    nap 0.1
  done
  t1=$EPOCHREALTIME
  # All of the WAL was replayed: recovery ended past the last record written.
  local complete
  complete=$(sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$replay_end_lsn') >= 0")
  [ "$complete" = t ] || die "recovery with $key ended early, before $replay_end_lsn (log: $data.log)"
  # PostgreSQL's own account of redo: "redo done at ... system usage: CPU:
  # user: U s, system: S s, elapsed: E s" (the startup process).
  local usage
  usage=$(sed -n 's/.*redo done at .* CPU: user: \([0-9.]*\) s, system: \([0-9.]*\) s, elapsed: \([0-9.]*\) s.*/\1 \2 \3/p' "$data.log" | tail -n 1)
  local user sys redo
  read -r user sys redo <<<"$usage"
  put "$key/time" "$(elapsed "$t0" "$t1")"
  put "$key/redo" "${redo:-0}"
  put "$key/startup_cpu" "$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{printf "%.2f", u + s}')"
  log "    $(elapsed "$t0" "$t1")s to the end of recovery (redo ${redo:-?}s, startup process CPU ${user:-?}+${sys:-?}s)"
  stop_running immediate
  rm -rf "$data"
}
replay_store() {  # store run
  local store=$1 k
  for k in $replay_order; do
    case $k in
      local) replay_run "$store/local" "cp $local_wal/%f %p" ;;
      pgvault)
        local conf=$dir/replay-$store-pgvault.fetch.conf spool=$dir/replay-$store-pgvault.spool.get
        rm -rf "$spool"
        replay_run "$store/pgvault" "pgvault wal-fetch --config $conf --spool-dir $spool $wal_fetch_options %f %p" ;;
      pgbackrest)
        local name=replay-$store-pgbackrest
        rm -rf "$dir/$name.spool.get"
        write_pgbr_conf "$dir/$name.get.conf" "$store" "$name" "$dir/replay" "$dir/$name.spool.get"
        replay_run "$store/pgbackrest" "pgbackrest --config=$dir/$name.get.conf --stanza=bench archive-get %f \"%p\"" ;;
    esac
  done
}

# --- S3 server ------------------------------------------------------------------------
# Swift with TLS: pgBackRest's S3 client speaks only HTTPS; both tools verify the
# same self-signed certificate and use path-style URLs, one bucket, a prefix each.
start_s3() {
  log "S3: starting OpenStack Swift with s3api over HTTPS on 127.0.0.1 (test/servers/swift.sh)"
  mkdir_pg "$s3dir"
  # Its standard output names the secret key: not even into cmd.log.
  # On a busy machine Swift's four servers take longer than swift.sh's default 25 s.
  if ! as_pg_user env SWIFT_TLS=1 SWIFT_START_TIMEOUT="${SWIFT_START_TIMEOUT:-120}" \
    bash "$servers/swift.sh" start "$s3dir" >/dev/null 2>"$dir/cmd.log"; then
    tail -n 30 "$dir/cmd.log" >&2
    die "Swift did not start"
  fi
  # shellcheck disable=SC1091
  source "$s3dir/env"
  if [ -z "${S3_CA_FILE:-}" ] || [[ $S3_ENDPOINT != https://* ]]; then die "swift.sh did not start in TLS mode"; fi
  s3_bucket=bench
  local code
  # The bucket, with a SigV4-signed PUT (credentials from the netrc swift.sh writes).
  code=$(curl -s -o "$dir/cmd.log" -w '%{http_code}' --max-time 30 -X PUT --cacert "$S3_CA_FILE" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --netrc-file "$s3dir/netrc" -H 'Content-Length: 0' \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "$S3_ENDPOINT/$s3_bucket" || true)
  [ "$code" = 200 ] || { cat "$dir/cmd.log" >&2; die "creating bucket $s3_bucket: HTTP $code"; }
  swift_version=$(dpkg-query -W -f='${Version}' python3-swift 2>/dev/null || echo unknown)
}

# --- the runs -----------------------------------------------------------------------
make_replay_wal
replay_order="local pgbackrest"
[ "$have_wal_fetch" = 1 ] && replay_order="local pgvault pgbackrest"
swift_version=""
for store in $stores; do
  [ "$store" = s3 ] && start_s3
  for i in $(seq 1 "$runs"); do
    [ "$archiving" = 1 ] || break
    # Alternate which tool goes first.
    if [ $((i % 2)) = 1 ]; then order="pgvault pgbackrest"; else order="pgbackrest pgvault"; fi
    for tool in $order; do archive_run "$store" "$tool" "$i"; done
  done
  log "$store: replay of $(mib "$replay_bytes") MB of WAL"
  [ "$have_wal_fetch" = 1 ] && feed_repository "$store" "replay-$store-pgvault" pgvault
  pgvault_repo_lines "$store" "replay-$store-pgvault" >"$dir/replay-$store-pgvault.fetch.conf"
  [ "$(id -u)" -ne 0 ] || chown "$PGVAULT_TEST_USER" "$dir/replay-$store-pgvault.fetch.conf"
  chmod 600 "$dir/replay-$store-pgvault.fetch.conf"
  feed_repository "$store" "replay-$store-pgbackrest" pgbackrest
  for i in $(seq 1 "$runs"); do
    log "$store: replays, run $i/$runs"
    replay_store "$store" "$i"
  done
  [ "$store" = s3 ] && quiet as_pg_user bash "$servers/swift.sh" stop "$s3dir"
done

# --- WAL_RESULTS.md -------------------------------------------------------------------
med() { median "${M[$1]:-}"; }
all() { local v out=""; for v in ${M[$1]:-}; do out="${out:+$out, }$(trim "$v")"; done; echo "$out"; }
cell() { if [ "$runs" -gt 1 ]; then printf '%s (%s)' "$(trim "$(med "$1")")" "$(all "$1")"; else trim "$(med "$1")"; fi; }
ratio() {  # a b: a / b of the medians
  awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{ if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
bench_minutes=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) / 60}')
pgbr_version=$(pgbackrest version | awk '{print $2}')
mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
pgvault_commit=$(git -C "$PGVAULT_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
replay_mb=$(mib "$replay_bytes")
if [ "$workload" = bulk ]; then
  workload_text="each transaction: \`$(cat "$bulk_script")\`"
else
  workload_text="pgbench's tpcb-like script"
fi
store_title() { case $1 in file) echo "file repository (local disk)" ;; s3) echo "S3 (Swift $swift_version with s3api, HTTPS, 127.0.0.1)" ;; esac; }
{
  cat <<EOF
# WAL archiving and replay: pgvault vs pgBackRest

\`bash bench/wal_archive.sh\` (DURATION=$duration SCALE=$scale CLIENTS=$clients REPLAY_GB=$replay_gb RUNS=$runs STORES="$stores" ARCHIVING=$archiving${wal_fetch_options:+ WAL_FETCH_OPTIONS="$wal_fetch_options"})
— $(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores, $mem_gib GiB RAM, PostgreSQL $pg_version, pgBackRest $pgbr_version,
pgvault $pgvault_commit, $(uname -sr). The whole run took $bench_minutes minutes.
Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).

Both tools compress with zstd level $zstd_level, no encryption. pgvault: \`archive_library = 'pgvault'\`,
$pgvault_mode. pgBackRest: \`archive_command = 'pgbackrest … archive-push %p'\`, \`archive-async=y\`,
\`process-max=$parallel\`, spool in the scratch directory. Database \`bench\`: pgbench scale $scale ($(mib "$db_bytes") MB);
\`pgbench -n -c $clients -j $cores -T $duration\` ($workload_text) on a fresh copy of the same cluster per run.
EOF
  [ "$runs" -gt 1 ] && echo "Medians of $runs runs, all runs in brackets."
  for store in $stores; do
    if [ "$archiving" = 1 ]; then
    cat <<EOF

## Archiving while pgbench writes — $(store_title "$store")

| | pgvault | pgBackRest | pgvault / pgBackRest |
|---|---|---|---|
| segments archived per second during the run | $(cell "$store/pgvault/rate") | $(cell "$store/pgbackrest/rate") | $(ratio "$store/pgvault/rate" "$store/pgbackrest/rate") |
| segments written per second (WAL / 16 MiB / T) | $(cell "$store/pgvault/written") | $(cell "$store/pgbackrest/written") | $(ratio "$store/pgvault/written" "$store/pgbackrest/written") |
| WAL written during the run (MB) | $(cell "$store/pgvault/wal_mb") | $(cell "$store/pgbackrest/wal_mb") | $(ratio "$store/pgvault/wal_mb" "$store/pgbackrest/wal_mb") |
| largest .ready backlog (segments) | $(cell "$store/pgvault/max_ready") | $(cell "$store/pgbackrest/max_ready") | $(ratio "$store/pgvault/max_ready" "$store/pgbackrest/max_ready") |
| .ready backlog when pgbench stopped | $(cell "$store/pgvault/ready_at_stop") | $(cell "$store/pgbackrest/ready_at_stop") | |
| drain time after pgbench stopped (s) | $(cell "$store/pgvault/drain") | $(cell "$store/pgbackrest/drain") | $(ratio "$store/pgvault/drain" "$store/pgbackrest/drain") |
| pgbench TPS | $(cell "$store/pgvault/tps") | $(cell "$store/pgbackrest/tps") | $(ratio "$store/pgvault/tps" "$store/pgbackrest/tps") |
| failed archive attempts | $(cell "$store/pgvault/failed") | $(cell "$store/pgbackrest/failed") | |
EOF
    [ "$store" = file ] && echo "| archive size in the repository (MB) | $(cell "$store/pgvault/stored_mb") | $(cell "$store/pgbackrest/stored_mb") | $(ratio "$store/pgvault/stored_mb" "$store/pgbackrest/stored_mb") |"
    fi
    cat <<EOF

## PITR replay of $replay_mb MB of archived WAL ($replay_segments segments) — $(store_title "$store")

| restore_command | time to the end of recovery (s) | MB/s | PostgreSQL's redo elapsed (s) | startup process CPU (s) | / cp (local) |
|---|---|---|---|---|---|
EOF
    for k in local pgvault pgbackrest; do
      [ -n "${M[$store/$k/time]:-}" ] || continue
      case $k in
        local) what="\`cp $(basename "$local_wal")/%f %p\` (WAL already local: the floor)" ;;
        pgvault) what="\`pgvault wal-fetch --config … ${wal_fetch_options:+$wal_fetch_options }%f %p\`" ;;
        pgbackrest) what="\`pgbackrest archive-get %f \"%p\"\` (async, process-max $parallel)" ;;
      esac
      printf '| %s | %s | %s | %s | %s | %s |\n' "$what" "$(cell "$store/$k/time")" \
        "$(awk -v b="$replay_mb" -v t="$(med "$store/$k/time")" 'BEGIN{printf "%.0f", b / t}')" \
        "$(cell "$store/$k/redo")" "$(cell "$store/$k/startup_cpu")" "$(ratio "$store/$k/time" "$store/local/time")"
    done
    if [ -n "${M[$store/pgvault/time]:-}" ]; then
      echo
      echo "Replay time pgvault / pgBackRest: **$(ratio "$store/pgvault/time" "$store/pgbackrest/time")**."
    else
      echo
      echo "No \`pgvault wal-fetch\` in this build: pgvault's replay is not measured."
    fi
  done
  cat <<EOF

## How it was run

- Archiving: each run starts a fresh copy of the same template cluster (\`wal_level = replica\`,
  \`archive_mode = on\`, \`max_wal_size = 16GB\`, \`checkpoint_timeout = 30min\`: no checkpoint during the
  window but the one at its start), checks that a switched segment gets archived, waits for an empty
  backlog, runs \`CHECKPOINT\`, then pgbench for $duration s. Segments archived per second =
  \`pg_stat_archiver.archived_count\` delta over the window / window; the backlog is the number of
  \`.ready\` files in \`pg_wal/archive_status\` sampled every 0.5 s; drain = from pgbench's exit until no
  \`.ready\` is left. Each tool has its own repository (a directory, or a prefix in one bucket).
- Replay: the WAL is written once (pgbench on a copy of the template until $replay_gb GB past its
  checkpoint, archived with \`cp\`, last segment switched), then put into one repository per tool by a
  standby of the template with \`archive_mode = always\`, archiving with that tool as a primary would.
  Each replay restores the same base (a copy of the stopped template: the writes start at its
  checkpoint) with \`recovery.signal\` and no recovery target (replay to the end of the archive, then
  promote) and is timed from \`pg_ctl start\` to \`pg_is_in_recovery()\` = false; it is checked to have
  replayed past the last record written. The redo and CPU columns are from the startup process's own
  "redo done … system usage" log line.
- Servers, pgbench, pgBackRest and Swift run as the unprivileged \`$PGVAULT_TEST_USER\` user on the same
  $cores cores; Swift's proxy terminates TLS itself (self-signed certificate, verified by both tools).
EOF
} >"$results"
log "done in $bench_minutes minutes; results in $results"
cat "$results"
