# PGXS build of the server module (pgvault.so) and the extension scripts.
# The PG-free core is compiled once, by CMake, into a position-independent
# static library (build/libpgvault_core.a) that the CLI, the unit tests and
# this module all link; the module compiles only src/pg.
EXTENSION = pgvault
MODULE_big = pgvault
# The extension's install and upgrade scripts live in extension/ (sql/ and
# expected/ are the regression tests' inputs and outputs, nothing else).
DATA = $(wildcard extension/pgvault--*.sql)

PG_SRCS := $(wildcard src/pg/*.cpp)
OBJS = $(PG_SRCS:.cpp=.o)

CMAKE_BUILD_DIR ?= build
CORE_LIB = $(CMAKE_BUILD_DIR)/libpgvault_core.a

# Every sql/NAME.sql is a regression test (expected/NAME.out): a new file
# runs without being listed. setup (CREATE EXTENSION) runs first; the others
# run in name order, each needing only what setup made (it counts its own
# rows, takes its own backups) and leaving the extension installed.
REGRESS = setup $(sort $(filter-out setup,$(basename $(notdir $(wildcard sql/*.sql)))))
# For a temporary instance (test/run-all.sh); `make installcheck` runs against
# a server that has these settings already (README.md, "Tests").
REGRESS_OPTS = --temp-config=test/regress.conf
# pg_regress drops the test database before it runs, which fails while
# pgvault's scheduler is connected to it (pgvault.database): a second
# `make installcheck` drops it first WITH (FORCE), which ends the scheduler's
# session (it starts again and waits for the database to be back).
REGRESS_PREP = drop-regress-database

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
PG_INCLUDE_SERVER := $(shell $(PG_CONFIG) --includedir-server)
PG_INCLUDE := $(shell $(PG_CONFIG) --includedir)

# PostgreSQL's headers are included as system headers so that -Werror
# applies to pgvault's code, not to theirs.
PG_CPPFLAGS = -Iinclude -Isrc/pg
PG_CXXFLAGS = -std=c++20 -Wall -Wextra -Werror -fPIC -fexceptions \
  -isystem $(PG_INCLUDE_SERVER) -isystem $(PG_INCLUDE)
SHLIB_LINK = $(CORE_LIB) -lpq -lssl -lcrypto -lzstd -llz4 -lisal -lz -lpugixml -lstdc++

# No LLVM bitcode for JIT inlining: pgvault's C++ has nothing to inline.
override with_llvm = no

include $(PGXS)

# The server's CXXFLAGS come from its own build; pgvault needs C++20.
# -MMD -MP: every object depends on the headers it includes, so a changed
# header (a shared-memory struct, say) rebuilds everything that uses it.
override CXXFLAGS := $(filter-out -std=%,$(CXXFLAGS)) $(PG_CXXFLAGS) -MMD -MP
EXTRA_CLEAN = $(OBJS:.o=.d)
-include $(OBJS:.o=.d)

# CMake decides whether the core library is up to date (FORCE asks it every
# time); the module relinks only when the library changed.
$(shlib): $(CORE_LIB)
$(CORE_LIB): FORCE
	@test -f $(CMAKE_BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(CMAKE_BUILD_DIR) >/dev/null
	+@cmake --build $(CMAKE_BUILD_DIR) --target pgvault_core
.PHONY: FORCE
FORCE:

# The regress tests as make sees them, for test/run-all.sh (which checks
# that pg_regress ran every one of them).
.PHONY: print-regress
print-regress:
	@echo $(REGRESS)

.PHONY: drop-regress-database
drop-regress-database:
	'$(bindir)/psql' -X -q -d postgres -c 'SET client_min_messages = warning' \
	  -c 'DROP DATABASE IF EXISTS "$(CONTRIB_TESTDB)" WITH (FORCE)'

# The end-to-end tests (test/t/*.pl) with PGXS's prove_installcheck: each
# starts its own servers (PostgreSQL::Test::Cluster, object stores), using the
# installed PostgreSQL, pgvault.so and pgvault CLI. PROVE_TESTS picks files,
# PROVE_FLAGS adds prove options. PostgreSQL will not run as root.
PROVE_TESTS ?= test/t/*.pl
PG_PROVE_FLAGS += -I $(CURDIR)/test/perl
.PHONY: prove_installcheck
prove_installcheck:
	@if [ "$$(id -u)" -eq 0 ]; then echo "prove_installcheck: PostgreSQL will not run as root: run it as an unprivileged user who can write this directory (or bash test/run-all.sh --suites tap, which does that as root)" >&2; exit 1; fi
	$(prove_installcheck)
