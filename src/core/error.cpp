#include "pgvault/error.hpp"

#include <cstring>

namespace pgvault {

void throw_os_error(const std::string& what, int errnum) {
  // strerror_r (GNU variant returns the message pointer; it may or may not use buf).
  char buf[256];
  const char* msg = strerror_r(errnum, buf, sizeof buf);
  throw Error(ErrorKind::io, what + ": " + msg);
}

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::already_exists:
      return "already_exists";
    case ErrorKind::io:
      return "io";
    case ErrorKind::storage:
      return "storage";
    case ErrorKind::corrupt:
      return "corrupt";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::unsupported:
      return "unsupported";
    case ErrorKind::cancelled:
      return "cancelled";
    case ErrorKind::limit_exceeded:
      return "limit_exceeded";
    case ErrorKind::internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace pgvault
