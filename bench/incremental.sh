#!/usr/bin/env bash
# Side-by-side benchmark of incremental backups (issue 16): pgvault against
# pg_basebackup and pgBackRest on one throwaway cluster with data checksums.
# Not part of the test suite (it takes minutes).
#
#   bash bench/incremental.sh [--size-gb N] [--runs R]     (defaults: 1 GB, 3 runs)
#
# Each run, interleaved with its peers: full backups (pgvault physical,
# pg_basebackup -Ft server-zstd, pgBackRest full, and pgBackRest full into a
# second repository with block incremental); then six rounds of pgbench
# changing about PCT_CHANGED % (default 1) of the cluster's pages, each
# followed by a pgvault incremental and a pgBackRest --type=incr (the first
# round also a --type=diff and a block incremental); then restores of the
# chain of 7 (pgvault), of the full alone (pgvault; with `dd` of as many bytes
# and fsync beside it, through the page cache and around it, the disk's floor
# for writing them), of pgBackRest's last
# incremental and of its full; then `pgvault verify` (of the full, of the
# chain, and --stored-only of the chain) vs `pgbackrest verify` (of repo1, and
# of a copy of it without WAL). Writes the medians and the ratios against the targets
# to bench/INCREMENTAL_RESULTS.md (and prints it), with how many of pgvault's
# incrementals read only the blocks the WAL summaries named.
#
# Environment: ZSTD_LEVEL (default 3), PCT_CHANGED (default 1),
# INCREMENTAL_CHANGES (pgvault.incremental_changes, default wal_summary), NO_BUILD=1
# (use the installed pgvault instead of running scripts/build.sh), KEEP=1
# (keep the scratch directory). Workers: pgvault.backup_workers,
# pgvault.compression_workers, pg_basebackup's zstd workers and pgBackRest's
# process-max all equal the core count.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/lib.sh"

size_gb=1
runs=3
parse_size_and_runs "usage: bash bench/incremental.sh [--size-gb N] [--runs R]" "$@"
pct_target=${PCT_CHANGED:-1}
awk -v p="$pct_target" 'BEGIN{exit !(p > 0 && p < 50)}' || { echo "PCT_CHANGED must be above 0 and below 50" >&2; exit 2; }

zstd_level=${ZSTD_LEVEL:-3}
# pgvault.incremental_changes: wal_summary (the default), page_scan or check.
changes=${INCREMENTAL_CHANGES:-wal_summary}
case "$changes" in wal_summary|page_scan|check) ;; *) echo "INCREMENTAL_CHANGES must be wal_summary, page_scan or check" >&2; exit 2 ;; esac
cores=$(nproc)
rounds=6   # incrementals after the full: a chain of 7
results=$PGVAULT_ROOT/bench/INCREMENTAL_RESULTS.md
bench_start=$EPOCHREALTIME
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
py=/usr/bin/python3

install_missing_packages pgbackrest python3 time
prepare_pgvault

# --- scratch directory, cluster, cleanup --------------------------------------
dir=$(make_workdir bench-incremental)
port=$(( 20000 + RANDOM % 20000 ))
repo=$dir/pgvault-repo
pgbr_conf=$dir/pgbackrest.conf
target_dir=$dir/restore
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  as_pg_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting a throwaway cluster with data checksums in $dir (port $port)"
start_throwaway_cluster "$dir" "$port" --data-checksums <<EOF
max_wal_size = 4GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '/bin/true'
pgvault.repository = 'file://$repo'
pgvault.compression = 'zstd'
pgvault.compression_level = $zstd_level
pgvault.compression_workers = $cores
pgvault.backup_workers = $cores
pgvault.incremental_changes = '$changes'
EOF
sql -c "CREATE EXTENSION pgvault" -c "CREATE DATABASE bench"

