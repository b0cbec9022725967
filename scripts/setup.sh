#!/usr/bin/env bash
# Installs every build and test dependency of pgvault from Debian packages
# (Debian 12 "bookworm", PostgreSQL 15 from Debian), then compiles a probe of
# every header the build includes (scripts/check-headers.sh) so that a
# missing one is named, with its package, before the long build starts.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  # compilers and build tools
  build-essential cmake pkg-config clang-format
  # the server, its headers and PGXS; libkrb5-dev: PostgreSQL's libpq-be.h
  # includes <gssapi/gssapi.h> (Debian builds it with GSSAPI), and nothing
  # else here depends on it
  postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev libkrb5-dev
  # the libraries pgvault links
  libcurl4-openssl-dev libssl-dev libzstd-dev liblz4-dev zlib1g-dev
  libisal-dev
  nlohmann-json3-dev libpugixml-dev libcli11-dev libgtest-dev libgmock-dev
  # the TAP tests (prove, IPC::Run, Test::More)
  perl libipc-run-perl libtest-simple-perl
  # TAP 062 drives the CLI under a pseudo-terminal (IO::Pty)
  libio-pty-perl
  # TAP 055 parses `pgvault metrics` with the Prometheus text-format parser;
  # 057_alerts: a local SMTP server that receives the alert mails
  python3 python3-prometheus-client python3-aiosmtpd
  # 065: the man page renders (groff -man -ww, man --warnings -l)
  groff-base man-db
  # TAP 060_report opens the report in a headless browser (screenshot, DOM)
  # with fonts to draw its text
  chromium fonts-dejavu-core
  # commands the scripts and tests run that are not in Debian's essential set
  zstd lz4 gzip tar procps sudo tzdata passwd mawk openssl curl
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
  echo "setup: installing ${missing[*]} (Debian packages; a minute or more on a new machine)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all ${#packages[@]} Debian packages present"
bash "$(dirname "$0")/check-headers.sh"
