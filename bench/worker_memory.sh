#!/usr/bin/env bash
# Peak RSS (VmHWM) of the pgvault job worker at two database sizes: memory
# must not grow with the data. Not part of the test suite (it takes minutes).
#   bash bench/worker_memory.sh [small_scale] [large_scale]   (pgbench scales; default 20 and 200)
# Environment: STORE=file|s3|azure (default file; s3 and azure start the test
# servers of test/servers on 127.0.0.1), COMPRESSION (default zstd; none
# makes every byte of the database cross the upload path).
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
small=${1:-20}
large=${2:-200}
store=${STORE:-file}
compression=${COMPRESSION:-zstd}
bash "$PGVAULT_ROOT/scripts/build.sh" >/dev/null
[ "$store" = file ] || bash "$PGVAULT_ROOT/test/servers/install.sh" >/dev/null
ensure_test_user
dir=$(make_workdir bench)
port=$(( 20000 + RANDOM % 20000 ))
servers="$PGVAULT_ROOT/test/servers"
cleanup() {
  as_pg_user pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  case $store in
    s3) as_pg_user bash "$servers/swift.sh" stop "$dir/store" >/dev/null 2>&1 || true ;;
    azure) as_pg_user bash "$servers/azurite.sh" stop "$dir/store" >/dev/null 2>&1 || true ;;
  esac
  rm -rf "$dir"
}
trap cleanup EXIT
repository_conf() {
  case $store in
    file) echo "pgvault.repository = 'file://$dir/repo'" ;;
    s3)
      as_pg_user bash "$servers/swift.sh" start "$dir/store" >/dev/null
      # shellcheck disable=SC1091
      source "$dir/store/env"
      printf "pgvault.repository = 's3://bench/memory'\npgvault.s3_endpoint = '%s'\npgvault.s3_region = '%s'\n" \
        "$S3_ENDPOINT" "$S3_REGION"
      printf "pgvault.s3_access_key_id = '%s'\npgvault.s3_secret_access_key = '%s'\n" \
        "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" ;;
    azure)
      as_pg_user bash "$servers/azurite.sh" start "$dir/store" >/dev/null
      # shellcheck disable=SC1091
      source "$dir/store/env"
      printf "pgvault.repository = 'azure://bench/memory'\npgvault.azure_endpoint = '%s'\n" "$AZURE_ENDPOINT"
      printf "pgvault.azure_account = '%s'\npgvault.azure_key = '%s'\n" "$AZURE_ACCOUNT" "$AZURE_KEY" ;;
    *) echo "STORE must be file, s3 or azure" >&2; exit 2 ;;
  esac
}
start_throwaway_cluster "$dir" "$port" <<EOF
max_wal_size = 4GB
pgvault.compression = '$compression'
$(repository_conf)
EOF
psql_cmd=(as_pg_user psql -X -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq)
"${psql_cmd[@]}" -c "CREATE EXTENSION pgvault"

measure() {
  local scale=$1
  as_pg_user pgbench -h "$dir" -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1
  local size id pid peak=0 hwm
  size=$("${psql_cmd[@]}" -c "SELECT pg_database_size('postgres')")
  id=$("${psql_cmd[@]}" -c "SELECT id FROM vault.create_backup(wait => false)")
  pid=$("${psql_cmd[@]}" -c "SELECT worker_pid FROM vault.backups WHERE id = $id")
  while [ -r "/proc/$pid/status" ]; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    sleep 0.05
  done
  local row
  row=$("${psql_cmd[@]}" -c "SELECT status, round(extract(epoch FROM duration)::numeric, 2), stored_bytes FROM vault.history WHERE id = $id")
  printf '| %s | %s MB | %s | %s s | %s MB | %s MB |\n' "$scale" "$((size / 1048576))" "${row%%|*}" \
    "$(cut -d'|' -f2 <<<"$row")" "$(( $(cut -d'|' -f3 <<<"$row") / 1048576 ))" "$((peak / 1024))"
}

echo "store: $store, compression: $compression"
echo "| pgbench scale | database size | status | duration | stored | job worker peak RSS |"
echo "|---|---|---|---|---|---|"
measure "$small"
measure "$large"