# pgBackRest: repo1 as bench/run.sh's (file level), repo2 the same with
# bundling and block incremental (beta in 2.45). archive-push sends WAL to both.
mkdir -p "$dir/pgbr-repo" "$dir/pgbr-block-repo" "$dir/pgbr-log" "$dir/pgbr-lock" "$dir/pgbr-spool"
write_pgbr_conf "$pgbr_conf" "repo1-type=posix
repo1-path=$dir/pgbr-repo
repo2-type=posix
repo2-path=$dir/pgbr-block-repo
repo2-retention-full=1000
repo2-bundle=y
repo2-block=y
beta=y"
[ "$(id -u)" -eq 0 ] && chown -R "$PGVAULT_TEST_USER" "$dir"/pgbr-*
pgbr() { as_pg_user pgbackrest --config="$pgbr_conf" --stanza=bench "$@"; }
pgbr_version=$(pgbackrest version | awk '{print $2}')

# --- dataset --------------------------------------------------------------------
# pgbench only: its tpcb-like script is what changes the pages afterwards.
# About 15 MiB on disk (tables + indexes) per scale unit.
target=$(awk -v s="$size_gb" 'BEGIN{printf "%.0f", s * 1073741824}')
scale=$(awk -v t="$target" 'BEGIN{s = int(t / 15728640 + 0.5); print (s < 1 ? 1 : s)}')
log "dataset: pgbench -i -s $scale"
quiet as_pg_user pgbench -h "$dir" -p "$port" -U postgres -i -I dtGvp -s "$scale" -q bench
DB=bench sql -c "VACUUM (FREEZE, ANALYZE)"
sql -c "CHECKPOINT"
db_bytes=$(sql -c "SELECT pg_database_size('bench')")
cluster_bytes=$(sql -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
pg_version=$(sql -c "SHOW server_version")
log "dataset: bench database $(mib "$db_bytes") MB, cluster $(mib "$cluster_bytes") MB"

archive_to "$pgbr_conf"
quiet pgbr stanza-create
quiet pgbr check
# Does this pgBackRest take block incremental backups? (2.46 introduced them
# as far as its release notes go; 2.45 knows the options.) Probed with a full
# backup into repo2; a refusal is reported, not fatal.
block_supported=0
if pgbr --repo=2 --type=full backup >"$dir/block.log" 2>&1; then
  block_supported=1
  block_note="yes: \`repo-block\` with \`repo-bundle\` and \`beta=y\` took a full and incrementals into repo2"
else
  block_note="no: \`pgbackrest --repo=2 backup\` with \`repo2-block=y\`, \`repo2-bundle=y\`, \`beta=y\` failed: $(grep -m1 -E 'ERROR|error' "$dir/block.log" | tr '|' '/' || head -n1 "$dir/block.log")"
  log "pgBackRest block incremental: $block_note"
fi

# --- measurements ---------------------------------------------------------------
# Pages of the cluster's relation files (every fork, every segment) and how
# many of them carry a page LSN at or after $1: the pages changed since then.
# Read from disk after a CHECKPOINT, so every change is there.
count_pages() {  # LSN (X/Y)
  sql -c "CHECKPOINT"
  "$py" - "$dir/data" "$1" <<'PY'
import os, re, struct, sys
data, lsn = sys.argv[1], sys.argv[2]
hi, lo = lsn.split('/')
since = (int(hi, 16) << 32) | int(lo, 16)
relation = re.compile(r'^\d+(_(fsm|vm|init))?(\.\d+)?$')
changed = total = 0
for top in ('base', 'global', 'pg_tblspc'):
    for root, _, files in os.walk(os.path.join(data, top), followlinks=True):
        for name in files:
            if not relation.match(name):
                continue
            try:
                f = open(os.path.join(root, name), 'rb')
            except FileNotFoundError:
                continue
            with f:
                while True:
                    page = f.read(8192)
                    if len(page) < 8192:
                        break
                    total += 1
                    xlogid, xrecoff = struct.unpack_from('<II', page)
                    if ((xlogid << 32) | xrecoff) >= since:
                        changed += 1
print(changed, total)
PY
}
# How the last pgvault incremental found its changed pages (its log line):
# counts those read through WAL summaries.
summarized=0 incrementals=0
how_incremental() {
  local line
  line=$(grep -o "backup \"$NAME\": \(changed pages are read\|every page is read\).*" "$dir/server.log" | tail -n 1)
  incrementals=$(( incrementals + 1 ))
  case "$line" in *"changed pages are read"*) summarized=$(( summarized + 1 )) ;; esac
  log "  ${line#*: }"
}
# One round of changes: pgbench's tpcb-like script, $txns transactions on 2
# clients; sets PCT (the share of pages changed, measured).
txns=$(( scale * 12 ))   # about 1 % at any scale (two random pages a transaction); adjusted after each round
declare -a PCTS=()
change_pages() {
  local before counts
  before=$(sql -c "SELECT pg_current_wal_lsn()")
  quiet as_pg_user pgbench -h "$dir" -p "$port" -U postgres -n -c 2 -j 2 -t $(( (txns + 1) / 2 )) bench
  counts=$(count_pages "$before")
  read -r changed total <<<"$counts"
  PCT=$(awk -v c="$changed" -v t="$total" 'BEGIN{printf "%.2f", 100 * c / t}')
  PCTS+=("$PCT")
  log "  pgbench $txns transactions changed $changed of $total pages ($PCT %)"
  # Aim the next round at the target: changed pages grow about linearly with transactions here.
  txns=$(awk -v n="$txns" -v p="$PCT" -v t="$pct_target" 'BEGIN{m = int(n * t / (p > 0.01 ? p : 0.01) + 0.5); print (m < 10 ? 10 : m)}')
}
# pgBackRest's newest backup in repo $1: its label and the bytes it stored
# (info.repository.delta: what this backup added to the repository).
pgbr_last() {  # repo
  pgbr --repo="$1" --output=json info |
    "$py" -c 'import json, sys
b = json.load(sys.stdin)[0]["backup"][-1]
print(b["label"], b["info"]["repository"]["delta"])'
}
pgbr_backup() {  # key repo type
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --repo="$2" --type="$3" backup
  local last; last=$(pgbr_last "$2")
  read -r LABEL SIZE <<<"$last"
  record "$1"
}
pgv_restore() {  # key backup expected-chain-length
  timed pgvault restore --repo "file://$repo" --backup "$2" --pgdata "$target_dir"
  if [ "$3" -gt 1 ]; then
    grep -q "chain of $3 backups" "$dir/cmd.log" || { cat "$dir/cmd.log" >&2; die "restore of $2 did not go through a chain of $3"; }
  fi
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record "$1"
}

