#!/usr/bin/env bash
# For developers working in several checkouts at once: makes a private,
# relocated copy of the Debian PostgreSQL 15 installation in DIR, so that
# `make install` and the CLI install of one checkout do not replace
# pgvault.so, the extension scripts or /usr/local/bin/pgvault of another.
# PostgreSQL finds its share and lib directories relative to its binaries,
# so a copy of bin/, lib/ and share/ under the same relative layout works.
#   eval "$(bash scripts/private-postgres.sh /tmp/pg-mine)"
# prints the exports that make scripts/build.sh, test/run-all.sh and prove
# use the copy (PATH first, PGVAULT_CLI_PREFIX for the CLI).
set -euo pipefail
dir=${1:?usage: private-postgres.sh DIR}
src_lib=/usr/lib/postgresql/15
src_share=/usr/share/postgresql/15
[ -x "$src_lib/bin/postgres" ] || { echo "private-postgres: $src_lib/bin/postgres not found (run scripts/setup.sh)" >&2; exit 1; }
if [ ! -x "$dir/usr/lib/postgresql/15/bin/postgres" ]; then
  mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include" "$dir/bin"
  cp -a "$src_lib" "$dir/usr/lib/postgresql/"
  cp -a "$src_share" "$dir/usr/share/postgresql/"
  # Server headers are only read: a link is enough.
  ln -sfn /usr/include/postgresql "$dir/usr/include/postgresql"
  chmod -R a+rX "$dir"
fi
echo "export PATH=\"$dir/usr/lib/postgresql/15/bin:$dir/bin:\$PATH\""
echo "export PGVAULT_CLI_PREFIX=\"$dir\""
