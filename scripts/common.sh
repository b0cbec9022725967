# Shared by pgvault's scripts: paths, privilege handling, the test OS user.
PGVAULT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BINDIR=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
# Where build.sh installs the pgvault CLI (scripts/private-postgres.sh moves it).
PGVAULT_CLI_PREFIX=${PGVAULT_CLI_PREFIX:-/usr/local}
export PATH="$PG_BINDIR:$PGVAULT_CLI_PREFIX/bin:$PATH"
# PostgreSQL refuses to run as root: as root, servers run as this user.
PGVAULT_TEST_USER=${PGVAULT_TEST_USER:-pgvault-test}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_test_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id "$PGVAULT_TEST_USER" >/dev/null 2>&1 ||
    useradd --system --create-home --shell /bin/bash "$PGVAULT_TEST_USER"
}

# Runs a command as the unprivileged user when we are root, keeping PATH.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PGVAULT_TEST_USER" -- env PATH="$PATH" HOME="$(getent passwd "$PGVAULT_TEST_USER" | cut -d: -f6)" "$@"
  else
    "$@"
  fi
}

# A scratch directory the server's user owns.
make_workdir() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pgvault-$1.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then chown "$PGVAULT_TEST_USER" "$dir"; fi
  chmod 755 "$dir"
  echo "$dir"
}

# Starts a throwaway cluster with pgvault preloaded in $1/data, listening only
# on the Unix socket in $1, port $2. Extra postgresql.conf lines on stdin,
# extra initdb options after the port (e.g. --data-checksums).
start_throwaway_cluster() {
  local dir=$1 port=$2
  shift 2
  as_pg_user initdb -D "$dir/data" -U postgres -A trust "$@" >/dev/null
  {
    echo "shared_preload_libraries = 'pgvault'"
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir'"
    [ -t 0 ] || cat
  } >>"$dir/data/postgresql.conf"
  as_pg_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}
