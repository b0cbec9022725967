#include "ranged_reader.hpp"

#include "pgvault/http/xml.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <deque>
#include <exception>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace pgvault::storage_internal {

namespace {

bool is_2xx(long status) {
  return status >= 200 && status < 300;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

class RangedReader final : public ObjectReader {
 public:
  RangedReader(RangedReaderSettings settings, RangeFetcher fetch)
      : s_(std::move(settings)), fetch_(std::move(fetch)) {
    if (s_.chunk_size == 0) s_.chunk_size = kDefaultReadChunk;
    if (s_.ranges_in_flight == 0) s_.ranges_in_flight = 1;
    // The first range on the caller's thread: a missing object throws here,
    // and the size and ETag every later range needs are known afterwards.
    if (!fetch_range(0, s_.chunk_size, buf_, nullptr)) return;
    next_fetch_ = buf_.size();
    start_ranges();
  }

  ~RangedReader() override {
    // Ranges still in flight stop at their next bytes; their threads are
    // joined here, while everything they use is alive.
    abandoned_.store(true);
    ahead_.clear();
  }

  std::size_t read(std::span<std::byte> out) override {
    if (out.empty()) return 0;
    while (pos_ == buf_.size()) {
      if (ahead_.empty()) return 0;
      take_next_range();
    }
    std::size_t n = std::min(out.size(), buf_.size() - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  // A range fetched on a thread of its own while earlier ones are read.
  struct Range {
    std::uint64_t begin = 0, end = 0;
    std::string data;
    std::optional<BackgroundTask> task;
  };

  Error storage_error(const std::string& what) const {
    return Error(ErrorKind::storage, s_.service + ": reading " + quoted(s_.path) + ": " + what);
  }

  // Keeps up to ranges_in_flight ranges fetched ahead of the one being read,
  // each on its own thread and connection (the driver's pool lends one per
  // request): one connection's throughput and each request's latency no
  // longer bound a large object's read. Buffers are reused, so memory stays
  // at ranges_in_flight + 1 chunks.
  void start_ranges() {
    while (ahead_.size() < s_.ranges_in_flight && next_fetch_ < size_) {
      auto range = std::make_unique<Range>();
      range->begin = next_fetch_;
      range->end = std::min<std::uint64_t>(next_fetch_ + s_.chunk_size, size_);
      if (!spare_.empty()) {
        range->data = std::move(spare_.back());
        spare_.pop_back();
      }
      next_fetch_ = range->end;
      Range* r = range.get();
      range->task.emplace([this, r] { fetch_range(r->begin, r->end, r->data, &abandoned_); });
      ahead_.push_back(std::move(range));
    }
  }

  // The next range in order: waits for it (its failure is this read's) and
  // makes it the buffer being read. fetch_range returned only once the
  // range was whole (the sink refuses more than asked for).
  void take_next_range() {
    if (failure_) std::rethrow_exception(failure_);  // a read after a failed one
    Range& next = *ahead_.front();
    try {
      next.task->wait();
    } catch (...) {
      failure_ = std::current_exception();
      throw;
    }
    buf_.swap(next.data);
    pos_ = 0;
    spare_.push_back(std::move(next.data));
    ahead_.pop_front();
    start_ranges();
  }

  // Reads bytes [begin, end) into out (replacing what it held; end is
  // clamped to the size once it is known) and, from the first range's
  // answer, learns the size and ETag. Returns false when the object is
  // empty (416 to the very first range). Called for later ranges from
  // several threads at once: it then only reads the size, the ETag and the
  // settings. `abandoned` set stops a transfer at its next bytes.
  bool fetch_range(std::uint64_t begin, std::uint64_t end, std::string& out,
                   const std::atomic<bool>* abandoned) {
    out.clear();
    if (out.capacity() < s_.chunk_size) out.reserve(s_.chunk_size);
    for (int resumes = 0;; ++resumes) {
      const std::uint64_t start = begin + out.size();
      const std::uint64_t want = end - start;
      std::uint64_t got = 0;
      RangeGet get;
      get.offset = start;
      get.length = want;
      get.if_match = etag_;
      get.sink = [&](std::string_view data) {
        if (abandoned && abandoned->load())
          throw storage_error("the read was abandoned");  // ends the transfer
        got += data.size();
        if (got > want)
          throw storage_error("the server sent more than the requested " + std::to_string(want) +
                              " bytes (was the Range header ignored?)");
        out.append(data);
      };
      RangeExchange ex;
      try {
        ex = fetch_(get);
      } catch (const http::TransportError& e) {
        // A transfer cut off midway: ask again for what is missing. Cut off
        // before the first answer was complete, the ETag is not known yet, so
        // the bytes received cannot be pinned to one version of the object:
        // start the range over instead.
        if (!e.retryable() || got == 0 || resumes >= s_.max_resumes) throw;
        if (!size_known_) out.clear();
        continue;
      }
      if (accept(ex, start, got)) {
        size_known_ = true;
        size_ = 0;
        return false;
      }
      const std::uint64_t last = std::min(end, size_);
      if (begin + out.size() >= last) return true;
      // Fewer bytes than asked for: ask for the rest, but never loop on an
      // answer that moved nothing (that would end the object early).
      if (got == 0 || resumes >= s_.max_resumes)
        throw storage_error("the server sent fewer bytes than requested (bytes " +
                            std::to_string(begin + out.size()) + " to " + std::to_string(last) +
                            " of " + std::to_string(size_) + " never came)");
    }
  }

  // Checks one answer; learns the size and ETag from the first. Returns true
  // when the object is empty (416 to the very first range).
  bool accept(const RangeExchange& ex, std::uint64_t start, std::uint64_t got) {
    const http::HttpResponse& r = ex.response;
    if (r.status == 404) {
      std::string msg =
          "object " + quoted(s_.path) + " not found in repository " + s_.repository_url;
      if (s_.not_found_detail) msg += s_.not_found_detail(r);
      throw Error(ErrorKind::not_found, msg);
    }
    if (r.status == 412)
      throw Error(ErrorKind::storage, s_.service + ": object " + quoted(s_.path) +
                                          " changed while it was being read (its ETag " + etag_ +
                                          " no longer matches: HTTP 412 Precondition Failed)");
    if (!size_known_ && start == 0 && r.status == 416) {
      // A zero-length object has no byte 0. Some S3-compatible stores omit
      // Content-Range on this answer; one that names a size is believed.
      auto cr = parse_content_range(r.header("content-range"));
      if (!cr || !cr->total || *cr->total == 0) return true;
    }
    if (!is_2xx(r.status)) {
      if (s_.failure) throw s_.failure(ex);
      throw http::status_error(s_.service, ex.request, r);
    }
    if (r.status == 206) {
      std::string header = r.header("content-range");
      auto cr = parse_content_range(header);
      if (!cr || !cr->satisfied || cr->first != start)
        throw storage_error("the server answered bytes " + std::to_string(start) +
                            "- with a different range (Content-Range: " +
                            (header.empty() ? std::string("none") : header) + ")");
      if (!size_known_) {
        if (!cr->total)
          throw storage_error(
              "the server did not say how large the object is (Content-Range: " + header + ")");
        size_ = *cr->total;
      }
    } else if (start != 0) {
      // Any other 2xx carries the whole object: only an answer to the first
      // range can be that (the sink has already refused anything larger).
      throw storage_error("the server answered a ranged request at byte " + std::to_string(start) +
                          " with HTTP " + std::to_string(r.status) + " instead of 206");
    } else if (!size_known_) {
      size_ = got;
    }
    if (!size_known_) {
      size_known_ = true;
      // A weak ETag (W/"...", from a proxy that re-encodes) never matches
      // strongly: pinning it would fail every later range.
      etag_ = r.header("etag");
      if (etag_.starts_with("W/")) etag_.clear();
    }
    return false;
  }

  RangedReaderSettings s_;
  RangeFetcher fetch_;
  // Set by the first range, read-only afterwards (the fetching threads read them).
  std::string etag_;
  std::uint64_t size_ = 0;
  bool size_known_ = false;
  // The range being read: buf_[pos_..] are its unread bytes.
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t next_fetch_ = 0;    // where the next range to start begins
  std::vector<std::string> spare_;  // buffers of ranges read, for the next ones
  std::exception_ptr failure_;      // the first range that failed, for every later read
  std::atomic<bool> abandoned_{false};
  std::deque<std::unique_ptr<Range>> ahead_;  // in order; destroyed first
};

}  // namespace

std::unique_ptr<ObjectReader> open_ranged_reader(RangedReaderSettings settings,
                                                 RangeFetcher fetch) {
  return std::make_unique<RangedReader>(std::move(settings), std::move(fetch));
}

std::optional<ContentRange> parse_content_range(std::string_view h) {
  constexpr std::string_view unit = "bytes ";
  if (!h.starts_with(unit)) return std::nullopt;
  h.remove_prefix(unit.size());
  std::size_t slash = h.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ContentRange cr;
  std::string_view range = h.substr(0, slash), total = h.substr(slash + 1);
  if (total != "*") {
    std::uint64_t t = 0;
    if (!parse_u64(total, t)) return std::nullopt;
    cr.total = t;
  }
  if (range != "*") {
    std::size_t dash = range.find('-');
    if (dash == std::string_view::npos || !parse_u64(range.substr(0, dash), cr.first) ||
        !parse_u64(range.substr(dash + 1), cr.last) || cr.last < cr.first)
      return std::nullopt;
    cr.satisfied = true;
  }
  return cr;
}

long transfer_timeout_ms(std::uint64_t bytes) {
  return 60000 + static_cast<long>(bytes / 256);
}

}  // namespace pgvault::storage_internal
