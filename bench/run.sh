#!/usr/bin/env bash
# Side-by-side benchmark: pgvault against pg_basebackup, pgBackRest and pg_dump
# on the same throwaway cluster, same data, same compression. Not part of the
# test suite (it takes minutes to tens of minutes).
#
#   bash bench/run.sh [--size-gb N] [--runs R] [--physical-only]
#                                          (defaults: 2 GB, 3 runs, every section)
#
# --physical-only: only the physical backups, restores and verifications (no
# logical, S3 or pgbench sections); the results go to bench/RESULTS-physical.md.
#
# Environment: ZSTD_LEVEL (default 3) and ZSTD_WORKERS (default: the core
# count, like pgBackRest's process-max) for the physical backups, GZIP_LEVEL
# (default 6) for the logical ones, LOGICAL_ZSTD=0 skips the informational
# pgvault logical backup with zstd, MAX_RATE_KB sets the rate limit of the
# pgbench-during-a-backup runs (default: a third of the unthrottled rate),
# KEEP=1 keeps the scratch directory.
#
# Installs pgBackRest and Swift (Debian packages) if missing, builds and
# installs pgvault (scripts/build.sh), starts a throwaway cluster, loads
# pgbench data (~70 % of the size) plus a table of random text (~30 %), times
# each operation R times (to local disk, then to an S3 server: OpenStack Swift
# over HTTPS from test/servers/swift.sh), measures pgbench TPS during backups
# with and without a rate limit, and writes the medians to bench/RESULTS.md
# (and prints it). Everything it started or created is stopped and removed on
# exit, also on failure.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/lib.sh"

size_gb=2
runs=3
physical_only=0
args=()
for a in "$@"; do
  if [ "$a" = --physical-only ]; then physical_only=1; else args+=("$a"); fi
done
parse_size_and_runs "usage: bash bench/run.sh [--size-gb N] [--runs R] [--physical-only]" \
  ${args[@]+"${args[@]}"}

zstd_level=${ZSTD_LEVEL:-3}
gzip_level=${GZIP_LEVEL:-6}
logical_zstd=${LOGICAL_ZSTD:-1}
cores=$(nproc)
# zstd threads of the server-side compression (pgvault.compression_workers,
# pg_basebackup's workers=N): as many as pgBackRest's process-max.
zstd_workers=${ZSTD_WORKERS:-$cores}
results=$PGVAULT_ROOT/bench/RESULTS.md
bench_start=$EPOCHREALTIME


# --- dependencies -------------------------------------------------------------
# pgBackRest, GNU time (peak RSS), and what test/servers/swift.sh needs (test/servers/install.sh
# installs the same three, plus node and Azurite, which are not needed here).
install_missing_packages pgbackrest python3-swift python3 curl openssl time
py=/usr/bin/python3   # Debian's, which python3-swift needs anyway: reads pgBackRest's JSON
prepare_pgvault

# --- scratch directory, cluster, cleanup --------------------------------------
dir=$(make_workdir bench-run)
port=$(( 20000 + RANDOM % 20000 ))
repo=$dir/pgvault-repo
pgbr_conf=$dir/pgbackrest.conf
pgbr_s3_conf=$dir/pgbackrest-s3.conf
s3dir=$dir/s3
servers=$PGVAULT_ROOT/test/servers
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "${pgbench_pid:-}" ] && kill "$pgbench_pid" 2>/dev/null || true
  as_pg_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  as_pg_user bash "$servers/swift.sh" stop "$s3dir" >/dev/null 2>&1 || true
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
pgvault.compression_workers = $zstd_workers
EOF

sql -c "CREATE EXTENSION pgvault" -c "CREATE DATABASE bench"

mkdir -p "$dir/pgbr-repo" "$dir/pgbr-log" "$dir/pgbr-lock" "$dir/pgbr-spool"
write_pgbr_conf "$pgbr_conf" "repo1-type=posix
repo1-path=$dir/pgbr-repo"
[ "$(id -u)" -eq 0 ] && chown -R "$PGVAULT_TEST_USER" "$dir"/pgbr-* "$pgbr_conf"

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
archive_to "$pgbr_conf"
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
    --compress="server-zstd:level=$zstd_level,workers=$zstd_workers" --checkpoint=fast
  SIZE=$(dir_bytes "$bb_last")
  record pg_basebackup

  timed pgbackrest --config="$pgbr_conf" --stanza=bench --type=full backup
  SIZE=$(dir_bytes "$(ls -d "$dir"/pgbr-repo/backup/bench/*F | sort | tail -n 1)")
  record pgbackrest_backup
done

