#include "error_boundary.hpp"
#include "logging.hpp"

namespace pgvault::pg {

void log_message(int level, const std::string& message) {
  pg_guard([&] { ereport(level, (errmsg("pgvault: %s", message.c_str()))); });
}

}  // namespace pgvault::pg
