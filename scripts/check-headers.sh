#!/usr/bin/env bash
# Compiles a probe of every header pgvault's build includes from outside the
# project: PostgreSQL's server headers (as src/pg includes them, postgres.h
# first) and the libraries' and system headers that the core, the CLI and the
# unit tests include. Runs in seconds, before the long build: a header that
# a package failed to bring (gssapi/gssapi.h, which PostgreSQL's libpq-be.h
# includes and only libkrb5-dev provides, once did) is named here with the
# Debian package that provides it, instead of stopping the build half-way.
#   check-headers.sh [--also HEADER]...   (--also: probe one more <HEADER>)
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$PGVAULT_ROOT"

extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --also) extra+=("$2"); shift 2 ;;
    *) echo "check-headers: unknown option $1 (allowed: --also HEADER)" >&2; exit 2 ;;
  esac
done

cxx=${CXX:-g++}
command -v "$cxx" >/dev/null || { echo "check-headers: no C++ compiler ($cxx); install build-essential" >&2; exit 1; }
command -v pg_config >/dev/null || { echo "check-headers: pg_config not found; install postgresql-server-dev-15" >&2; exit 1; }
flags=(-std=c++20 -fsyntax-only -isystem "$(pg_config --includedir-server)" -isystem "$(pg_config --includedir)")

# Every header the sources include, once, in first-seen order, with the file
# that includes it: "header<TAB>file".
list_includes() {
  local style=$1; shift
  local open close
  if [ "$style" = quoted ]; then open='"'; close='"'; else open='<'; close='>'; fi
  grep -HoE "^\s*#\s*include\s*${open}[^${close}]+${close}" "$@" 2>/dev/null |
    sed -E "s/^([^:]+):\s*#\s*include\s*${open}([^${close}]+)${close}/\2\t\1/" |
    awk -F'\t' '!seen[$1]++'
}

# PostgreSQL's headers: src/pg's quoted includes that are not its own files.
server_sources=(src/pg/postgres_headers.hpp src/pg/*.cpp src/pg/*.hpp)
mapfile -t server < <(list_includes quoted "${server_sources[@]}" |
  while IFS=$'\t' read -r h f; do [ -e "src/pg/$h" ] || [ -e "include/$h" ] || printf '%s\t%s\n' "$h" "$f"; done)
mapfile -t library < <(list_includes angle $(find include src test/unit test/doubles -name '*.hpp' -o -name '*.cpp' | sort))
for h in "${extra[@]}"; do library+=("$h	--also"); done

probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT

# Writes a probe that includes the given "header<TAB>file" entries. Server
# headers sit in extern "C" after postgres.h, as postgres_headers.hpp has them.
write_probe() {
  local kind=$1 out=$2; shift 2
  {
    [ "$kind" = server ] && echo 'extern "C" {' && echo '#include "postgres.h"'
    local entry
    for entry in "$@"; do
      if [ "$kind" = server ]; then echo "#include \"${entry%%$'\t'*}\""; else echo "#include <${entry%%$'\t'*}>"; fi
    done
    [ "$kind" = server ] && echo '}'
    true
  } >"$out"
}

# The Debian package that provides a header (the header a compiler said was
# missing, which may be one a PostgreSQL header includes).
package_for() {
  case $1 in
    gssapi/*|gssapi.h|krb5.h|krb5/*) echo libkrb5-dev ;;
    libpq-fe.h|libpq-events.h|postgres_ext.h|pg_config*.h) echo libpq-dev ;;
    curl/*) echo libcurl4-openssl-dev ;;
    openssl/*) echo libssl-dev ;;
    zstd.h|zstd_errors.h|zdict.h) echo libzstd-dev ;;
    lz4*.h) echo liblz4-dev ;;
    isa-l/*|isa-l.h) echo libisal-dev ;;
    zlib.h|zconf.h) echo zlib1g-dev ;;
    nlohmann/*) echo nlohmann-json3-dev ;;
    pugixml.hpp|pugiconfig.hpp) echo libpugixml-dev ;;
    CLI/*) echo libcli11-dev ;;
    gtest/*) echo libgtest-dev ;;
    gmock/*) echo libgmock-dev ;;
    selinux/*) echo libselinux1-dev ;;
    ldap.h|lber.h) echo libldap-dev ;;
    unicode/*) echo libicu-dev ;;
    libxml/*) echo libxml2-dev ;;
    *.h|*/*) [ -e "$(pg_config --includedir-server)/postgres.h" ] || echo postgresql-server-dev-15 ;;
    *) echo "libstdc++-12-dev (g++)" ;;
  esac
}

compiles() {
  "$cxx" "${flags[@]}" -x c++ "$1" >"$probe_dir/out" 2>&1
}

# The fast path: everything at once.
write_probe server "$probe_dir/server.cpp" "${server[@]}"
write_probe library "$probe_dir/library.cpp" "${library[@]}"
if compiles "$probe_dir/server.cpp" && compiles "$probe_dir/library.cpp"; then
  echo "check-headers: ${#server[@]} PostgreSQL server headers and ${#library[@]} library and system headers found"
  exit 0
fi

# Something is missing: one probe per header, to name each missing one.
missing=0
check_one() {
  local kind=$1 entry=$2
  local header=${entry%%$'\t'*} file=${entry#*$'\t'}
  write_probe "$kind" "$probe_dir/one.cpp" "$entry"
  compiles "$probe_dir/one.cpp" && return 0
  missing=$((missing + 1))
  local absent
  absent=$(sed -nE 's/.*fatal error: ([^:]+): No such file or directory.*/\1/p' "$probe_dir/out" | head -1)
  if [ -z "$absent" ]; then
    echo "check-headers: <$header> (included by $file) does not compile:" >&2
    head -20 "$probe_dir/out" >&2
    return 0
  fi
  local via=" (included by $file)" package fix
  [ "$file" = --also ] && via=" (asked for with --also)"
  [ "$absent" != "$header" ] && via=", which <$header>$via includes"
  package=$(package_for "$absent")
  if [ -n "$package" ]; then
    fix="install the Debian package $package (and add it to scripts/setup.sh)"
  else
    fix="no package in this script's table provides it: 'apt-file search $absent' finds one"
  fi
  echo "check-headers: missing header $absent$via; $fix" >&2
}
if ! compiles "$probe_dir/server.cpp"; then
  # postgres.h first: without it every other server header fails too.
  check_one server "postgres.h	src/pg/postgres_headers.hpp"
  if [ "$missing" -eq 0 ]; then
    for entry in "${server[@]}"; do [ "${entry%%$'\t'*}" = postgres.h ] || check_one server "$entry"; done
  fi
fi
if ! compiles "$probe_dir/library.cpp"; then
  for entry in "${library[@]}"; do check_one library "$entry"; done
fi
echo "check-headers: $missing header(s) missing or broken; the build would stop on them" >&2
exit 1
