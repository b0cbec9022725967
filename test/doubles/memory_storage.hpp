// In-memory Storage for unit tests: the real drivers' contract (objects
// visible only on commit, not_found on missing, sorted listings) without a
// file system or a server. Test-only: not part of the core library.
#pragma once
#include "pgvault/storage/storage.hpp"

#include <memory>

namespace pgvault {

std::unique_ptr<Storage> make_memory_storage();

}  // namespace pgvault
