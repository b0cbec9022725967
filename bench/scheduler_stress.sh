#!/usr/bin/env bash
# Scheduler stress (issue 13 item 0): pgvault.schedule = '1 seconds' and
# pgvault.retention_count = 2 on an idle throwaway cluster until N scheduled
# backups completed; counts crashes of any server process ("terminated by
# signal" in the server log). Not part of the test suite (it takes minutes).
#   bash bench/scheduler_stress.sh [N]            (default 1000)
# Environment: NO_BUILD=1 uses what is installed; VALGRIND=1 runs the server
# (and so the scheduler and job workers) under valgrind's memcheck, which
# reports reads of freed memory (slow: use a small N); KEEP=1 keeps the work dir.
# Prints: backups=<completed scheduled backups> skipped=<skipped rows>
# crashes=<n> seconds=<elapsed>; exits 1 if any process crashed.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
target=${1:-1000}
[ -n "${NO_BUILD:-}" ] || bash "$PGVAULT_ROOT/scripts/build.sh" >/dev/null
ensure_test_user
dir=$(make_workdir stress)
port=$(( 20000 + RANDOM % 20000 ))
cleanup() {
  as_pg_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && { echo "kept $dir"; return; }
  rm -rf "$dir"
}
trap cleanup EXIT

conf="pgvault.repository = 'file://$dir/repo'
pgvault.schedule = '1 seconds'
pgvault.retention_count = 2
pgvault.compression = 'none'
log_min_messages = log"
if [ -n "${VALGRIND:-}" ]; then
  # pg_ctl -p starts the postmaster through a wrapper (pg_ctl finds its own
  # postgres by its resolved path, not by PATH); valgrind follows the
  # postmaster's forks: the scheduler and the job workers. pg_dump and
  # friends are exec'd and not traced.
  real=$(command -v postgres)
  printf '#!/bin/sh\nexec valgrind --quiet --trace-children=no --leak-check=no --num-callers=20 --log-file="%s/valgrind.%%p.log" "%s" "$@"\n' \
    "$dir" "$real" >"$dir/postgres-valgrind"
  chmod 755 "$dir/postgres-valgrind"
  as_pg_user initdb -D "$dir/data" -U postgres -A trust >/dev/null
  printf "shared_preload_libraries = 'pgvault'\nport = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n%s\n" \
    "$port" "$dir" "$conf" >>"$dir/data/postgresql.conf"
  as_pg_user pg_ctl -D "$dir/data" -l "$dir/server.log" -p "$dir/postgres-valgrind" -t 600 -w start >/dev/null
else
  start_throwaway_cluster "$dir" "$port" <<<"$conf"
fi
psql_cmd=(as_pg_user psql -X -h "$dir" -p "$port" -U postgres -d postgres -Atq)
"${psql_cmd[@]}" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgvault"
start=$(date +%s)
done_count=0
while :; do
  # The server may be restarting after a crash: retry quietly.
  n=$("${psql_cmd[@]}" -c "SELECT count(*) FROM vault.backups WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')" 2>/dev/null || echo "")
  [ -n "$n" ] && done_count=$n
  crashes=$(grep -c 'terminated by signal' "$dir/server.log" || true)
  if [ "$done_count" -ge "$target" ]; then break; fi
  if [ -n "${MAX_SECONDS:-}" ] && [ $(( $(date +%s) - start )) -ge "$MAX_SECONDS" ]; then break; fi
  sleep 2
done
skipped=$("${psql_cmd[@]}" -c "SELECT count(*) FROM vault.backups WHERE status = 'skipped'" 2>/dev/null || echo "?")
crashes=$(grep -c 'terminated by signal' "$dir/server.log" || true)
echo "backups=$done_count skipped=$skipped crashes=$crashes seconds=$(( $(date +%s) - start ))"
grep 'terminated by signal' "$dir/server.log" | head -5 || true
if [ -n "${VALGRIND:-}" ]; then
  errors=$(cat "$dir"/valgrind.*.log 2>/dev/null | grep -c 'Invalid read\|Invalid write\|Invalid free' || true)
  echo "valgrind: $errors invalid reads/writes/frees in $(ls "$dir"/valgrind.*.log | wc -l) process logs"
  cat "$dir"/valgrind.*.log 2>/dev/null | grep -A12 'Invalid read\|Invalid write\|Invalid free' | head -60 || true
fi
[ "$crashes" -eq 0 ]
