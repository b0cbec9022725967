// Every core header includes this first. The core is compiled into both the
// server module and the stand-alone CLI, so it must never depend on
// PostgreSQL's server headers: their macros (and longjmp-based errors) would
// leak into code that relies on C++ exceptions and RAII.
#pragma once

#ifdef POSTGRES_H
static_assert(false, "pgvault core headers must be included before (and never need) postgres.h");
#endif
