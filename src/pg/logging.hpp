#pragma once

#include <string>

namespace pgvault::pg {

// Writes "pgvault: <message>" to the server log at level (LOG, WARNING, ...;
// never ERROR: errors travel as exceptions to the entry point).
void log_message(int level, const std::string& message);

}  // namespace pgvault::pg