# --- restores -----------------------------------------------------------------
# Restores with pgvault (its repository and backup options after the third
# argument), then with pgBackRest (configuration file $3), into $dir/restore.
target_dir=$dir/restore
restore_both() {  # pgvault key, pgBackRest key, pgBackRest config, pgvault options...
  local pgv_key=$1 pgbr_key=$2 conf=$3
  shift 3
  timed pgvault restore "$@" --pgdata "$target_dir"
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record "$pgv_key"

  as_pg_user mkdir -m 700 "$target_dir"
  timed pgbackrest --config="$conf" --stanza=bench --pg1-path="$target_dir" restore
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record "$pgbr_key"
}
for i in $(seq 1 "$runs"); do
  log "restores, run $i/$runs"
  restore_both pgvault_restore pgbackrest_restore "$pgbr_conf" --repo "file://$repo" --backup "$pgv_physical"

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

# --- verification -----------------------------------------------------------------
# pgBackRest 2.45's verify has no option to pick a backup: it checks every
# backup of the repository and the WAL archive. Expired down to the newest full
# first, so both tools check one backup of the same data (pgBackRest also the
# WAL archived since it, a few segments).
quiet as_pg_user pgbackrest --config="$pgbr_conf" --stanza=bench --repo1-retention-full=1 expire
for i in $(seq 1 "$runs"); do
  log "verifications, run $i/$runs"
  SIZE=0
  timed pgvault verify --repo "file://$repo" --backup "$pgv_physical"
  record pgvault_verify
  timed pgbackrest --config="$pgbr_conf" --stanza=bench verify
  record pgbackrest_verify
done

