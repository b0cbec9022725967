#!/usr/bin/env bash
# The main job, from nothing: installs dependencies, builds and installs
# pgvault, starts a throwaway cluster with pgvault preloaded, takes a backup
# with SQL, prints vault.history and says where the backup is.
#   --keep   leave the throwaway cluster running afterwards
set -euo pipefail
source "$(dirname "$0")/common.sh"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash "$PGVAULT_ROOT/scripts/build.sh" --no-tests
ensure_test_user

dir=$(make_workdir demo)
port=$(( 20000 + RANDOM % 20000 ))
data="$dir/data"
psql_cmd=(psql -X -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)

echo "== starting a throwaway cluster in $data (port $port)"
start_throwaway_cluster "$dir" "$port" </dev/null
cleanup() { $keep || as_pg_user pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

as_pg_user "${psql_cmd[@]}" -q -c "CREATE EXTENSION pgvault"
as_pg_user pgbench -h "$dir" -p "$port" -U postgres -i -s 10 -q postgres 2>/dev/null

echo "== SELECT * FROM vault.create_backup(label => 'first backup')"
as_pg_user "${psql_cmd[@]}" -x -c "SELECT * FROM vault.create_backup(label => 'first backup')"

echo "== vault.history"
as_pg_user "${psql_cmd[@]}" -c "SELECT id, name, kind, status, started_at, duration,
  pg_size_pretty(source_bytes) AS source, pg_size_pretty(stored_bytes) AS stored, compression
  FROM vault.history ORDER BY id"

repo=$(as_pg_user "${psql_cmd[@]}" -Atc "SHOW pgvault.repository")
location=$(as_pg_user "${psql_cmd[@]}" -Atc "SELECT location FROM vault.history ORDER BY id DESC LIMIT 1")
echo "== the repository, read by the pgvault CLI alone"
pgvault list --repo "$repo"
echo
echo "The backup is in ${location#file://}"
ls -l "${location#file://}"
echo
echo "Restore it into a new data directory with:"
echo "  pgvault restore --repo $repo --backup latest --pgdata /path/to/new/data"
if $keep; then
  echo "The cluster keeps running: psql -h $dir -p $port -U postgres   (stop: pg_ctl -D $data stop)"
else
  echo "The throwaway cluster is stopped; its files stay in $dir (rerun with --keep to keep it running)."
fi
