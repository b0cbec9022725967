#!/usr/bin/env bash
# A throwaway OpenStack Swift (Debian's swift 2.30) with the s3api and tempauth
# middlewares: an S3 endpoint on 127.0.0.1 that really checks SigV4 signatures.
#
#   swift.sh start DIR   configs, rings, data, logs and pid files all live in DIR;
#                        prints S3_* lines (shell-sourceable), also in DIR/env.
#                        A second start on the same DIR reuses its ports and data.
#   swift.sh stop DIR    stops every server started from DIR (idempotent).
#
# SWIFT_TLS=1 at the first start in a DIR makes the proxy speak HTTPS only, with
# a self-signed certificate for 127.0.0.1 (DIR/etc/tls.crt, also printed as
# S3_CA_FILE); later starts in that DIR keep the mode it was set up with. The
# default is plain HTTP (what the tests use).
# Runs as any user (no root, no /etc/swift): every server is started through a
# small Python launcher that points Swift at DIR/etc/swift.conf first.
set -euo pipefail

PY=/usr/bin/python3          # Debian's python (not a pyenv/venv one): Swift lives there
SERVERS=(account container object proxy)
ACCESS_KEY=test:tester
SECRET_KEY=testing
REGION=us-east-1
START_TIMEOUT=${SWIFT_START_TIMEOUT:-25}   # seconds
WANT_TLS=${SWIFT_TLS:-}                    # 1: HTTPS proxy (first start in a DIR only)

die() { echo "swift.sh: $*" >&2; exit 1; }

usage() { die "usage: swift.sh start|stop DIR"; }

[ $# -eq 2 ] || usage
cmd=$1
[ "$cmd" = start ] && { mkdir -p "$2" || die "cannot create $2"; }
[ "$cmd" = stop ] && [ ! -d "$2" ] && exit 0   # nothing was ever started there
[ -d "$2" ] || die "no such directory: $2"
DIR=$(cd "$2" && pwd)
ETC=$DIR/etc
LOG=$DIR/log
RUN=$DIR/run

# Swift reads its hash prefix/suffix, storage policies and constraints from a
# hard-coded /etc/swift/swift.conf (swift.common.utils.SWIFT_CONF_FILE); the
# servers never call set_swift_dir().  We call it before anything else imports
# swift.common.constraints/storage_policy, so DIR/etc/swift.conf is used instead.
# verbose=True adds a console log handler: with stderr going to DIR/log/*.log
# that is our log file (no syslog needed; Swift's syslog handler falls back to
# UDP localhost:514 when /dev/log is missing, which is harmless).
LAUNCHER='
import sys
from swift.common import utils
utils.set_swift_dir(sys.argv[1])
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[2], sys.argv[3], verbose=True))
'

# The pids of processes whose command line names this DIR's configs: catches
# servers even if a pid file was lost.  Literal match, no regex.
dir_pids() {
  local p args cmdline
  for p in /proc/[0-9]*; do
    mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
    cmdline="${args[*]}"
    [[ $cmdline == *run_wsgi*" $ETC/"*"-server.conf "* ]] && echo "${p#/proc/}"
  done
  return 0
}

# kill -0 is not enough: a server that died is our zombie child until we exit.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

