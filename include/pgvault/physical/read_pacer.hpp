#pragma once
#include "pgvault/pg_free.hpp"

#include <chrono>
#include <cstdint>

namespace pgvault {

// Paces a physical backup to a rate of data-directory bytes *read*
// (pgvault.max_rate), which is what protects production I/O.
//
// Why not BASE_BACKUP's MAX_RATE: the server applies it to the bytes it
// sends, after server-side compression, so with zstd the data directory is
// read several times faster than the limit. Instead the job worker stops
// reading the connection when it is ahead of schedule; the server then
// blocks on the full socket and stops reading files. The server reports the
// bytes it has read about once a second ('p' progress messages); in between,
// the compressed bytes received are scaled by the compression ratio seen at
// the last report. Before the first report (the first second) the ratio is
// assumed to be kFirstRatio: assuming too little would let the server read
// at full speed for that second; too much only slows the first second down.
class ReadPacer {
 public:
  using Duration = std::chrono::nanoseconds;
  static constexpr std::uint64_t kFirstRatio = 8;
  explicit ReadPacer(std::uint64_t bytes_per_second);

  // At each progress report: source bytes read so far, stream bytes received so far.
  void on_progress(std::uint64_t source_done, std::uint64_t received);
  // How long to stop reading now, having received `received` stream bytes
  // `elapsed` after the stream started (zero when on or behind schedule).
  Duration delay(std::uint64_t received, Duration elapsed) const;
  // The source bytes read so far, as estimated from `received`.
  std::uint64_t estimated_source(std::uint64_t received) const;

 private:
  std::uint64_t rate_;
  std::uint64_t source_at_report_ = 0;
  std::uint64_t received_at_report_ = 0;
};

}  // namespace pgvault
