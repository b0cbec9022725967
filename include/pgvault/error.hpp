#pragma once
#include "pgvault/pg_free.hpp"

#include <stdexcept>
#include <string>

namespace pgvault {

// The kind decides the SQLSTATE the server glue reports (src/pg/error_boundary)
// and the CLI's exit status.
enum class ErrorKind {
  invalid_argument,  // the caller passed something not allowed
  not_found,         // a backup, object or file that does not exist
  already_exists,    // refusing to overwrite
  io,                // local file system failure (message carries strerror)
  storage,           // repository/object-store failure
  corrupt,           // checksum, size or format mismatch
  conflict,          // another backup is running, etc.
  unsupported,       // valid but not implemented for this case
  cancelled,         // interrupted on request (SIGTERM, cancel)
  limit_exceeded,    // over a configured ceiling (pgvault.max_backup_size)
  internal,          // a bug
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// "<what>: <strerror(errnum)>" as an io Error.
[[noreturn]] void throw_os_error(const std::string& what, int errnum);

std::string_view error_kind_name(ErrorKind kind);

}  // namespace pgvault
