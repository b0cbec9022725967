#include "error_boundary.hpp"

#include <new>

namespace pgvault::pg {

int sqlstate_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return ERRCODE_INVALID_PARAMETER_VALUE;
    case ErrorKind::not_found:
      return ERRCODE_UNDEFINED_OBJECT;
    case ErrorKind::already_exists:
      return ERRCODE_DUPLICATE_OBJECT;
    case ErrorKind::io:
      return ERRCODE_IO_ERROR;
    case ErrorKind::storage:
      return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    case ErrorKind::corrupt:
      return ERRCODE_DATA_CORRUPTED;
    case ErrorKind::conflict:
      return ERRCODE_OBJECT_IN_USE;
    case ErrorKind::unsupported:
      return ERRCODE_FEATURE_NOT_SUPPORTED;
    case ErrorKind::cancelled:
      return ERRCODE_QUERY_CANCELED;
    case ErrorKind::limit_exceeded:
      return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    case ErrorKind::internal:
      break;
  }
  return ERRCODE_INTERNAL_ERROR;
}

namespace {

// palloc without ereport: on out-of-memory we fall back to a static text.
const char* copy_out(const std::string& text, const char* fallback) noexcept {
  if (text.empty()) return fallback;
  char* copy = static_cast<char*>(
      MemoryContextAllocExtended(ErrorContext, text.size() + 1, MCXT_ALLOC_NO_OOM));
  if (copy == nullptr) return fallback;
  memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

}  // namespace

PendingError capture_current_exception() noexcept {
  PendingError out{ERRCODE_INTERNAL_ERROR, "unknown C++ exception", nullptr, nullptr};
  try {
    throw;
  } catch (const PgError& e) {
    out.sqlerrcode = e.sqlerrcode();
    out.message = copy_out(e.what(), "error (message lost: out of memory)");
    out.detail = copy_out(e.detail(), nullptr);
    out.hint = copy_out(e.hint(), nullptr);
  } catch (const Error& e) {
    out.sqlerrcode = sqlstate_for(e.kind());
    out.message = copy_out(e.what(), "error (message lost: out of memory)");
  } catch (const std::bad_alloc&) {
    out.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
    out.message = "out of memory";
  } catch (const std::exception& e) {
    out.message = copy_out(e.what(), "internal error (message lost: out of memory)");
  } catch (...) {
  }
  return out;
}

void raise_pending(const PendingError& e) {
  ereport(ERROR, (errcode(e.sqlerrcode), errmsg("%s", e.message),
                  e.detail ? errdetail("%s", e.detail) : 0, e.hint ? errhint("%s", e.hint) : 0));
  pg_unreachable();
}

}  // namespace pgvault::pg
