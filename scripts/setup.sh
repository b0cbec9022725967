#!/usr/bin/env bash
# Installs every build and test dependency of pgvault from Debian packages.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  libcurl4-openssl-dev libssl-dev libzstd-dev liblz4-dev zlib1g-dev
  nlohmann-json3-dev libpugixml-dev libcli11-dev libgtest-dev libgmock-dev
  libipc-run-perl libtest-simple-perl
  zstd lz4 gzip tar procps sudo tzdata
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all dependencies present"