stop_servers() {
  local pids pid
  pids=$(dir_pids)
  [ -n "$pids" ] || { rm -f "$RUN"/*.pid 2>/dev/null; return 0; }
  # Each server calls setsid(), so it leads its own process group: TERM the group
  # (takes any worker children with it), falling back to the single pid.
  for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do     # up to 10 s
    pids=$(dir_pids)
    [ -n "$pids" ] || break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    [ -n "$(dir_pids)" ] || break
    sleep 0.1
  done
  [ -z "$(dir_pids)" ] || die "could not stop: $(dir_pids)"
  rm -f "$RUN"/*.pid
}

# Free TCP ports on 127.0.0.1, all held open at once so they are distinct.
free_ports() {
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

port_of() { sed -n 's/^bind_port = //p' "$ETC/$1-server.conf"; }

# Whether this DIR's proxy was set up for HTTPS (SWIFT_TLS=1 at its first start).
tls() { grep -q '^cert_file = ' "$ETC/proxy-server.conf"; }
scheme() { if tls; then echo https; else echo http; fi; }

# A self-signed certificate for the proxy (Swift wraps its listening socket in
# Python's ssl when [DEFAULT] has cert_file/key_file). The subject alternative
# names cover the address clients use (IP 127.0.0.1: curl and OpenSSL check IP
# SANs) and, for clients that only compare DNS names, "127.0.0.1" and localhost.
write_certificate() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 \
    -addext 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost' \
    -keyout "$ETC/tls.key" -out "$ETC/tls.crt" >>"$LOG/tls.log" 2>&1 ||
    { cat "$LOG/tls.log" >&2; die "cannot create a TLS certificate (openssl)"; }
  chmod 600 "$ETC/tls.key"
}

write_configs() {
  local user ports
  user=$(id -un)
  read -r -a ports <<<"$(free_ports 5)"
  local acct=${ports[0]} cont=${ports[1]} obj=${ports[2]} proxy=${ports[3]} memc=${ports[4]}
  mkdir -p "$ETC" "$DIR/srv/d1" "$LOG" "$RUN"
  local tls_lines=""    # added to the proxy's [DEFAULT] in TLS mode
  if [ "$WANT_TLS" = 1 ]; then
    write_certificate
    tls_lines=$'\n'"cert_file = $ETC/tls.crt"$'\n'"key_file = $ETC/tls.key"
  fi

  cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = pgvault-test-suffix
swift_hash_path_prefix = pgvault-test-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
# Largest single object PUT (and so largest multipart part): 5 GiB, as on AWS.
# Multipart objects are SLO manifests and are not bound by this.
max_file_size = 5368709122
EOF

  # Settings shared by the four servers.
  # bind_timeout: a taken port (on start_again) fails the start in 10 s, with
  # "Could not bind" in the log, instead of retrying for 30 s.
  local common="bind_ip = 127.0.0.1
bind_timeout = 10
workers = 0
user = $user
swift_dir = $ETC
devices = $DIR/srv
mount_check = false
disable_fallocate = true
log_level = INFO
log_address = $DIR/log/no-syslog"

  local s
  for s in account container object; do
    local port_var
    case $s in account) port_var=$acct ;; container) port_var=$cont ;; object) port_var=$obj ;; esac
    cat >"$ETC/$s-server.conf" <<EOF
[DEFAULT]
bind_port = $port_var
log_name = $s-server
$common

[pipeline:main]
pipeline = $s-server

[app:$s-server]
use = egg:swift#$s
EOF
  done

  # The proxy pipeline: s3api before tempauth, slo after it (multipart uploads
  # are stored as SLO manifests); cache is required by tempauth.
  cat >"$ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_port = $proxy
log_name = proxy-server
$common$tls_lines

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# Generous backend timeouts: CI machines are small and busy.
node_timeout = 30
client_timeout = 120

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# AWS limits: parts of at least 5 MiB (except the last), up to 10000 parts.
min_segment_size = 5242880
max_upload_part_num = 10000
max_parts_listing = 1000
max_bucket_listing = 1000
max_multi_delete_objects = 1000

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH
user_test_tester = $SECRET_KEY .admin

[filter:slo]
use = egg:swift#slo
# One manifest entry per S3 part: allow AWS's 10000 parts.
max_manifest_segments = 10000
max_manifest_size = 16777216
rate_limit_segments_per_sec = 0

[filter:dlo]
use = egg:swift#dlo

[filter:copy]
use = egg:swift#copy

# Required by the proxy (it would insert it itself, with a log line saying so).
[filter:versioned_writes]
use = egg:swift#versioned_writes

[filter:cache]
use = egg:swift#memcache
# tempauth insists on a cache client but works without a reachable memcached
# (it only caches Swift tokens; S3 requests are checked every time).  This port
# was free when the configs were written and nothing listens there.
memcache_servers = 127.0.0.1:$memc
# ... and would log "memcached servers error-limited" on every request.
set log_level = CRITICAL

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats
EOF

  # One device, one replica, 2^6 partitions per ring: what
  # `swift-ring-builder X.builder create 6 1 1; ... add r1z1-127.0.0.1:PORT/d1 100;
  # ... rebalance` does, in one Python process (those nine calls take ~5 s).
  "$PY" - "$ETC" "$acct" "$cont" "$obj" >>"$LOG/rings.log" 2>&1 <<'PYEOF' ||
import os, sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": int(port), "replication_ip": "127.0.0.1",
                     "replication_port": int(port), "device": "d1",
                     "weight": 100, "meta": ""})
    builder.rebalance()
    builder.save(os.path.join(etc, name + ".builder"))
    builder.get_ring().save(os.path.join(etc, name + ".ring.gz"))
    print("built %s ring: 127.0.0.1:%s/d1" % (name, port))
PYEOF
    { cat "$LOG/rings.log" >&2; die "ring building failed"; }
}

env_lines() {
  echo "S3_ENDPOINT=$(scheme)://127.0.0.1:$(port_of proxy)"
  echo "S3_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "S3_SECRET_ACCESS_KEY=$SECRET_KEY"
  echo "S3_REGION=$REGION"
  if tls; then echo "S3_CA_FILE=$ETC/tls.crt"; fi
}

fail_start() {
  echo "swift.sh: $*" >&2
  local f
  for f in "$LOG"/*.log; do
    [ -f "$f" ] && { echo "---- $f (tail)" >&2; tail -n 25 "$f" >&2; }
  done
  stop_servers || true
  exit 1
}

start_servers() {
  [ -z "$(dir_pids)" ] || die "already running from $DIR (stop it first)"
  [ -f "$ETC/proxy-server.conf" ] || write_configs
  case $WANT_TLS in
    1) tls || die "$DIR was set up without TLS (SWIFT_TLS=1 applies to the first start only)" ;;
    0) ! tls || die "$DIR was set up with TLS" ;;
  esac
  mkdir -p "$LOG" "$RUN"
  # curl's --user splits at the first colon, and the access key is test:tester:
  # credentials for curl go through a netrc file instead.
  (umask 077 && echo "machine 127.0.0.1 login $ACCESS_KEY password $SECRET_KEY" >"$DIR/netrc")

  local s
  for s in "${SERVERS[@]}"; do
    # setsid() in Swift detaches each server from our process group; stdin
    # from /dev/null so nothing waits on a terminal.
    "$PY" -c "$LAUNCHER" "$ETC" "$ETC/$s-server.conf" "$s-server" \
      </dev/null >>"$LOG/$s.log" 2>&1 &
    echo $! >"$RUN/$s.pid"
  done

  # Ready = every server listens and a signed S3 request gets its answer.
  local endpoint deadline code listening tls_opts=()
  endpoint="$(scheme)://127.0.0.1:$(port_of proxy)"
  if tls; then tls_opts=(--cacert "$ETC/tls.crt"); fi
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    for s in "${SERVERS[@]}"; do
      alive "$(cat "$RUN/$s.pid")" || fail_start "$s-server exited during start-up"
    done
    listening=1
    for s in "${SERVERS[@]}"; do
      (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$s")") 2>/dev/null || listening=0
    done
    code=000
    [ "$listening" = 1 ] && code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${tls_opts[@]}" \
      --aws-sigv4 "aws:amz:$REGION:s3" --netrc-file "$DIR/netrc" \
      -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
      "$endpoint/pgvault-readiness-probe" 2>/dev/null || true)
    # ListObjects on a missing bucket goes proxy -> account -> container server:
    # 404 NoSuchBucket proves the whole chain and the signature check work.
    [ "$listening" = 1 ] && [ "$code" = 404 ] && break
    [ $SECONDS -lt $deadline ] || fail_start "not ready after ${START_TIMEOUT}s (last HTTP status: ${code:-none})"
    sleep 0.2
  done

  env_lines | tee "$DIR/env"
}

case $cmd in
  start) start_servers ;;
  stop) stop_servers ;;
  *) usage ;;
esac
