// pread()/pwrite() until the whole range is done: retried on EINTR and on
// short transfers, as every caller needs. A failure throws
// Error(io) via throw_os_error with "could not read|write " + what() and the
// system's reason; `what` is only called then ("block 5 of \"base/1/1259\"").
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace pgvault {

// Writes all of data at offset.
void pwrite_fully(int fd, std::span<const std::byte> data, std::uint64_t offset,
                  const std::function<std::string()>& what);

// Reads buf.size() bytes at offset; returns fewer only where the file ends.
std::size_t pread_fully(int fd, std::span<std::byte> buf, std::uint64_t offset,
                        const std::function<std::string()>& what);

}  // namespace pgvault
