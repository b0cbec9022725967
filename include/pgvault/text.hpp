#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <string>

namespace pgvault {

// A byte count for people: "512 bytes", "1.5 MB", "12 GB" (1024-based units
// bytes, kB, MB, GB, TB, PB; one decimal below 10).
std::string human_size(std::uint64_t bytes);

}  // namespace pgvault