if [ "$physical_only" = 1 ]; then
  results=$PGVAULT_ROOT/bench/RESULTS-physical.md
  med() { median "${TIMES[$1]}"; }
  runs_list() { tr ' ' '\n' <<<"${TIMES[$1]}" | grep . | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $1}'; }
  row() {  # key tool operation
    local m; m=$(med "$1")
    printf '| %s | %s | %s s (%s) | %s | %s MB | %s MB |\n' "$2" "$3" "$m" "$(runs_list "$1")" \
      "$(awk -v b="$db_bytes" -v t="$m" 'BEGIN{printf "%.0f", b / 1048576 / t}')" \
      "$(mib "${OUT[$1]:-0}")" "$(awk -v k="${PEAK[$1]:-0}" 'BEGIN{printf "%.0f", k / 1024}')"
  }
  ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.2f", a / b}'; }
  verdict() { awk -v v="$1" -v l="$2" 'BEGIN{print (v <= l ? "met" : "**missed**")}'; }
  r_bb=$(ratio pgvault_physical pg_basebackup)
  r_br=$(ratio pgvault_physical pgbackrest_backup)
  r_rs=$(ratio pgvault_restore pgbackrest_restore)
  r_vf=$(ratio pgvault_verify pgbackrest_verify)
  rss_mib=$(awk -v k="${PEAK[pgvault_physical]}" 'BEGIN{printf "%.0f", k / 1024}')
  bench_minutes=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) / 60}')
  {
    cat <<EOF
# Benchmark results: physical backups, restores and verification

\`bash bench/run.sh --size-gb $size_gb --runs $runs --physical-only\` (ZSTD_LEVEL=$zstd_level) — $(date -u '+%Y-%m-%d %H:%M UTC'),
$cores cores, PostgreSQL $(sql -c "SHOW server_version"), pgBackRest $(pgbackrest version | awk '{print $2}'), $bench_minutes minutes.
Database \`bench\` $(mib "$db_bytes") MB (pgbench scale $scale and a random text table, as in RESULTS.md).
Each operation ran $runs time(s), interleaved with its peers; wall time is the median (all runs in brackets).
Every tool compresses with zstd $zstd_level on $zstd_workers threads (pgvault and pg_basebackup on the server);
pg_basebackup with its default manifest checksums (CRC32C), as pgvault asks for. pgBackRest's verify
checks the newest full backup (older ones expired) and the WAL archived since it.

| tool | operation | wall time | MB/s | output size | peak RSS |
|---|---|---|---|---|---|
EOF
    row pgvault_physical pgvault "physical backup, file repository"
    row pg_basebackup pg_basebackup "\`-Ft -Xfetch --compress=server-zstd:level=$zstd_level,workers=$zstd_workers\`"
    row pgbackrest_backup pgBackRest "full backup, process-max $cores"
    row pgvault_restore pgvault "\`pgvault restore\`"
    row pgbackrest_restore pgBackRest "restore, process-max $cores"
    row untar_sync "tar + zstd + sync" "\`tar -I zstd -xf base.tar.zst\` of pg_basebackup's output, \`sync -f\`"
    row pgvault_verify pgvault "\`pgvault verify\`"
    row pgbackrest_verify pgBackRest "\`verify\`, process-max $cores"
    cat <<EOF

| comparison | ratio | target | |
|---|---|---|---|
| physical backup: pgvault / pg_basebackup | $r_bb | ≤ 1.0 | $(verdict "$r_bb" 1.0) |
| physical backup: pgvault / pgBackRest | $r_br | ≤ 0.8 | $(verdict "$r_br" 0.8) |
| restore: pgvault / pgBackRest | $r_rs | ≤ 0.5 | $(verdict "$r_rs" 0.5) |
| verify: pgvault / pgBackRest | $r_vf | ≤ 0.5 | $(verdict "$r_vf" 0.5) |
| job worker peak RSS (MB) | $rss_mib | ≤ 64 | $(verdict "$rss_mib" 64) |
EOF
  } >"$results"
  log "done in $bench_minutes minutes; results in $results"
  cat "$results"
  exit 0
fi

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

# --- physical backups and restores with an S3 repository -------------------------
# OpenStack Swift 2.30 with s3api from test/servers/swift.sh, in TLS mode: the
# proxy itself speaks HTTPS (a self-signed certificate for 127.0.0.1) because
# pgBackRest's S3 client only speaks HTTPS. pgvault and pgBackRest use the same
# endpoint and verify it with the same CA file. One bucket, one prefix each.
# pg_basebackup cannot write to S3.
set_compression zstd "$zstd_level"
log "S3: starting OpenStack Swift with s3api over HTTPS on 127.0.0.1 (test/servers/swift.sh)"
# Its standard output names the secret key: not even into cmd.log.
if ! as_pg_user env SWIFT_TLS=1 bash "$servers/swift.sh" start "$s3dir" >/dev/null 2>"$dir/cmd.log"; then
  tail -n 30 "$dir/cmd.log" >&2
  die "Swift did not start"
fi
swift_version=$(dpkg-query -W -f='${Version}' python3-swift 2>/dev/null || echo unknown)
# shellcheck disable=SC1091
source "$s3dir/env"
if [ -z "${S3_CA_FILE:-}" ] || [[ $S3_ENDPOINT != https://* ]]; then die "swift.sh did not start in TLS mode"; fi
s3_bucket=bench
s3_port=${S3_ENDPOINT##*:}
# The bucket, with a SigV4-signed PUT (credentials from the netrc swift.sh writes).
code=$(curl -s -o "$dir/cmd.log" -w '%{http_code}' --max-time 30 -X PUT --cacert "$S3_CA_FILE" \
  --aws-sigv4 "aws:amz:$S3_REGION:s3" --netrc-file "$s3dir/netrc" -H 'Content-Length: 0' \
  -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
  "$S3_ENDPOINT/$s3_bucket" || true)
[ "$code" = 200 ] || { cat "$dir/cmd.log" >&2; die "creating bucket $s3_bucket: HTTP $code"; }

# pgvault: the same settings for the server (appended to postgresql.conf, then a
# reload; never ALTER SYSTEM for the secret) and for `pgvault restore --config`.
# Secrets go into files only (mode 600), never onto a command line or the log.
pgv_s3_conf=$dir/pgvault-s3.conf
(umask 077 && cat >"$pgv_s3_conf") <<EOF
pgvault.repository = 's3://$s3_bucket/pgvault'
pgvault.s3_endpoint = '$S3_ENDPOINT'
pgvault.s3_region = '$S3_REGION'
pgvault.s3_access_key_id = '$S3_ACCESS_KEY_ID'
pgvault.s3_secret_access_key = '$S3_SECRET_ACCESS_KEY'
pgvault.storage_ca_file = '$S3_CA_FILE'
EOF
[ "$(id -u)" -ne 0 ] || chown "$PGVAULT_TEST_USER" "$pgv_s3_conf"
# Later lines of postgresql.conf win over earlier ones.
set_repository() {  # pgvault.* lines on stdin
  cat >>"$dir/data/postgresql.conf"
  sql -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
}
set_repository <"$pgv_s3_conf"
[ "$(sql -c "SHOW pgvault.repository")" = "s3://$s3_bucket/pgvault" ] || die "pgvault.repository did not change to S3"

# pgBackRest: a second configuration file, same stanza, repo1 of type s3 (path
# style, as Swift's s3api needs), and archiving into it for this section.
write_pgbr_conf "$pgbr_s3_conf" "repo1-type=s3
repo1-path=/pgbackrest
repo1-s3-bucket=$s3_bucket
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$s3_port
repo1-s3-region=$S3_REGION
repo1-s3-key=$S3_ACCESS_KEY_ID
repo1-s3-key-secret=$S3_SECRET_ACCESS_KEY
repo1-s3-uri-style=path
repo1-storage-ca-file=$S3_CA_FILE"
archive_to "$pgbr_s3_conf"
quiet as_pg_user pgbackrest --config="$pgbr_s3_conf" --stanza=bench stanza-create
quiet as_pg_user pgbackrest --config="$pgbr_s3_conf" --stanza=bench check

# Bytes and number of objects of pgBackRest's newest backup in the S3
# repository (all its objects, as dir_bytes counts the posix one).
pgbr_s3_bytes() {
  local label
  label=$(as_pg_user pgbackrest --config="$pgbr_s3_conf" --stanza=bench --output=json info |
    "$py" -c 'import json, sys; print(json.load(sys.stdin)[0]["backup"][-1]["label"])')
  as_pg_user pgbackrest --config="$pgbr_s3_conf" --output=json --recurse repo-ls "backup/bench/$label" |
    "$py" -c 'import json, sys
files = [e for e in json.load(sys.stdin).values() if e["type"] == "file"]
print(sum(e["size"] for e in files), len(files))'
}

for i in $(seq 1 "$runs"); do
  log "physical backups to S3, run $i/$runs"
  pgvault_backup ""
  pgv_s3=$NAME
  record pgvault_s3

  timed pgbackrest --config="$pgbr_s3_conf" --stanza=bench --type=full backup
  sizes=$(pgbr_s3_bytes) || die "cannot list pgBackRest's backup in the S3 repository"
  read -r SIZE pgbr_s3_objects <<<"$sizes"
  record pgbackrest_s3
done
for i in $(seq 1 "$runs"); do
  log "restores from S3, run $i/$runs"
  restore_both pgvault_s3_restore pgbackrest_s3_restore "$pgbr_s3_conf" --config "$pgv_s3_conf" --backup "$pgv_s3"
done

# Median time Swift's proxy took per PUT of pgBackRest (from its request log).
s3_put_ms=$(awk '$5 == "PUT" && $8 == 200 && $10 ~ /^pgBackRest\// {
    for (i = 11; i < NF; i++) if ($i ~ /^tx/) { print $(i + 2) * 1000; break } }' "$s3dir/log/proxy.log" |
  sort -g | awk '{a[NR] = $1} END{printf "%.0f", (NR ? a[int((NR + 1) / 2)] : 0)}')

# Back to the file repository and to archiving into the posix repository
# (checked: a WAL switch reaches it), then Swift goes.
set_repository <<EOF
pgvault.repository = 'file://$repo'
EOF
[ "$(sql -c "SHOW pgvault.repository")" = "file://$repo" ] || die "pgvault.repository did not change back"
archive_to "$pgbr_conf"
quiet as_pg_user pgbackrest --config="$pgbr_conf" --stanza=bench check
quiet as_pg_user bash "$servers/swift.sh" stop "$s3dir"

# --- pgbench TPS during a backup ------------------------------------------------------
# pgbench's default tpcb-like script (three UPDATEs, a SELECT and an INSERT per
# transaction, each commit flushed to WAL) on the bench database's pgbench
# tables, 4 clients, 2 threads, one progress line a second with its Unix time.
# Each condition: a checkpoint, pgbench started, $tps_warmup s of warm-up, then
# the window: one backup from start to end, and pgbench stopped; TPS is
# averaged over exactly that window. Every backup starts with a fast
# checkpoint, after which TPS dips for a while (full-page writes), so the
# reference without a backup is a run with a CHECKPOINT at the start of its
# window, as long as the longest backup of the round (at least $tps_idle s):
# each backup is compared with the reference's TPS over the same number of
# seconds after its checkpoint.
tps_warmup=5
tps_idle=15
pgbench_pid=""
pgbench_start() {
  local deadline=$((SECONDS + 120))
  : >"$dir/pgbench.progress"
  rm -f "$dir/pgbench.pid"
  # sh writes its pid and becomes pgbench: the pid to stop it by, as root too.
  # shellcheck disable=SC2016
  as_pg_user sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$dir/pgbench.pid" \
    pgbench -h "$dir" -p "$port" -U postgres -c 4 -j 2 -T 3600 -P 1 --progress-timestamp bench \
    >"$dir/pgbench.out" 2>"$dir/pgbench.progress" &
  pgbench_bg=$!
  until [ "$(grep -c '^progress: ' "$dir/pgbench.progress")" -ge "$tps_warmup" ]; do
    kill -0 "$pgbench_bg" 2>/dev/null || { cat "$dir/pgbench.progress" >&2; die "pgbench exited"; }
    [ $SECONDS -lt $deadline ] || die "pgbench reported no progress"
    sleep 0.2
  done
  pgbench_pid=$(cat "$dir/pgbench.pid")
}
# Stops pgbench once it has reported a second that ends after $1 (Unix time).
pgbench_stop() {
  local deadline=$((SECONDS + 10))
  until awk -v e="$1" '/^progress: / {t = $2 + 0} END {exit !(t >= e)}' "$dir/pgbench.progress"; do
    [ $SECONDS -lt $deadline ] || break
    sleep 0.2
  done
  kill "$pgbench_pid" 2>/dev/null || true
  wait "$pgbench_bg" 2>/dev/null || true
  pgbench_pid=""
}
# TPS over [$2, $3] (Unix times) from the progress lines in $1: each gives the
# TPS of the second before it; lines partly in the window count in proportion.
tps_window() {
  awk -v a="$2" -v b="$3" '/^progress: / {
      t = $2 + 0; p = (n++ ? prev : t - 1); prev = t
      lo = (p > a ? p : a); hi = (t < b ? t : b)
      if (hi > lo) { tx += $4 * (hi - lo); cov += hi - lo }
    } END {
      if (cov < 0.9 * (b - a)) { printf "pgbench progress covers %.1f of %.1f s\n", cov, b - a > "/dev/stderr"; exit 1 }
      printf "%.1f", tx / cov }' "$1"
}
declare -A TPS=() TPS_REF=() WINDOW=()
tps_run() {  # key, then the backup to run
  local key=$1 t0 t1 tps; shift
  sql -c "CHECKPOINT"
  pgbench_start
  t0=$EPOCHREALTIME
  "$@"
  t1=$EPOCHREALTIME
  pgbench_stop "$t1"
  tps=$(tps_window "$dir/pgbench.progress" "$t0" "$t1") || die "no TPS for $key"
  TPS[$key]="${TPS[$key]:-} $tps"
  WINDOW[$key]=$(elapsed "$t0" "$t1")
  log "  $key: pgbench $tps TPS over the backup's ${WINDOW[$key]} s"
}
# The reference of a round: no backup, a CHECKPOINT at the start of the window.
tps_reference() {
  local len=$tps_idle k t0 t1 tps
  for k in "${!WINDOW[@]}"; do
    len=$(awk -v a="$len" -v b="${WINDOW[$k]}" 'BEGIN{print (b > a ? b : a)}')
  done
  sql -c "CHECKPOINT"
  pgbench_start
  t0=$EPOCHREALTIME
  sql -c "CHECKPOINT"
  sleep "$(awk -v a="$t0" -v l="$len" -v n="$EPOCHREALTIME" 'BEGIN{d = a + l - n; printf "%.3f", (d > 0 ? d : 0)}')"
  t1=$EPOCHREALTIME
  pgbench_stop "$t1"
  tps=$(tps_window "$dir/pgbench.progress" "$t0" "$t1") || die "no TPS without a backup"
  TPS[tps_none]="${TPS[tps_none]:-} $tps"
  log "  tps_none: pgbench $tps TPS over $(elapsed "$t0" "$t1") s after a CHECKPOINT, no backup"
  for k in "${!WINDOW[@]}"; do
    tps=$(tps_window "$dir/pgbench.progress" "$t0" "$(awk -v a="$t0" -v l="${WINDOW[$k]}" 'BEGIN{printf "%.6f", a + l}')") ||
      die "no reference TPS for $k"
    TPS_REF[$k]="${TPS_REF[$k]:-} $tps"
  done
  WINDOW=()
}
set_max_rate() {  # kB/s, 0 = unlimited
  sql -c "ALTER SYSTEM SET pgvault.max_rate = $1" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  [ "$(sql -c "SELECT setting FROM pg_settings WHERE name = 'pgvault.max_rate'")" = "$1" ] ||
    die "pgvault.max_rate did not change to $1"
}
pgv_load() {  # key
  pgvault_backup ""
  record "$1"
}
bb_load() {  # key [pg_basebackup options]
  local key=$1; shift
  rm -rf "$dir/basebackup.load"
  timed pg_basebackup -h "$dir" -p "$port" -U postgres -D "$dir/basebackup.load" -Ft -Xfetch \
    --compress="server-zstd:level=$zstd_level,workers=$zstd_workers" --checkpoint=fast "$@"
  SIZE=$(dir_bytes "$dir/basebackup.load")
  record "$key"
}
pgbr_load() {  # key
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --type=full backup
  SIZE=$(dir_bytes "$(ls -d "$dir"/pgbr-repo/backup/bench/*F | sort | tail -n 1)")
  record "$1"
}
# The rate limit, on reads of the data directory: a third of the unthrottled
# read rate (database size / median time of the physical backups above).
# pgvault.max_rate is a read rate; pg_basebackup's --max-rate (BASE_BACKUP's
# MAX_RATE) counts the bytes sent after server-side compression, so it gets
# the same limit divided by the compression ratio, to read at the same rate.
clamp_rate() { awk -v r="$1" 'BEGIN{r = int(r); print (r < 32 ? 32 : (r > 1048576 ? 1048576 : r))}'; }
max_rate_kb=${MAX_RATE_KB:-$(clamp_rate "$(awk -v b="$db_bytes" -v t="$(median "${TIMES[pgvault_physical]}")" 'BEGIN{print b / t / 1024 / 3}')")}
if ! [[ $max_rate_kb =~ ^[0-9]+$ ]] || [ "$max_rate_kb" -lt 32 ] || [ "$max_rate_kb" -gt 1048576 ]; then
  die "MAX_RATE_KB must be between 32 and 1048576 (kB/s)"
fi
bb_rate_kb=$(clamp_rate "$(awk -v k="$max_rate_kb" -v o="${OUT[pg_basebackup]}" -v b="$cluster_bytes" 'BEGIN{print k * o / b}')")
for i in $(seq 1 "$runs"); do
  log "pgbench during backups, run $i/$runs (rate limit $max_rate_kb kB/s)"
  tps_run tps_pgvault pgv_load pgvault_load
  set_max_rate "$max_rate_kb"
  tps_run tps_pgvault_limited pgv_load pgvault_load_limited
  set_max_rate 0
  tps_run tps_basebackup bb_load pg_basebackup_load
  tps_run tps_basebackup_limited bb_load pg_basebackup_load_limited --max-rate="$bb_rate_kb"
  rm -rf "$dir/basebackup.load"
  tps_run tps_pgbackrest pgbr_load pgbackrest_load
  tps_reference
done

# --- RESULTS.md ---------------------------------------------------------------
row() {  # key tool operation
  local m; m=$(med "$1")
  printf '| %s | %s | %s s (%s) | %s | %s MB | %s MB |\n' "$2" "$3" "$m" "$(runs_list "$1")" \
    "$(awk -v b="$db_bytes" -v t="$m" 'BEGIN{printf "%.0f", b / 1048576 / t}')" \
    "$(mib "${OUT[$1]:-0}")" "$(awk -v k="${PEAK[$1]:-0}" 'BEGIN{printf "%.0f", k / 1024}')"
}
r_bb=$(ratio pgvault_physical pg_basebackup)
r_br=$(ratio pgvault_physical pgbackrest_backup)
r_rs=$(ratio pgvault_restore pgbackrest_restore)
r_ut=$(ratio pgvault_restore untar_sync)
r_un=$(ratio pgvault_restore untar)
r_ld=$(ratio pgvault_logical pg_dump)
r_s3=$(ratio pgvault_s3 pgbackrest_s3)
r_s3r=$(ratio pgvault_s3_restore pgbackrest_s3_restore)
# pgbench: median TPS (all runs in brackets) during a backup, and without one
# over as many seconds after a checkpoint; their ratio.
tps_fmt() {  # list
  printf '%s (%s)' "$(median "$1" | awk '{printf "%.0f", $1}')" \
    "$(tr ' ' '\n' <<<"$1" | grep . | awk '{printf "%s%.0f", (NR > 1 ? ", " : ""), $1}')"
}
tps_ratio() { awk -v a="$(median "${TPS[$1]}")" -v b="$(median "${TPS_REF[$1]}")" 'BEGIN{printf "%.2f", a / b}'; }
tps_row() {  # TPS key, backup key, what
  local m
  m=$(med "$2")
  printf '| %s | %s | %s | %s | %s s (%s) | %s | %s | %s MB |\n' "$3" "$(tps_fmt "${TPS[$1]}")" \
    "$(tps_fmt "${TPS_REF[$1]}")" "$(tps_ratio "$1")" "$m" "$(runs_list "$2")" \
    "$(awk -v b="$cluster_bytes" -v t="$m" 'BEGIN{printf "%.0f", b / 1048576 / t}')" \
    "$(awk -v b="${OUT[$2]:-0}" -v t="$m" 'BEGIN{printf "%.1f", b / 1048576 / t}')" "$(mib "${OUT[$2]:-0}")"
}
max_rate_mib=$(awk -v k="$max_rate_kb" 'BEGIN{printf "%.1f", k / 1024}')
# What the limit predicts for the throttled pgvault backup: what it reads / max_rate.
limited_predicted=$(awk -v b="$cluster_bytes" -v k="$max_rate_kb" 'BEGIN{printf "%.1f", b / 1024 / k}')
limited_read=$(awk -v b="$cluster_bytes" -v t="$(med pgvault_load_limited)" 'BEGIN{printf "%.1f", b / 1048576 / t}')
limited_read_bb=$(awk -v b="$cluster_bytes" -v t="$(med pg_basebackup_load_limited)" 'BEGIN{printf "%.1f", b / 1048576 / t}')
limited_sent=$(awk -v b="${OUT[pgvault_load_limited]:-0}" -v t="$(med pgvault_load_limited)" 'BEGIN{printf "%.1f", b / 1048576 / t}')
limited_sent_bb=$(awk -v b="${OUT[pg_basebackup_load_limited]:-0}" -v t="$(med pg_basebackup_load_limited)" 'BEGIN{printf "%.1f", b / 1048576 / t}')
if [ -n "${MAX_RATE_KB:-}" ]; then
  rate_origin="set with \`MAX_RATE_KB\`"
else
  rate_origin="a third of the unthrottled read rate of the physical backups above ($(awk -v b="$db_bytes" -v t="$(med pgvault_physical)" 'BEGIN{printf "%.0f", b / 1048576 / t}') MB/s)"
fi
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
Peak RSS: for pgvault backups the job worker's own (\`getrusage\`'s \`ru_maxrss\`, from its last log line); for the command-line
tools GNU time's maximum RSS (the same figure) (the largest single process, not a sum: pgBackRest's $cores worker processes
and zstd under tar are counted one at a time). The server-side compression of pgvault and pg_basebackup
runs in the walsender, which neither figure includes.

| tool | operation | wall time | MB/s | output size | peak RSS |
|---|---|---|---|---|---|
EOF
  row pgvault_physical pgvault "physical backup, zstd $zstd_level with $zstd_workers workers (server side), file repository"
  row pg_basebackup pg_basebackup "\`-Ft -Xfetch --compress=server-zstd:level=$zstd_level,workers=$zstd_workers\` to local disk"
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
| physical backup to S3: pgvault / pgBackRest | $r_s3 | — | |
| restore from S3: pgvault / pgBackRest | $r_s3r | — | |

## S3 repository (OpenStack Swift with s3api, HTTPS, on 127.0.0.1)

The same database and compression as above, to and from the S3 server of the tests
(\`test/servers/swift.sh\`: Swift $swift_version, one replica, its data on the same disk), over HTTPS
for both tools. pg_basebackup cannot write to S3 (it writes files or a tar stream on the client, or
with \`--target=server\` into a directory on the server), so it has no row here. Peak RSS as above:
for pgvault the job worker (which holds the multipart upload window, \`s3_parts_in_flight\` + 1 parts
of 8 MiB at most), for pgBackRest GNU time's largest single process.

| tool | operation | wall time | MB/s | output size | peak RSS |
|---|---|---|---|---|---|
EOF
  row pgvault_s3 pgvault "physical backup, zstd $zstd_level with $zstd_workers workers (server side), S3 repository"
  row pgbackrest_s3 pgBackRest "full backup, zst $zstd_level, process-max $cores, S3 repository"
  row pgvault_s3_restore pgvault "\`pgvault restore --config\` from S3"
  row pgbackrest_s3_restore pgBackRest "restore from S3, process-max $cores"
  cat <<EOF

pgvault uploads each backup as one tar object (a multipart upload in 8 MiB parts, 3 in flight) plus
its manifest and metadata. pgBackRest stores every file of the cluster as its own object
($pgbr_s3_objects objects per backup here), one request at a time per process; this Swift took a median
of $s3_put_ms ms per PUT of pgBackRest (proxy, object server and container listing, each writing to
disk), so $pgbr_s3_objects objects × $s3_put_ms ms / $cores processes ≈ $(awk -v n="$pgbr_s3_objects" -v m="$s3_put_ms" -v c="$cores" 'BEGIN{printf "%.0f", n * m / 1000 / c}') s of its backup's time.

## pgbench TPS during a backup

\`pgbench -c 4 -j 2\` with its default tpcb-like script (three UPDATEs, a SELECT and an INSERT per
transaction, each commit flushed to WAL, so the backup competes with it for CPU, disk and cache) on
the pgbench tables of \`bench\` (scale $scale), while one physical backup (zstd $zstd_level, to local disk)
runs from start to end. TPS is averaged over exactly the backup's window, from pgbench's per-second
progress lines with Unix timestamps, after $tps_warmup s of warm-up. Every backup starts with a fast
checkpoint, after which TPS dips by itself for a while (full-page writes), so the reference is
pgbench without a backup but with a \`CHECKPOINT\` at the start of the window, averaged over as many
seconds after it as the backup lasted ("no backup" column; ratio = with / without).

The limit is on reads of the data directory, $rate_origin: **$max_rate_kb kB/s** ($max_rate_mib MB/s)
as \`pgvault.max_rate\`. pgvault paces its reading of the stream to it (the server reports the bytes it has
read; \`BASE_BACKUP\`'s own \`MAX_RATE\` would count the bytes sent after compression). \`pg_basebackup --max-rate\`
is that \`MAX_RATE\`, so it gets the limit divided by the compression ratio, **$bb_rate_kb kB/s**, to read
at the same rate. "read MB/s" = cluster size / wall time, "sent MB/s" = output size / wall time.
pgBackRest 2.45 has no rate limit. Medians of $runs round(s), all runs in brackets.

| during | pgbench TPS | no backup | ratio | backup wall time | read MB/s | sent MB/s | output size |
|---|---|---|---|---|---|---|---|
EOF
  tps_row tps_pgvault pgvault_load "pgvault physical backup, \`max_rate\` 0 (unlimited)"
  tps_row tps_pgvault_limited pgvault_load_limited "pgvault physical backup, \`max_rate\` = $max_rate_mib MB/s"
  tps_row tps_basebackup pg_basebackup_load "pg_basebackup, no limit"
  tps_row tps_basebackup_limited pg_basebackup_load_limited "pg_basebackup \`--max-rate=$bb_rate_kb\`"
  tps_row tps_pgbackrest pgbackrest_load "pgBackRest full backup, process-max $cores"
  cat <<EOF

Without any backup, over the whole reference window (at least $tps_idle s after a \`CHECKPOINT\`):
$(tps_fmt "${TPS[tps_none]}") TPS.

With the limit, pgvault's backup read **$limited_read MB/s** of the cluster for a limit of $max_rate_mib MB/s
(sending $limited_sent MB/s; pg_basebackup read $limited_read_bb MB/s, sending $limited_sent_bb MB/s) and took
$(med pgvault_load_limited) s, where cluster size / limit predicts $limited_predicted s (plus the checkpoint).

## How each was run

- Same compression for every tool: zstd level $zstd_level for physical backups (pgvault
  \`pgvault.compression = 'zstd'\`, \`compression_level = $zstd_level\`, \`compression_workers = $zstd_workers\`,
  compressed by the server with $zstd_workers zstd threads; pg_basebackup
  \`--compress=server-zstd:level=$zstd_level,workers=$zstd_workers\`; pgBackRest \`compress-type=zst\`,
  \`compress-level=$zstd_level\`, \`process-max=$cores\`, compressed by pgBackRest's own processes).
  PostgreSQL 15's \`pg_dump -Fc\` compresses with gzip only, so the logical comparison is pgvault with
  \`pgvault.compression = 'gzip'\`, level $gzip_level, against \`pg_dump -Fc -Z $gzip_level\` (pgvault runs
  pg_dump with \`--compress=0\` and compresses the stream itself).
- All backups include the WAL needed to restore them and a fast checkpoint: pg_basebackup with
  \`-Xfetch\` (WAL inside base.tar, as pgvault asks for) and its default manifest checksums, CRC32C
  (what pgvault asks the server for). pgBackRest archives WAL with \`archive-push\`
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
- Every timed step starts after a \`sync\` (not timed), so none pays for the write-back of the step before it,
  and after a commit (\`txid_current()\`, not timed), so none creates the WAL segment the step before it switched to.
- S3: Swift runs with \`SWIFT_TLS=1\` (its proxy terminates TLS itself, with a self-signed certificate
  for 127.0.0.1), since pgBackRest's S3 client speaks only HTTPS; both tools verify it with the same CA
  file (pgvault \`pgvault.storage_ca_file\`, pgBackRest \`repo1-storage-ca-file\`) and use path-style
  URLs, one bucket, a prefix each. pgvault's settings are appended to postgresql.conf and reloaded, and
  \`pgvault restore\` reads the same lines with \`--config\`; pgBackRest has a second configuration file
  (same stanza, \`repo1-type=s3\`) and archives WAL into that repository during those runs. The output
  size is what is stored in the bucket (pgvault's \`stored_bytes\`; for pgBackRest all objects of the
  backup, as listed by \`repo-ls\`).
- pgbench TPS: \`synchronous_commit = on\` (the default), no checkpoint but the ones asked for
  (\`checkpoint_timeout = 30min\`, \`max_wal_size = 4GB\`). Each condition starts with a \`CHECKPOINT\`
  and a fresh pgbench (which vacuums its small tables and empties \`pgbench_history\`); pgbench is
  stopped after the window. The window of a backup starts when it is launched and ends when it returns
  (pgvault: \`create_backup(wait => true)\`), so it includes the backup's fast checkpoint. A round is
  the five backups, then the reference; pgbench, the backends, the walsender (server-side compression)
  and the backup's own processes share the machine's $cores cores. WAL is archived by pgBackRest
  \`archive-push\` into the posix repository throughout, as in the rest of the run.
EOF
} >"$results"

log "done in $bench_minutes minutes; results in $results"
cat "$results"
