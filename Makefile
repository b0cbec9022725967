# PGXS build of the server module (pgvault.so) and the extension scripts.
# The PG-free core is compiled once, by CMake, into a position-independent
# static library (build/libpgvault_core.a) that the CLI, the unit tests and
# this module all link; the module compiles only src/pg.
EXTENSION = pgvault
MODULE_big = pgvault
DATA = $(wildcard sql/pgvault--*.sql)

PG_SRCS := $(wildcard src/pg/*.cpp)
OBJS = $(PG_SRCS:.cpp=.o)

CMAKE_BUILD_DIR ?= build
CORE_LIB = $(CMAKE_BUILD_DIR)/libpgvault_core.a

REGRESS = setup history_columns settings storage_settings permissions kinds schedule upgrade privileges
REGRESS_OPTS = --temp-config=test/regress.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
PG_INCLUDE_SERVER := $(shell $(PG_CONFIG) --includedir-server)
PG_INCLUDE := $(shell $(PG_CONFIG) --includedir)

# PostgreSQL's headers are included as system headers so that -Werror
# applies to pgvault's code, not to theirs.
PG_CPPFLAGS = -Iinclude -Isrc/pg
PG_CXXFLAGS = -std=c++20 -Wall -Wextra -Werror -fPIC -fexceptions \
  -isystem $(PG_INCLUDE_SERVER) -isystem $(PG_INCLUDE)
SHLIB_LINK = $(CORE_LIB) -lpq -lcurl -lssl -lcrypto -lzstd -llz4 -lz -lpugixml -lstdc++

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
