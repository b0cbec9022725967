#!/usr/bin/env bash
# Side-by-side benchmark: pgvault against pg_basebackup, pgBackRest and pg_dump
# on the same throwaway cluster, same data, same compression. Not part of the
# test suite (it takes minutes to tens of minutes).
#
#   bash bench/run.sh [--size-gb N] [--runs R]      (defaults: 2 GB, 3 runs)
#
# Environment: ZSTD_LEVEL (default 3) for the physical backups, GZIP_LEVEL
# (default 6) for the logical ones, LOGICAL_ZSTD=0 skips the informational
# pgvault logical backup with zstd, KEEP=1 keeps the scratch directory.
#
# Installs pgBackRest (Debian package) if missing, builds and installs pgvault
# (scripts/build.sh), starts a throwaway cluster, loads pgbench data (~70 % of
# the size) plus a table of random text (~30 %), times each operation R times
# and writes the medians to bench/RESULTS.md (and prints it). Everything it
# started or created is stopped and removed on exit, also on failure.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"

size_gb=2
runs=3
usage() { echo "usage: bash bench/run.sh [--size-gb N] [--runs R]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --size-gb) [ $# -ge 2 ] || usage; size_gb=$2; shift 2 ;;
    --size-gb=*) size_gb=${1#*=}; shift ;;
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --runs=*) runs=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $size_gb =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$size_gb" 'BEGIN{exit !(s > 0)}' ||
  { echo "--size-gb must be a positive number" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive integer" >&2; exit 2; }

zstd_level=${ZSTD_LEVEL:-3}
gzip_level=${GZIP_LEVEL:-6}
logical_zstd=${LOGICAL_ZSTD:-1}
cores=$(nproc)
results=$PGVAULT_ROOT/bench/RESULTS.md
bench_start=$EPOCHREALTIME

log() { printf '[%s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- dependencies -------------------------------------------------------------
if ! command -v pgbackrest >/dev/null 2>&1; then
  log "installing pgbackrest (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbackrest >/dev/null
fi
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing"
log "building and installing pgvault (scripts/build.sh)"
bash "$PGVAULT_ROOT/scripts/build.sh" >/dev/null
ensure_test_user

# --- scratch directory, cluster, cleanup --------------------------------------
dir=$(make_workdir bench-run)
port=$(( 20000 + RANDOM % 20000 ))
repo=$dir/pgvault-repo
pgbr_conf=$dir/pgbackrest.conf
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "${bg_pid:-}" ] && kill "$bg_pid" 2>/dev/null || true
  as_pg_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting a throwaway cluster in $dir (port $port)"
start_throwaway_cluster "$dir" "$port" <<EOF
max_wal_size = 4GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '/bin/true'
pgvault.repository = 'file://$repo'
pgvault.compression = 'zstd'
pgvault.compression_level = $zstd_level
EOF

sql() { as_pg_user psql -X -h "$dir" -p "$port" -U postgres -d "${DB:-postgres}" -v ON_ERROR_STOP=1 -Atq "$@"; }
sql -c "CREATE EXTENSION pgvault" -c "CREATE DATABASE bench"

mkdir -p "$dir/pgbr-repo" "$dir/pgbr-log" "$dir/pgbr-lock" "$dir/pgbr-spool"
cat >"$pgbr_conf" <<EOF
[global]
repo1-type=posix
repo1-path=$dir/pgbr-repo
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
[ "$(id -u)" -eq 0 ] && chown -R "$PGVAULT_TEST_USER" "$dir"/pgbr-* "$pgbr_conf"

# Runs a command, its output into $dir/cmd.log; on failure shows the log and dies.
quiet() {
  if ! "$@" >"$dir/cmd.log" 2>&1; then
    tail -n 30 "$dir/cmd.log" >&2
    die "failed: $*"
  fi
}
# Peak resident set (VmHWM, kB) of a process, 0 if gone.
vmhwm() {
  local k v _ hwm=0
  { while read -r k v _; do [ "$k" = VmHWM: ] && hwm=$v; done <"/proc/$1/status"; } 2>/dev/null || true
  echo "$hwm"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
mib() { awk -v b="$1" 'BEGIN{printf "%.0f", b / 1048576}'; }
dir_bytes() { du -sb "$@" | awk '{s += $1} END{print s + 0}'; }

# --- dataset --------------------------------------------------------------------
target=$(awk -v s="$size_gb" 'BEGIN{printf "%.0f", s * 1073741824}')
text_target=$(( target * 30 / 100 ))
# pgbench: about 15 MiB on disk (tables + indexes) per scale unit.
scale=$(awk -v t="$target" 'BEGIN{s = int(t * 0.70 / 15728640 + 0.5); print (s < 1 ? 1 : s)}')

# Text that compresses about 3x with zstd/gzip: 16 random hex digits (~2x) and
# twelve words drawn from 64, plus a timestamp and a small status per row.
words="{the,of,and,to,in,is,was,for,on,that,with,as,by,at,from,his,her,an,were,are,which,this,be,or,have,had,not,but,one,all,their,new,more,order,customer,invoice,payment,shipped,pending,delivered,warehouse,product,account,balance,region,north,south,east,west,priority,standard,express,returned,refund,discount,total,quantity,price,status,created,updated,note,review,approved}"
w() { echo "w[1 + (random() * 63)::int]"; }
body="left(md5(random()::text), 16) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w) || ' ' || $(w)"
insert_text() {
  DB=bench sql -c "INSERT INTO bench_text SELECT g, timestamptz '2026-01-01' + g * interval '1 second', (random() * 5)::smallint, $body
    FROM generate_series($1, $2) g, (SELECT '$words'::text[] AS w) a"
}
log "dataset: random text table (target $(mib "$text_target") MB)"
DB=bench sql -c "CREATE TABLE bench_text (id bigint, created_at timestamptz, status smallint, body text)"
insert_text 1 100000
# Bytes per row on disk, with the primary key added below (~20 % on top of the heap).
per_row=$(DB=bench sql -c "SELECT pg_relation_size('bench_text') * 1.2 / 100000")
rows=$(awk -v t="$text_target" -v r="$per_row" 'BEGIN{printf "%.0f", t / r}')
next=100001
while [ "$next" -le "$rows" ]; do
  last=$(( next + 999999 )); [ "$last" -gt "$rows" ] && last=$rows
  insert_text "$next" "$last"
  next=$(( last + 1 ))
done
DB=bench sql -c "ALTER TABLE bench_text ADD PRIMARY KEY (id)" -c "VACUUM (FREEZE, ANALYZE) bench_text"
sql -c "CHECKPOINT"
text_bytes=$(DB=bench sql -c "SELECT pg_total_relation_size('bench_text')")
# How compressible the text really is: its heap files through zstd at the benchmark's level.
text_heap=$dir/data/$(DB=bench sql -c "SELECT pg_relation_filepath('bench_text')")
heap_files=("$text_heap")
mapfile -t -O 1 heap_files < <(compgen -G "$text_heap.[0-9]*" || true)
text_heap_bytes=$(cat "${heap_files[@]}" | wc -c)
text_zstd_bytes=$(cat "${heap_files[@]}" | zstd -q -"$zstd_level" -c | wc -c)
text_ratio=$(awk -v a="$text_heap_bytes" -v b="$text_zstd_bytes" 'BEGIN{printf "%.1f", a / b}')
log "dataset: text table heap $(mib "$text_heap_bytes") MB, zstd -$zstd_level: $(mib "$text_zstd_bytes") MB (${text_ratio}x)"
small_db_bytes=$(sql -c "SELECT pg_database_size('bench')")

# --- pgvault measurements -------------------------------------------------------
# Takes a pgvault backup (create_backup args in $1) with wait => true in the
# background, finds the job worker and samples its VmHWM until it is done.
# Sets T (s), SIZE (stored bytes), RSS (kB), NAME.
pgvault_backup() {
  local args=$1 t0 t1 pid="" hwm
  RSS=0
  t0=$EPOCHREALTIME
  sql -c "SELECT status FROM vault.create_backup($args)" >"$dir/cmd.log" 2>&1 &
  bg_pid=$!
  while kill -0 "$bg_pid" 2>/dev/null; do
    if [ -z "$pid" ]; then
      pid=$(sql -c "SELECT worker_pid FROM vault.backups WHERE status = 'running'" 2>/dev/null || true)
    fi
    if [ -n "$pid" ]; then
      hwm=$(vmhwm "$pid")
      [ "$hwm" -gt "$RSS" ] && RSS=$hwm
    fi
    sleep 0.05
  done
  if ! wait "$bg_pid"; then bg_pid=""; cat "$dir/cmd.log" >&2; die "pgvault backup ($args) failed"; fi
  t1=$EPOCHREALTIME
  bg_pid=""
  T=$(elapsed "$t0" "$t1")
  local row
  row=$(sql -F ' ' -c "SELECT name, stored_bytes, status FROM vault.history ORDER BY id DESC LIMIT 1")
  read -r NAME SIZE _ <<<"$row"
  [ "${row##* }" = completed ] || die "pgvault backup $NAME: ${row##* }"
}
# Runs a command as the server's user under GNU time: sets T (s) and RSS (kB).
timed() {
  local t0 t1
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

log "pgvault physical backup at the small size ($(mib "$small_db_bytes") MB) for the worker's RSS"
SIZE=0; pgvault_backup ""
small_rss=$RSS small_t=$T

log "dataset: pgbench -i -s $scale"
quiet as_pg_user pgbench -h "$dir" -p "$port" -U postgres -i -I dtGvp -s "$scale" -q bench
DB=bench sql -c "VACUUM (FREEZE, ANALYZE)"
sql -c "CHECKPOINT"
db_bytes=$(sql -c "SELECT pg_database_size('bench')")
cluster_bytes=$(sql -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
pg_version=$(sql -c "SHOW server_version")
log "dataset: bench database $(mib "$db_bytes") MB (text table $(mib "$text_bytes") MB, pgbench scale $scale)"

# pgBackRest needs archiving into its repository: from now on.
sql -c "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$pgbr_conf --stanza=bench archive-push %p'" \
  -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
quiet as_pg_user pgbackrest --config="$pgbr_conf" --stanza=bench stanza-create
quiet as_pg_user pgbackrest --config="$pgbr_conf" --stanza=bench check

# --- physical backups ---------------------------------------------------------
bb_last=""
for i in $(seq 1 "$runs"); do
  log "physical backups, run $i/$runs"
  pgvault_backup ""
  pgv_physical=$NAME
  record pgvault_physical

  [ -n "$bb_last" ] && rm -rf "$bb_last"
  bb_last=$dir/basebackup.$i
  timed pg_basebackup -h "$dir" -p "$port" -U postgres -D "$bb_last" -Ft -Xfetch \
    --compress="server-zstd:$zstd_level" --checkpoint=fast --manifest-checksums=SHA256
  SIZE=$(dir_bytes "$bb_last")
  record pg_basebackup

  timed pgbackrest --config="$pgbr_conf" --stanza=bench --type=full backup
  SIZE=$(dir_bytes "$(ls -d "$dir"/pgbr-repo/backup/bench/*F | sort | tail -n 1)")
  record pgbackrest_backup
done

# --- restores -----------------------------------------------------------------
for i in $(seq 1 "$runs"); do
  log "restores, run $i/$runs"
  target_dir=$dir/restore
  timed pgvault restore --repo "file://$repo" --backup "$pgv_physical" --pgdata "$target_dir"
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record pgvault_restore

  as_pg_user mkdir -m 700 "$target_dir"
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --pg1-path="$target_dir" restore
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record pgbackrest_restore

  as_pg_user mkdir -m 700 "$target_dir"
  timed tar -I zstd -xf "$bb_last/base.tar.zst" -C "$target_dir"
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record untar

  # pgvault restore ends with syncfs() on the target's file system: the same
  # durability for tar is \`sync -f\` (syncfs) after it.
  as_pg_user mkdir -m 700 "$target_dir"
  timed sh -c 'tar -I zstd -xf "$1" -C "$2" && sync -f "$2"' sh "$bb_last/base.tar.zst" "$target_dir"
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record untar_sync
done
rm -rf "$bb_last"

# --- logical backups ----------------------------------------------------------
# PostgreSQL 15's pg_dump compresses custom-format archives with gzip (zlib)
# only: both sides use gzip at the same level.
set_compression() {
  sql -c "ALTER SYSTEM SET pgvault.compression = '$1'" -c "ALTER SYSTEM SET pgvault.compression_level = $2" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  [ "$(sql -c "SHOW pgvault.compression")" = "$1" ] || die "pgvault.compression did not change to $1"
}
set_compression gzip "$gzip_level"
for i in $(seq 1 "$runs"); do
  log "logical backups (gzip $gzip_level), run $i/$runs"
  pgvault_backup "kind => 'logical', database => 'bench'"
  record pgvault_logical

  timed pg_dump -h "$dir" -p "$port" -U postgres -Fc -Z "$gzip_level" -f "$dir/dump.pgdump" bench
  SIZE=$(dir_bytes "$dir/dump.pgdump"); rm -f "$dir/dump.pgdump"
  record pg_dump
done
if [ "$logical_zstd" = 1 ]; then
  set_compression zstd "$zstd_level"
  for i in $(seq 1 "$runs"); do
    log "pgvault logical backup (zstd $zstd_level, no peer on PostgreSQL 15), run $i/$runs"
    pgvault_backup "kind => 'logical', database => 'bench'"
    record pgvault_logical_zstd
  done
fi

# --- RESULTS.md ---------------------------------------------------------------
median() {  # of the space-separated list in $1
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR] = $1} END{
    if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { median "${TIMES[$1]}"; }
runs_list() { tr ' ' '\n' <<<"${TIMES[$1]}" | grep . | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $1}'; }
row() {  # key tool operation
  local m; m=$(med "$1")
  printf '| %s | %s | %s s (%s) | %s | %s MB | %s MB |\n' "$2" "$3" "$m" "$(runs_list "$1")" \
    "$(awk -v b="$db_bytes" -v t="$m" 'BEGIN{printf "%.0f", b / 1048576 / t}')" \
    "$(mib "${OUT[$1]:-0}")" "$(awk -v k="${PEAK[$1]:-0}" 'BEGIN{printf "%.0f", k / 1024}')"
}
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.2f", a / b}'; }
verdict() {  # value limit
  awk -v v="$1" -v l="$2" 'BEGIN{print (v <= l ? "met" : "**missed**")}'
}
r_bb=$(ratio pgvault_physical pg_basebackup)
r_br=$(ratio pgvault_physical pgbackrest_backup)
r_rs=$(ratio pgvault_restore pgbackrest_restore)
r_ut=$(ratio pgvault_restore untar_sync)
r_un=$(ratio pgvault_restore untar)
r_ld=$(ratio pgvault_logical pg_dump)
rss_mib=$(awk -v k="${PEAK[pgvault_physical]}" 'BEGIN{printf "%.0f", k / 1024}')
small_rss_mib=$(awk -v k="$small_rss" 'BEGIN{printf "%.0f", k / 1024}')
bench_minutes=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) / 60}')
pgbr_version=$(pgbackrest version | awk '{print $2}')
mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)

{
  cat <<EOF
# Benchmark results

\`bash bench/run.sh --size-gb $size_gb --runs $runs\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores, $mem_gib GiB RAM,
PostgreSQL $pg_version, pgBackRest $pgbr_version, $(uname -sr). The whole run took $bench_minutes minutes.

Dataset: database \`bench\`, **$(mib "$db_bytes") MB** (\`pg_database_size\`; the cluster $(mib "$cluster_bytes") MB):
pgbench scale $scale plus a table of random text of $(mib "$text_bytes") MB with its primary key (16 random hex
digits and twelve words out of 64 per row; its heap compresses ${text_ratio}x with \`zstd -$zstd_level\`). MB = 2^20 bytes;
MB/s = database size / median wall time.

Each operation ran $runs time(s), interleaved with its peers; wall time is the median (all runs in brackets).
Peak RSS: for pgvault backups the job worker's \`VmHWM\` sampled from /proc every 50 ms; for the command-line
tools GNU time's maximum RSS (the largest single process, not a sum: pgBackRest's $cores worker processes
and zstd under tar are counted one at a time). The server-side compression of pgvault and pg_basebackup
runs in the walsender, which neither figure includes.

| tool | operation | wall time | MB/s | output size | peak RSS |
|---|---|---|---|---|---|
EOF
  row pgvault_physical pgvault "physical backup, zstd $zstd_level (server side), file repository"
  row pg_basebackup pg_basebackup "\`-Ft -Xfetch --compress=server-zstd:$zstd_level\` to local disk"
  row pgbackrest_backup pgBackRest "full backup, zst $zstd_level, process-max $cores, posix repository"
  row pgvault_restore pgvault "\`pgvault restore\` of the physical backup"
  row pgbackrest_restore pgBackRest "restore, process-max $cores"
  row untar "tar + zstd" "\`tar -I zstd -xf base.tar.zst\` of the pg_basebackup output, no sync"
  row untar_sync "tar + zstd + sync" "the same, then \`sync -f\` (syncfs, as \`pgvault restore\` ends)"
  row pgvault_logical pgvault "logical backup (pg_dump inside), gzip $gzip_level"
  row pg_dump pg_dump "\`-Fc -Z $gzip_level\` (gzip)"
  [ "$logical_zstd" = 1 ] && row pgvault_logical_zstd pgvault "logical backup, zstd $zstd_level (informational: no PG 15 peer)"
  cat <<EOF

Job worker peak RSS at two sizes (physical backup, zstd $zstd_level): **$small_rss_mib MB** at $(mib "$small_db_bytes") MB
(text table only, ${small_t} s) and **$rss_mib MB** at $(mib "$db_bytes") MB.

## Ratios pgvault / peer (wall time, lower is better)

| comparison | ratio | target | |
|---|---|---|---|
| physical backup: pgvault / pg_basebackup | $r_bb | ≤ 1.15 | $(verdict "$r_bb" 1.15) |
| physical backup: pgvault / pgBackRest | $r_br | ≤ 1.00 | $(verdict "$r_br" 1.00) |
| restore: pgvault / pgBackRest | $r_rs | ≤ 1.00 | $(verdict "$r_rs" 1.00) |
| restore: pgvault / untar of pg_basebackup + syncfs | $r_ut | — | |
| restore: pgvault / untar of pg_basebackup, no sync | $r_un | — | |
| logical backup: pgvault / pg_dump | $r_ld | ≤ 1.10 | $(verdict "$r_ld" 1.10) |
| job worker peak RSS (MB) | $rss_mib | ≤ 64 | $(verdict "$rss_mib" 64) |

## How each was run

- Same compression for every tool: zstd level $zstd_level for physical backups (pgvault
  \`pgvault.compression = 'zstd'\`, \`compression_level = $zstd_level\`, compressed by the server;
  pg_basebackup \`--compress=server-zstd:$zstd_level\`; pgBackRest \`compress-type=zst\`,
  \`compress-level=$zstd_level\`, \`process-max=$cores\`, compressed by pgBackRest's own processes).
  PostgreSQL 15's \`pg_dump -Fc\` compresses with gzip only, so the logical comparison is pgvault with
  \`pgvault.compression = 'gzip'\`, level $gzip_level, against \`pg_dump -Fc -Z $gzip_level\` (pgvault runs
  pg_dump with \`--compress=0\` and compresses the stream itself).
- All backups include the WAL needed to restore them and a fast checkpoint: pg_basebackup with
  \`-Xfetch\` (WAL inside base.tar, as pgvault asks for), \`--manifest-checksums=SHA256\` (what pgvault asks
  the server for; pg_basebackup's default is CRC32C). pgBackRest archives WAL with \`archive-push\`
  (archive_command) and waits for it (\`archive-check\`); its output size is the backup's directory, without
  the WAL archive.
- Restores go to an empty directory on the same disk and are removed after each run; the output size
  column is the restored directory. \`pgvault restore\` checks every file against the backup manifest,
  \`tar\` checks nothing, pgBackRest checks each file's checksum. \`pgvault restore\` makes the result
  durable with one \`syncfs()\` of the target's file system at the end (which also flushes anything else
  dirty on that file system); plain \`tar\` does not sync, so it is measured both without and with
  \`sync -f\`. pgBackRest restores no WAL into
  pg_wal (the server fetches it from the archive with \`restore_command\` when it starts), so it writes
  less than the other two.
- Every tool fsyncs its output as it does by default. The page cache is warm (the database fits in RAM).
  Servers, pg_basebackup and pgBackRest run as the unprivileged \`$PGVAULT_TEST_USER\` user.

## Not measured yet

- TODO: the three physical backups against the S3 server of the tests (test/servers/swift.sh); pgBackRest
  supports S3 repositories, pg_basebackup does not.
- TODO: pgbench TPS during a backup vs without one, with and without \`pgvault.max_rate\`.
EOF
} >"$results"

log "done in $bench_minutes minutes; results in $results"
cat "$results"
