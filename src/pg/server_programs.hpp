// The server's own client programs (pg_dump, pg_restore): same version, same
// bin directory as the running postgres.
#pragma once

#include <string>

namespace pgvault::pg {

// The absolute path of the server's own copy of a client program, as
// pg_upgrade and initdb find theirs. Throws Error(not_found) saying which
// Debian package provides it when it is missing or of another version.
std::string server_program(const char* name);

}  // namespace pgvault::pg