bb_dir=$dir/basebackup
basebackup_full() {
  rm -rf "$bb_dir"
  timed pg_basebackup -h "$dir" -p "$port" -U postgres -D "$bb_dir" -Ft -Xfetch \
    --compress="server-zstd:level=$zstd_level,workers=$cores" --checkpoint=fast
  SIZE=$(dir_bytes "$bb_dir"); rm -rf "$bb_dir"
  record pg_basebackup
}
for i in $(seq 1 "$runs"); do
  log "run $i/$runs: full backups"
  # Which of the two goes first alternates from run to run: whatever the
  # first backup after the previous run's steps pays, each pays it as often.
  if (( i % 2 == 0 )); then basebackup_full; fi
  pgvault_backup ""
  pgv_full=$NAME
  record pgvault_full
  if (( i % 2 == 1 )); then basebackup_full; fi

  pgbr_backup pgbackrest_full 1 full
  pgbr_full=$LABEL
  [ "$block_supported" = 1 ] && pgbr_backup pgbackrest_block_full 2 full
  # Only this run's backups stay in pgBackRest's repositories: its verify checks a whole repository.
  quiet pgbr expire --repo1-retention-full=1 --repo2-retention-full=1

  for r in $(seq 1 "$rounds"); do
    log "run $i/$runs: round $r/$rounds of changes"
    change_pages
    if [ "$r" = 1 ]; then
      pgvault_backup "kind => 'incremental'"
      how_incremental
      record pgvault_incr
      pgbr_backup pgbackrest_incr 1 incr
      pgbr_backup pgbackrest_diff 1 diff
      [ "$block_supported" = 1 ] && pgbr_backup pgbackrest_block_incr 2 incr
    else
      pgvault_backup "kind => 'incremental'"
      how_incremental
      record pgvault_incr_later
      pgbr_backup pgbackrest_incr_later 1 incr
    fi
  done
  pgv_last=$NAME

  log "run $i/$runs: restores"
  pgv_restore pgvault_restore_chain "$pgv_last" $(( rounds + 1 ))
  pgv_restore pgvault_restore_full "$pgv_full" 1
  # The disk's own floor for those bytes: one file written sequentially and
  # fsynced, nothing decoded (a restore cannot be faster than writing them).
  floor_mb=$(( (OUT[pgvault_restore_full] + 1048575) / 1048576 ))
  timed dd if=/dev/zero of="$dir/disk-floor" bs=1M count="$floor_mb" conv=fsync status=none
  SIZE=$(dir_bytes "$dir/disk-floor"); rm -f "$dir/disk-floor"
  record disk_floor
  # Around the page cache too: on a guest whose first touch of a page traps
  # to its host, that is the faster way to the disk (pgvault's restore writes
  # its large files so).
  timed dd if=/dev/zero of="$dir/disk-floor" bs=1M count="$floor_mb" oflag=direct conv=fsync status=none
  SIZE=$(dir_bytes "$dir/disk-floor"); rm -f "$dir/disk-floor"
  record disk_floor_direct
  as_pg_user mkdir -m 700 "$target_dir"
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --repo=1 --pg1-path="$target_dir" restore
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record pgbackrest_restore
  # The issue's restore target: a full against pgBackRest's restore of the same data, its full.
  as_pg_user mkdir -m 700 "$target_dir"
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --repo=1 --pg1-path="$target_dir" \
    --set="$pgbr_full" restore
  SIZE=$(dir_bytes "$target_dir"); rm -rf "$target_dir"
  record pgbackrest_restore_full

  log "run $i/$runs: verify"
  SIZE=""
  timed pgvault verify --repo "file://$repo" --backup "$pgv_full"
  record pgvault_verify
  timed pgvault verify --repo "file://$repo" --backup "$pgv_last"
  record pgvault_verify_chain
  timed pgvault verify --stored-only --repo "file://$repo" --backup "$pgv_last"
  record pgvault_verify_stored
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --repo=1 verify
  record pgbackrest_verify
  # The same backups with no WAL archive beside them (pgvault's carry their
  # WAL inside): a copy of repo1 without its WAL segments, not timed.
  as_pg_user rm -rf "$dir/pgbr-repo-backups"
  as_pg_user cp -a "$dir/pgbr-repo" "$dir/pgbr-repo-backups"
  as_pg_user find "$dir/pgbr-repo-backups/archive" -mindepth 3 -type d -name '[0-9A-F]*' -prune -exec rm -rf {} +
  timed pgbackrest --config="$pgbr_conf" --stanza=bench --repo=1 --repo1-path="$dir/pgbr-repo-backups" verify
  record pgbackrest_verify_backups
  as_pg_user rm -rf "$dir/pgbr-repo-backups"
