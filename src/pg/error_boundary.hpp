// The C++/PostgreSQL error boundary (src/pg/README.md, "The rules of the boundary").
//
// PostgreSQL reports errors with longjmp, C++ with exceptions; neither may
// cross the other:
//  * PGVAULT_FUNCTION / guarded_entry wrap every fmgr function and worker
//    entry: the C++ body runs inside try, the message is copied out, the catch
//    block closes, and only then is ereport(ERROR) raised.
//  * pg_guard(f) wraps every call from C++ into PostgreSQL that may ereport:
//    a hand-expanded PG_TRY that restores the memory context, copies the
//    error data, flushes the error state and throws PgError. The error
//    stacks are restored by a destructor, so a C++ exception thrown inside f
//    cannot leave them pointing at a dead frame. No object with a
//    destructor may live inside f across the PostgreSQL call.
#pragma once

#include "pgvault/error.hpp"

#include <string>
#include <utility>

#include "postgres_headers.hpp"

namespace pgvault::pg {

// A PostgreSQL ERROR turned into a C++ exception, keeping its SQLSTATE.
class PgError : public std::exception {
 public:
  PgError(int sqlerrcode, std::string message, std::string detail, std::string hint)
      : sqlerrcode_(sqlerrcode),
        message_(std::move(message)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int sqlerrcode() const { return sqlerrcode_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }

 private:
  int sqlerrcode_;
  std::string message_, detail_, hint_;
};

// Everything needed to re-raise an error on the PostgreSQL side, copied out
// of the exception into palloc'd memory so that the catch block (and every
// std::string) is gone before ereport longjmps. Trivially destructible.
struct PendingError {
  int sqlerrcode;
  const char* message;
  const char* detail;  // nullptr when absent
  const char* hint;
};

int sqlstate_for(ErrorKind kind);
// Call only inside a catch block. Never throws and never ereports.
PendingError capture_current_exception() noexcept;
[[noreturn]] void raise_pending(const PendingError& e);

// Puts PostgreSQL's error-handling stacks back as they were when it was
// made, however its scope ends: normally, by a longjmp into pg_guard's own
// frame (which unwinds nothing), or by a C++ exception thrown inside the
// guarded function, which would otherwise leave PG_exception_stack pointing
// at a dead frame. Its members are set before sigsetjmp and never changed.
class ErrorStacksRestorer {
 public:
  ErrorStacksRestorer()
      : exception_stack_(PG_exception_stack), context_stack_(error_context_stack) {}
  ~ErrorStacksRestorer() {
    PG_exception_stack = exception_stack_;
    error_context_stack = context_stack_;
  }
  ErrorStacksRestorer(const ErrorStacksRestorer&) = delete;
  ErrorStacksRestorer& operator=(const ErrorStacksRestorer&) = delete;

 private:
  sigjmp_buf* const exception_stack_;
  ErrorContextCallback* const context_stack_;
};

// Turns a PostgreSQL ERROR raised inside f into PgError. f must only call
// PostgreSQL functions and touch trivially destructible locals.
template <typename F>
auto pg_guard(F&& f) -> decltype(f()) {
  MemoryContext caller_context = CurrentMemoryContext;
  sigjmp_buf local_sigjmp_buf;
  {
    const ErrorStacksRestorer restore_on_exit;
    if (sigsetjmp(local_sigjmp_buf, 0) == 0) {
      PG_exception_stack = &local_sigjmp_buf;
      return f();
    }
  }
  // Reached only after a longjmp out of f; the stacks are restored.
  MemoryContextSwitchTo(caller_context);
  ErrorData* edata = CopyErrorData();
  FlushErrorState();
  PgError error(edata->sqlerrcode, edata->message ? edata->message : "unknown error",
                edata->detail ? edata->detail : "", edata->hint ? edata->hint : "");
  FreeErrorData(edata);
  throw error;
}

// Runs a C++ body at a PostgreSQL entry point; any exception becomes a
// PostgreSQL ERROR raised after every C++ frame has been unwound.
template <typename F>
auto guarded_entry(F&& body) -> decltype(body()) {
  PendingError pending;
  try {
    return body();
  } catch (...) {
    pending = capture_current_exception();
  }
  raise_pending(pending);
}

}  // namespace pgvault::pg

// Defines an SQL-callable C function whose body is C++:
//   PGVAULT_FUNCTION(vault_foo) { ... return datum; }
#define PGVAULT_FUNCTION(name)                                                       \
  static Datum name##_body(FunctionCallInfo fcinfo);                                 \
  extern "C" {                                                                       \
  PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                          \
  PG_FUNCTION_INFO_V1(name);                                                         \
  }                                                                                  \
  Datum name(PG_FUNCTION_ARGS) {                                                     \
    return ::pgvault::pg::guarded_entry([fcinfo]() { return name##_body(fcinfo); }); \
  }                                                                                  \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)

// Defines a background worker entry point whose body is C++:
//   PGVAULT_WORKER(pgvault_foo_main) { ...; }   (the Datum argument is `arg`)
#define PGVAULT_WORKER(name)                                     \
  static void name##_body(Datum arg);                            \
  extern "C" {                                                   \
  PGDLLEXPORT void name(Datum arg);                              \
  }                                                              \
  void name(Datum arg) {                                         \
    ::pgvault::pg::guarded_entry([arg]() { name##_body(arg); }); \
  }                                                              \
  static void name##_body([[maybe_unused]] Datum arg)
