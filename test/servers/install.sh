#!/usr/bin/env bash
# Installs what the object-store test servers need (see README.md here):
#   - python3-swift: OpenStack Swift 2.30 (servers, s3api, tempauth, slo)
#   - curl, openssl: readiness checks, smoke test, PgVault::ObjectStore
#   - nodejs + npm (only if no node/npm is present), then `npm ci` for Azurite
# Idempotent and quick when everything is there.  Needs root only to install
# Debian packages; starting and stopping the servers never needs root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Only python3-swift, not the swift/swift-proxy/swift-object/... daemon
# packages: swift.sh runs the WSGI servers from python3-swift itself, and those
# packages would add init scripts and systemd units (system-wide Swift services
# on port 8080 on machines with systemd), cron jobs and rsyslog.
packages=(python3-swift curl openssl)
# Any node >= 18 runs Azurite 3.35 (checked with Debian's 18.20 and NodeSource's
# 20); keep one that is already there (e.g. from NodeSource, which bundles npm).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test/servers/install.sh: missing packages: ${missing[*]}; run as root" >&2
    exit 1
  fi
  echo "test/servers/install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Azurite from package-lock.json; skipped when node_modules matches the lock.
stamp=$HERE/node_modules/.pgvault-lock.sha256
want=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ ! -x "$HERE/node_modules/.bin/azurite-blob" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "test/servers/install.sh: npm ci (azurite)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
echo "test/servers/install.sh: swift and azurite present"
