// Internal to src/core/storage: helpers shared by the drivers.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace pgvault::storage_internal {

// Object paths are relative, '/'-separated, with no empty, "." or ".."
// components and no NUL bytes. Throws Error(invalid_argument).
void validate_object_path(std::string_view path);
// A list/remove prefix: empty, or an object path that may end with '/' or
// with a partial last component. Throws Error(invalid_argument).
void validate_prefix(std::string_view prefix);

// The normalized absolute directory of a file repository URL
// (file:///path or /path). Throws Error(invalid_argument) saying what is wrong.
std::string file_repository_path(std::string_view url);

// The posix driver; root is an absolute, normalized path without a trailing slash.
std::unique_ptr<Storage> make_file_storage(std::string root);

}  // namespace pgvault::storage_internal
