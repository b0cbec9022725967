// Internal to src/core/storage: the object reader of the HTTP object-store
// drivers (S3, GCS, Azure Blob). The driver only sends one ranged GET; the
// reader does the rest the same way for every store:
//
//   - ranges of chunk_size bytes; after the first (on the caller's thread),
//     up to ranges_in_flight ranges are fetched ahead of the one being read,
//     each on a thread and connection of its own, into reused buffers
//     (constant memory: ranges_in_flight + 1 chunks), and handed out in
//     order; a range's failure is the failure of the read that reaches it;
//   - the size from the first answer's Content-Range ("bytes 0-8388607/N");
//     416 to the first range is an empty object;
//   - the ETag of the first answer is pinned with If-Match on every later
//     request, so an object replaced while it is read gives 412, reported
//     as "changed while it was being read" instead of a silent mix of two
//     objects;
//   - a body cut off midway (a retryable transport failure after some bytes,
//     or fewer bytes than asked for) is resumed from the first missing byte,
//     a bounded number of times (cut off before the first answer, and so its
//     ETag, was complete, the first range starts over instead); an answer
//     that moves nothing is an error, never the end of the object;
//   - an answer larger than the range (a server ignoring Range) is refused
//     as soon as it overflows, so memory stays at one chunk.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/storage.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pgvault::storage_internal {

inline constexpr std::size_t kDefaultReadChunk = 8u << 20;
inline constexpr std::size_t kDefaultRangesInFlight = 3;

// One ranged GET for bytes [offset, offset + length).
struct RangeGet {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string if_match;  // the ETag to pin; empty = no If-Match
  // Receives the body of a 2xx answer (HttpRequest::body_sink).
  std::function<void(std::string_view)> sink;
};

struct RangeExchange {
  http::HttpRequest request;  // as sent, for messages
  http::HttpResponse response;
};

// The per-store part: builds, authenticates and sends the GET (Range or
// x-ms-range, If-Match when given, get.sink as the body sink), through the
// store's retries. Throws http::TransportError when no answer came back.
using RangeFetcher = std::function<RangeExchange(const RangeGet&)>;

struct RangedReaderSettings {
  std::string service;         // "S3", "GCS", "Azure": begins every message
  std::string path;            // the object's repository path, for messages
  std::string repository_url;  // for the not-found message
  std::size_t chunk_size = kDefaultReadChunk;
  // Ranges fetched ahead of the one being read (at least 1). One connection
  // to a store carries about 50-100 MB/s and waits a round trip per range;
  // three at a time keep a restore from being bound by either.
  std::size_t ranges_in_flight = kDefaultRangesInFlight;
  int max_resumes = 3;  // per range
  // The error for an unsuccessful answer; default http::status_error(service, ...).
  std::function<Error(const RangeExchange&)> failure;
  // Appended to the not-found message, e.g. " (bucket "b" does not exist)".
  std::function<std::string(const http::HttpResponse&)> not_found_detail;
};

// Fetches the first range before returning: a missing object throws
// Error(not_found) here, and the size and ETag are known afterwards.
std::unique_ptr<ObjectReader> open_ranged_reader(RangedReaderSettings settings, RangeFetcher fetch);

// "bytes 0-99/1234" (206) or "bytes */1234" (416). total is empty for "/*".
struct ContentRange {
  bool satisfied = false;  // has first-last (not "*")
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<std::uint64_t> total;
};
// nullopt when the header is absent or malformed.
std::optional<ContentRange> parse_content_range(std::string_view header);

// Whole-request timeout for a transfer of this many bytes: 60 s plus 1 s per
// 256 kB, so large parts and ranges on slow links are not cut off by the
// limit that suits metadata requests.
long transfer_timeout_ms(std::uint64_t bytes);

}  // namespace pgvault::storage_internal
