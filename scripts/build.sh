#!/usr/bin/env bash
# Builds and installs pgvault: the PG-free core library, the pgvault CLI
# and (unless --no-tests) the unit tests with CMake, then the server module
# (src/pg, linking the core library) and SQL scripts with PGXS. Installs
# dependencies first. Compiler output goes to build/build.log; it is shown
# when something fails.
#   --no-tests   skip the unit tests (what scripts/demo.sh needs)
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$PGVAULT_ROOT"
tests=ON
[ "${1:-}" = "--no-tests" ] && tests=OFF

bash scripts/setup.sh
jobs=$(nproc)
mkdir -p build
log=build/build.log
: >"$log"
step() {
  local what=$1; shift
  local start=$SECONDS
  echo "build: $what"
  if ! "$@" >>"$log" 2>&1; then
    echo "build: FAILED — the end of $log:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  echo "build:   done in $((SECONDS - start)) s"
}

what="the core library and the pgvault CLI"
minutes="2"
[ "$tests" = ON ] && what="$what and the unit tests" && minutes="4"
step "compiling $what with CMake, $jobs jobs (about $minutes min on 2 cores the first time, seconds after)" \
  bash -c "cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGVAULT_BUILD_TESTS=$tests &&
           cmake --build build -j$jobs"
step "compiling the server module src/pg with PGXS, linking the core library (about 1 min the first time)" \
  make -j"$jobs"
step "installing pgvault.so and the extension scripts into $(pg_config --pkglibdir), $(pg_config --sharedir)/extension" \
  as_root make install
step "installing the pgvault CLI into $PGVAULT_CLI_PREFIX/bin" \
  as_root cmake --install build --prefix "$PGVAULT_CLI_PREFIX"
