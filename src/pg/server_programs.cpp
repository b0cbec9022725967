#include "pgvault/error.hpp"

#include <string>

#include "error_boundary.hpp"
#include "server_programs.hpp"

namespace pgvault::pg {

std::string server_program(const char* name) {
  char path[MAXPGPATH];
  const std::string version = std::string(name) + " (PostgreSQL) " PG_VERSION "\n";
  if (find_other_exec(my_exec_path, name, version.c_str(), path) != 0) {
    throw Error(ErrorKind::not_found,
                std::string("could not find ") + name +
                    " of PostgreSQL " PG_VERSION " beside the server (" + my_exec_path +
                    "); install the PostgreSQL client "
                    "programs of the server's version (Debian: postgresql-client-" PG_MAJORVERSION
                    ")");
  }
  return path;
}

}  // namespace pgvault::pg
