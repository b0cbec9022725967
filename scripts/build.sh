#!/usr/bin/env bash
# Builds and installs pgvault: the server module and SQL scripts (PGXS) and
# the pgvault CLI (CMake). Installs dependencies first.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$PGVAULT_ROOT"
bash scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
make -s -j"$jobs"
as_root make -s install
as_root cmake --install build --prefix "$PGVAULT_CLI_PREFIX" >/dev/null
echo "build: installed pgvault.so into $(pg_config --pkglibdir) and the pgvault CLI into $PGVAULT_CLI_PREFIX/bin"
