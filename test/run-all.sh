#!/usr/bin/env bash
# Sets up everything and runs every pgvault test: unit tests (ctest),
# the SQL surface (pg_regress) and end-to-end tests against real servers
# (TAP, prove). Ends with "N passed, N failed".
#
# For development, a part of it:
#   --suites unit,regress,tap   which suites to run (default: all three)
#   --tap 'test/t/004*.pl'      which TAP files (default: all)
#   --no-build                  use what is built and installed already
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
cd "$PGVAULT_ROOT"

suites=unit,regress,tap
tap_files=test/t/*.pl
build=true
while [ $# -gt 0 ]; do
  case $1 in
    --suites) suites=$2; shift 2 ;;
    --tap) tap_files=$2; shift 2 ;;
    --no-build) build=false; shift ;;
    *) echo "run-all: unknown option $1 (allowed: --suites LIST, --tap GLOB, --no-build)" >&2; exit 2 ;;
  esac
done
runs() { [[ ",$suites," == *",$1,"* ]]; }

# A suite that ran fewer tests than it has did not run as it should: that
# is a failure, never a smaller success. Raise the floor when tests are added.
min_unit_tests=${PGVAULT_MIN_UNIT_TESTS:-500}
min_tap_files=12
too_few() {  # suite, ran, expected
  echo "run-all: FAILED: the $1 suite ran $2 tests, expected at least $3" >&2
  failed=$((failed + 1))
}

if $build; then
  bash scripts/build.sh || { echo "0 passed, 1 failed"; exit 1; }
  # The object-store servers the end-to-end tests start (Swift with s3api, Azurite).
  bash test/servers/install.sh || { echo "0 passed, 1 failed"; exit 1; }
fi
ensure_test_user

passed=0
failed=0
skipped=0
work=$(make_workdir test)
# PGVAULT_KEEP_WORK=1 keeps it (regress/results, tmp_check/log) for a look.
[ "${PGVAULT_KEEP_WORK:-0}" = 1 ] && echo "run-all: keeping $work" || trap 'rm -rf "$work"' EXIT

if runs unit; then
echo "== unit tests (ctest) =="
ctest --test-dir build --output-on-failure 2>&1 | tee "$work/ctest.log"
if line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$work/ctest.log"); then
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
  skip=$(grep -c '(Skipped)$' "$work/ctest.log" || true)
  passed=$((passed + total - bad - skip))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
  [ "$total" -ge "$min_unit_tests" ] || too_few unit "$total" "$min_unit_tests"
else
  echo "run-all: FAILED: ctest printed no summary" >&2
  failed=$((failed + 1))
fi
fi

# A copy the unprivileged server user can read, wherever the checkout is (the
# README too: 064 checks its usage block against --help);
# Azurite's node_modules (about 190 MB) is hard-linked when it can be.
tar -C "$PGVAULT_ROOT" --exclude=test/servers/node_modules -cf - Makefile README.md sql expected test | tar -C "$work" -xf -
[ "$(id -u)" -eq 0 ] && chown -R "$PGVAULT_TEST_USER" "$work"
# Linked after the chown, which would otherwise reach the checkout's files.
cp -al test/servers/node_modules "$work/test/servers/" 2>/dev/null ||
  cp -r test/servers/node_modules "$work/test/servers/"
# TAP 066 compares pgvault's WAL reader with pg_waldump through a unit test
# binary the server user may not reach inside the checkout.
if runs tap && [ -x build/pgvault_unit ]; then
  ln build/pgvault_unit "$work/pgvault_unit" 2>/dev/null || cp build/pgvault_unit "$work/pgvault_unit"
fi
pg_regress="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
if runs regress; then
echo "== SQL tests (pg_regress) =="
# Asked of make itself, so any way of writing REGRESS in the Makefile counts.
regress_tests=$(make -s --no-print-directory print-regress)
regress_expected=$(wc -w <<<"$regress_tests")
if [ "$regress_expected" -eq 0 ]; then
  echo "run-all: FAILED: make print-regress names no regress tests" >&2
  failed=$((failed + 1))
fi
(cd "$work" && as_pg_user "$pg_regress" --bindir="$PG_BINDIR" --inputdir=. --outputdir=regress \
  --temp-instance="$work/regress/instance" --temp-config=test/regress.conf \
  --dbname=contrib_regression $regress_tests) 2>&1 | tee "$work/regress.log"
if grep -qE 'All [0-9]+ tests passed' "$work/regress.log"; then
  total=$(grep -oE 'All [0-9]+' "$work/regress.log" | grep -oE '[0-9]+')
  passed=$((passed + total))
  [ "$total" -ge "$regress_expected" ] || too_few regress "$total" "$regress_expected"
elif line=$(grep -E '[0-9]+ of [0-9]+ tests failed' "$work/regress.log"); then
  bad=$(awk '{print $1}' <<<"$line")
  total=$(awk '{print $3}' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  [ "$total" -ge "$regress_expected" ] || too_few regress "$total" "$regress_expected"
  cat "$work/regress/regression.diffs" 2>/dev/null | head -200
else
  echo "run-all: FAILED: pg_regress printed no summary" >&2
  failed=$((failed + 1))
fi
fi

if runs tap; then
echo "== end-to-end tests (TAP, prove) =="
perl_lib="$(dirname "$(pg_config --pgxs)")/../test/perl"
(cd "$work" && as_pg_user env TESTDIR="$work" PG_REGRESS="$pg_regress" PGVAULT_UNIT="$work/pgvault_unit" \
  prove -I "$perl_lib" -I "$work/test/perl" $tap_files) 2>&1 | tee "$work/prove.log"
# Every selected file must have run (the default selection has at least
# min_tap_files files).
tap_expected=$(cd "$PGVAULT_ROOT" && ls -d $tap_files 2>/dev/null | wc -l)
if [[ "$tap_files" == 'test/t/*.pl' ]] && [ "$tap_expected" -lt "$min_tap_files" ]; then
  tap_expected=$min_tap_files
fi
[ "$tap_expected" -gt 0 ] || too_few "TAP (files matching $tap_files)" 0 1
if line=$(grep -E '^Files=[0-9]+, Tests=[0-9]+' "$work/prove.log"); then
  total=$(sed -E 's/.*Tests=([0-9]+).*/\1/' <<<"$line")
  files=$(sed -E 's/^Files=([0-9]+).*/\1/' <<<"$line")
  [ "$files" -ge "$tap_expected" ] || too_few "TAP (files)" "$files" "$tap_expected"
  [ "$total" -gt 0 ] || too_few TAP "$total" 1
  bad=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$work/prove.log" | awk -F'[ /]' '{s+=$2} END {print s+0}')
  # A file that died with no failed check (no plan, a non-zero exit) is one
  # failure more; its checks that ran and passed still count as passed.
  died=$(grep -cE '^test/t/[^ ]+\.pl +\(Wstat: [0-9]+ .*Failed: 0\)' "$work/prove.log" || true)
  if grep -q '^Result: FAIL' "$work/prove.log" && [ "$bad" -eq 0 ] && [ "$died" -eq 0 ]; then died=1; fi
  passed=$((passed + total - bad))
  failed=$((failed + bad + died))
  if [ $((bad + died)) -gt 0 ]; then
    # Only the failed files' logs, then prove's summary again, last, so a
    # CI that keeps only the tail of the output still names what failed.
    failed_files=$(grep -oE '^test/t/[^ ]+\.pl +\(Wstat' "$work/prove.log" | sed -E 's/ +\(Wstat$//' | sort -u)
    for t in $failed_files; do
      f="$work/tmp_check/log/regress_log_$(basename "$t" .pl)"
      [ -f "$f" ] && { echo "---- $f (tail)"; tail -80 "$f"; }
    done
    echo "== TAP failures (from prove's summary) =="
    sed -n '/^Test Summary Report/,/^Result:/p' "$work/prove.log"
  fi
else
  echo "run-all: FAILED: prove printed no summary" >&2
  failed=$((failed + 1))
fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