done
pgbr_backups=$(pgbr --repo=1 info | grep -c 'backup: ' || true)

# --- INCREMENTAL_RESULTS.md -------------------------------------------------------
row() {  # key tool operation
  printf '| %s | %s | %s s (%s) | %s | %s MB |\n' "$2" "$3" "$(med "$1")" "$(runs_list "$1")" \
    "$(awk -v b="${OUT[$1]:-}" 'BEGIN{if (b == "") printf "—"; else printf (b < 10485760 ? "%.2f MB" : "%.0f MB"), b / 1048576}')" \
    "$(awk -v k="${PEAK[$1]:-0}" 'BEGIN{printf "%.0f", k / 1024}')"
}
# value, target (≤), what
target_row() { printf '| %s | %s | ≤ %s | %s |\n' "$3" "$1" "$2" "$(verdict "$1" "$2")"; }
size_ratio() { awk -v a="${OUT[$1]}" -v b="${OUT[$2]}" 'BEGIN{printf "%.3f", a / b}'; }
time_ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.3f", a / b}'; }
pct_list=$(printf '%s\n' "${PCTS[@]}" | sort -g | awk '{a[NR] = $1} END{printf "%.2f–%.2f %% (median %.2f %%)", a[1], a[NR], (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
incr_rss=$(awk -v k="${PEAK[pgvault_incr]}" -v l="${PEAK[pgvault_incr_later]:-0}" 'BEGIN{printf "%.0f", (k > l ? k : l) / 1024}')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
bench_minutes=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) / 60}')
mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
pgvault_commit=$(git -C "$PGVAULT_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cmdline="bash bench/incremental.sh --size-gb $size_gb --runs $runs"
[ "$pct_target" = 1 ] || cmdline="PCT_CHANGED=$pct_target $cmdline"
[ "$zstd_level" = 3 ] || cmdline="ZSTD_LEVEL=$zstd_level $cmdline"
[ "$changes" = wal_summary ] || cmdline="INCREMENTAL_CHANGES=$changes $cmdline"

{
  cat <<EOF
# Incremental backup benchmark results

\`$cmdline\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores, $mem_gib GiB RAM, $(uname -sr),
PostgreSQL $pg_version, pgBackRest $pgbr_version, pgvault at $pgvault_commit. The whole run took $bench_minutes minutes.
Load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end (a shared machine:
other people's builds and tests ran alongside).

Dataset: a cluster initialised with \`--data-checksums\`; database \`bench\` = pgbench scale $scale,
**$(mib "$db_bytes") MB** (the cluster $(mib "$cluster_bytes") MB). MB = 2^20 bytes.

Changes: each round runs pgbench's tpcb-like script (\`-n -c 2 -j 2\`), then a \`CHECKPOINT\`, and
counts the pages of every relation file of the cluster (all forks and segments) whose page LSN is at
or after the WAL position from before pgbench (read from disk by the script). The first round runs
$(( scale * 12 )) transactions; each next one is scaled by target / measured. Pages changed per round,
all $(( runs * rounds )) rounds: **$pct_list** (target $pct_target %).

Each run: full backups; round 1 of changes, then the incrementals; rounds 2–$rounds with one
pgvault incremental and one pgBackRest \`--type=incr\` each (a chain of $(( rounds + 1 )): full +
$rounds incrementals); restores; verifies. pgvault's incrementals ran with
\`pgvault.incremental_changes = '$changes'\`: **$summarized of $incrementals** read only the blocks
the WAL summaries named (the others read every page; the backup's log line says why).
$runs run(s); wall time is the median (all runs in
brackets); size is the last run's. Peak RSS: pgvault backups the job worker's own (\`getrusage\`'s
\`ru_maxrss\`, from its last log line); command-line tools GNU time's (the same figure) of their largest single process.

| tool | operation | wall time | stored / written | peak RSS |
|---|---|---|---|---|
EOF
  row pgvault_full pgvault "full physical backup, zstd $zstd_level, $cores compression workers (server side)"
  row pg_basebackup pg_basebackup "\`-Ft -Xfetch --compress=server-zstd:level=$zstd_level,workers=$cores\` (default CRC32C manifest checksums)"
  row pgbackrest_full pgBackRest "full backup, zst $zstd_level, process-max $cores"
  [ "$block_supported" = 1 ] && row pgbackrest_block_full pgBackRest "full backup, block incremental repository (bundle + block, beta)"
  row pgvault_incr pgvault "incremental after round 1, $cores backup workers"
  row pgbackrest_incr pgBackRest "\`--type=incr\` after round 1 (file level)"
  row pgbackrest_diff pgBackRest "\`--type=diff\` after round 1 (file level)"
  [ "$block_supported" = 1 ] && row pgbackrest_block_incr pgBackRest "\`--type=incr\` after round 1, block incremental"
  row pgvault_incr_later pgvault "incrementals of rounds 2–$rounds"
  row pgbackrest_incr_later pgBackRest "\`--type=incr\` of rounds 2–$rounds"
  row pgvault_restore_chain pgvault "\`pgvault restore\` of the chain of $(( rounds + 1 )) (full + $rounds incrementals)"
  row pgvault_restore_full pgvault "\`pgvault restore\` of the full alone"
  row disk_floor disk "\`dd\` of as many bytes into one file, \`conv=fsync\` (the disk's floor for writing them)"
  row disk_floor_direct disk "the same with \`oflag=direct\` (around the page cache)"
  row pgbackrest_restore pgBackRest "restore of its last incremental, process-max $cores"
  row pgbackrest_restore_full pgBackRest "restore of its full (\`--set\`), process-max $cores"
  row pgvault_verify pgvault "\`pgvault verify\` of the full (decodes it, checks every file)"
  row pgvault_verify_chain pgvault "\`pgvault verify\` of the chain of $(( rounds + 1 )) (decodes every backup, checks every file)"
  row pgvault_verify_stored pgvault "\`pgvault verify --stored-only\` of the chain of $(( rounds + 1 )) (stored bytes' SHA-256)"
  row pgbackrest_verify pgBackRest "\`pgbackrest verify\` of repo1 (this run's full + $rounds incrementals + WAL archive)"
  row pgbackrest_verify_backups pgBackRest "\`pgbackrest verify\` of the same backups, WAL archive left out (stored bytes' SHA-1)"
  cat <<EOF

pgBackRest block incremental in $pgbr_version: $block_note.

## Targets

| comparison | value | target | |
|---|---|---|---|
EOF
  target_row "$(time_ratio pgvault_full pg_basebackup)" 1.0 "full backup wall time: pgvault / pg_basebackup"
  target_row "$(time_ratio pgvault_full pgbackrest_full)" 0.8 "full backup wall time: pgvault / pgBackRest"
  target_row "$(time_ratio pgvault_incr pgvault_full)" 0.15 "incremental after ~$pct_target %: wall time / pgvault full's"
  target_row "$(size_ratio pgvault_incr pgvault_full)" 0.1 "incremental after ~$pct_target %: stored bytes / pgvault full's"
  target_row "$(size_ratio pgvault_incr pgbackrest_incr)" 0.999 "incremental stored bytes: pgvault / pgBackRest incr (smaller)"
  target_row "$(time_ratio pgvault_restore_chain pgvault_restore_full)" 1.3 "restore: chain of $(( rounds + 1 )) / full alone (pgvault)"
  target_row "$(time_ratio pgvault_restore_full pgbackrest_restore_full)" 0.5 "restore of a full: pgvault / pgBackRest's restore of its full"
  target_row "$(time_ratio pgvault_verify_stored pgbackrest_verify_backups)" 0.5 "verify of the same chain, the same check: pgvault \`--stored-only\` / \`pgbackrest verify\`"
  target_row "$incr_rss" 64 "job worker peak RSS during incrementals (MiB)"
  cat <<EOF

Informational: restore of the full / the disk's floor for its bytes $(time_ratio pgvault_restore_full disk_floor),
pgBackRest's / the floor $(time_ratio pgbackrest_restore_full disk_floor);
against the floor with \`oflag=direct\` $(time_ratio pgvault_restore_full disk_floor_direct) and $(time_ratio pgbackrest_restore_full disk_floor_direct);
restore of pgvault's chain of $(( rounds + 1 )) / pgBackRest's restore of its last incremental
$(time_ratio pgvault_restore_chain pgbackrest_restore); incremental wall time pgvault / pgBackRest incr $(time_ratio pgvault_incr pgbackrest_incr);
full stored bytes pgvault / pg_basebackup $(size_ratio pgvault_full pg_basebackup), / pgBackRest $(size_ratio pgvault_full pgbackrest_full).
Verify, deeper than pgBackRest's: pgvault's default verify (decoding) of the full / \`pgbackrest verify\` of repo1
$(time_ratio pgvault_verify pgbackrest_verify), of the chain / repo1 $(time_ratio pgvault_verify_chain pgbackrest_verify),
of the chain / pgBackRest's same backups $(time_ratio pgvault_verify_chain pgbackrest_verify_backups).
EOF
  if [ "$block_supported" = 1 ]; then
    echo "Against pgBackRest's block incremental (beta): stored bytes pgvault / pgBackRest $(size_ratio pgvault_incr pgbackrest_block_incr), wall time $(time_ratio pgvault_incr pgbackrest_block_incr)."
  fi
  cat <<EOF

## How each was run

- Same compression everywhere: zstd level $zstd_level (pgvault \`pgvault.compression = 'zstd'\`,
  \`compression_workers = $cores\`; pg_basebackup \`server-zstd:level=$zstd_level,workers=$cores\`;
  pgBackRest \`compress-type=zst\`, \`compress-level=$zstd_level\`, \`process-max=$cores\`).
  pgvault's incremental reads the data directory on \`pgvault.backup_workers = $cores\` threads.
- pg_basebackup keeps its default manifest checksums (CRC32C); its output goes to local disk and is removed.
  pgvault's full and pg_basebackup take turns going first (odd runs pgvault, even runs pg_basebackup).
- pgBackRest archives WAL with \`archive-push\` into both its repositories; its stored size is
  \`info.repository.delta\` of \`pgbackrest info --output=json\` (what the backup added to the
  repository, WAL archive not counted). pgvault's is \`stored_bytes\` of \`vault.history\` (the
  backup's WAL is inside it). After each run's full, \`pgbackrest expire\` keeps only that full,
  so \`pgbackrest verify\` (2.45 has no option to verify one backup) checks that run's chain and its WAL.
- What each verify checks. \`pgbackrest verify\` (2.45) checks every backup file's stored bytes
  against the SHA-1 its manifest records of them (\`rck\`) without decompressing them, and
  decompresses and checks the WAL archive's segments. \`pgvault verify --stored-only\` makes the
  same check of the backups (size and SHA-256 of every object of the chain against backup.json);
  the target compares it with pgBackRest's verify of the same backups, on a copy of repo1 without
  its WAL segments (pgvault's backups carry their WAL inside their objects). pgvault's default
  verify goes further: it decompresses every object and checks every file against backup_manifest.
- Restores go to an empty directory on the same disk, removed after each run; the size column is
  the restored directory. pgBackRest restores no WAL into pg_wal. pgvault restores end with one
  \`syncfs()\`; the restore of the chain checks it went through $(( rounds + 1 )) backups.
- The page cache is warm (the cluster fits in RAM). Servers and tools run as \`$PGVAULT_TEST_USER\`.
- Every timed step starts after a \`sync\` (not timed), so none pays for the write-back of the step before it,
  and after a commit (\`txid_current()\`, not timed), so none creates the WAL segment the step before it switched to.
EOF
} >"$results"

log "done in $bench_minutes minutes; results in $results"
cat "$results"
