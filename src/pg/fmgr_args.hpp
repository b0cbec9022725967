// Reading SQL function arguments from C++.
#pragma once

#include <string>

#include "error_boundary.hpp"

namespace pgvault::pg {

// Argument n (a non-NULL text) as a std::string.
inline std::string text_arg(FunctionCallInfo fcinfo, int n) {
  return pg_guard([&] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
}

}  // namespace pgvault::pg
