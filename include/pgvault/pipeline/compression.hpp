#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault {

enum class Compression { none, gzip, lz4, zstd };

// "none", "gzip", "lz4", "zstd" (case-insensitive); nullopt otherwise.
std::optional<Compression> parse_compression(std::string_view name);
std::string_view compression_name(Compression c);
// File-name suffix: "", ".gz", ".lz4", ".zst".
std::string_view compression_suffix(Compression c);
// The compression a file name's suffix says it has (none when no known suffix).
Compression compression_from_name(std::string_view file_name);

struct LevelRange {
  int min, max, default_level;
};
// gzip 1..9 (default 6), lz4 1..12 (default 1; 3+ is LZ4-HC), zstd 1..22 (default 3), none 0.
// Level 0 means "the algorithm's default" everywhere: validate_compression_level
// accepts it and make_compressor uses default_level for it.
LevelRange compression_levels(Compression c);
// Throws Error(invalid_argument): "compression level 30 is out of range for zstd (allowed: 1..22)".
void validate_compression_level(Compression c, int level);

// The level a backup records and uses: 0 becomes the algorithm's default,
// anything else is validated; always 0 for none.
int effective_compression_level(Compression c, int level);

// Streaming codecs; each writes its output to next and finishes next on finish().
// workers (zstd only, 0..64): libzstd's own threads that compress while the
// caller goes on (ZSTD_c_nbWorkers), started with every signal blocked; 0
// compresses on the caller's thread. Either way the output is one zstd frame.
std::unique_ptr<Sink> make_compressor(Compression c, int level, Sink& next, int workers = 0);
// Throws Error(corrupt) on malformed or truncated input.
std::unique_ptr<Sink> make_decompressor(Compression c, Sink& next);

}  // namespace pgvault
