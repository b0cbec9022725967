#!/usr/bin/env bash
# A throwaway Azurite (Azure Blob emulator, npm package pinned in package.json)
# on 127.0.0.1: blob service only, SharedKey checked, path-style URLs.
#
#   azurite.sh start DIR   data, log and pid file live in DIR; prints AZURE_*
#                          lines (shell-sourceable), also in DIR/env.  A second
#                          start on the same DIR reuses its port and data.
#   azurite.sh stop DIR    stops the server started from DIR (idempotent).
#
# With DIR/tls/cert.pem and DIR/tls/key.pem present it serves HTTPS with that
# certificate (the endpoint printed is then https://).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AZURITE=$HERE/node_modules/.bin/azurite-blob
ACCOUNT=devstoreaccount1
# The well-known development key every Azure emulator accepts (public, not a secret).
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
START_TIMEOUT=${AZURITE_START_TIMEOUT:-25}   # seconds

die() { echo "azurite.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: azurite.sh start|stop DIR"
cmd=$1
[ "$cmd" = start ] && { mkdir -p "$2" || die "cannot create $2"; }
[ "$cmd" = stop ] && [ ! -d "$2" ] && exit 0   # nothing was ever started there
[ -d "$2" ] || die "no such directory: $2"
DIR=$(cd "$2" && pwd)

# Pids of node processes serving this DIR's data (literal match on the
# --location argument), so a lost pid file cannot leave one behind.
dir_pids() {
  local p args
  for p in /proc/[0-9]*; do
    mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
    [[ " ${args[*]} " == *azurite*" --location $DIR/data "* ]] && echo "${p#/proc/}"
  done
  return 0
}

closed_count() {
  local n
  n=$(grep -c 'Blob service successfully closed' "$DIR/log/azurite.log" 2>/dev/null) || true
  echo "${n:-0}"
}

# kill -0 is not enough: a server that died is our zombie child until we exit.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

stop_server() {
  local pids pid i closed saved_at=''
  pids=$(dir_pids)
  [ -n "$pids" ] || { rm -f "$DIR/azurite.pid"; return 0; }
  # TERM makes Azurite save its metadata database (needed by a later start on
  # the same DIR) and log "successfully closed"; it runs in its own session
  # (setsid), so TERM the group.  Requests in flight (an upload being cut off
  # by a fault test) would keep it alive until they end: once the database is
  # saved, KILL it.
  closed=$(closed_count)
  for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 1 100); do     # up to 10 s
    pids=$(dir_pids)
    [ -n "$pids" ] || break
    # Saved: allow half a second to exit by itself (it does when idle).
    [ -z "$saved_at" ] && [ "$(closed_count)" -gt "$closed" ] && saved_at=$i
    [ -n "$saved_at" ] && [ "$i" -ge $((saved_at + 5)) ] && break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    [ -n "$(dir_pids)" ] || break
    sleep 0.1
  done
  [ -z "$(dir_pids)" ] || die "could not stop: $(dir_pids)"
  rm -f "$DIR/azurite.pid"
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

fail_start() {
  echo "azurite.sh: $*" >&2
  [ -f "$DIR/log/azurite.log" ] && { echo "---- $DIR/log/azurite.log (tail)" >&2; tail -n 40 "$DIR/log/azurite.log" >&2; }
  stop_server || true
  exit 1
}

start_server() {
  [ -x "$AZURITE" ] || die "$AZURITE missing: run test/servers/install.sh (npm ci)"
  [ -z "$(dir_pids)" ] || die "already running from $DIR (stop it first)"
  mkdir -p "$DIR/data" "$DIR/log"
  [ -s "$DIR/port" ] || free_port >"$DIR/port"
  local port scheme=http tls=() ca=()
  port=$(cat "$DIR/port")
  if [ -f "$DIR/tls/cert.pem" ] && [ -f "$DIR/tls/key.pem" ]; then
    scheme=https
    tls=(--cert "$DIR/tls/cert.pem" --key "$DIR/tls/key.pem")
    ca=(--cacert "$DIR/tls/cert.pem")
  fi

  # --disableTelemetry: Azurite 3.35 otherwise phones home.
  # --disableProductStyleUrl: the account is always the first path segment.
  # No --loose / --skipApiVersionCheck: pgvault's x-ms-version (2020-10-02)
  # is accepted as is, and unsupported headers should fail the test.
  setsid "$AZURITE" --blobHost 127.0.0.1 --blobPort "$port" --location "$DIR/data" \
    --silent --disableTelemetry --disableProductStyleUrl "${tls[@]}" \
    </dev/null >>"$DIR/log/azurite.log" 2>&1 &
  echo $! >"$DIR/azurite.pid"

  # Ready = the blob service answers an (unsigned) List Containers with
  # Azure's own 403: listening, routing and auth all up.
  local deadline code
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    alive "$(cat "$DIR/azurite.pid")" || fail_start "azurite exited during start-up"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${ca[@]}" \
      -H 'x-ms-version: 2020-10-02' "$scheme://127.0.0.1:$port/$ACCOUNT?comp=list" 2>/dev/null || true)
    [ "$code" = 403 ] && break
    [ $SECONDS -lt $deadline ] || fail_start "not ready after ${START_TIMEOUT}s (last HTTP status: ${code:-none})"
    sleep 0.1
  done

  {
    echo "AZURE_ENDPOINT=$scheme://127.0.0.1:$port/$ACCOUNT"
    echo "AZURE_ACCOUNT=$ACCOUNT"
    echo "AZURE_KEY=$KEY"
  } | tee "$DIR/env"
}

case $cmd in
  start) start_server ;;
  stop) stop_server ;;
  *) die "usage: azurite.sh start|stop DIR" ;;
esac
