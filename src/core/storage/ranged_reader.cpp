#include "ranged_reader.hpp"

#include "pgvault/http/xml.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <span>
#include <utility>

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
    fill();
  }

  std::size_t read(std::span<std::byte> out) override {
    if (out.empty()) return 0;
    if (pos_ == buf_.size()) {
      if (offset_ >= size_) return 0;
      fill();
      if (buf_.empty()) return 0;
    }
    std::size_t n = std::min(out.size(), buf_.size() - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  Error storage_error(const std::string& what) const {
    return Error(ErrorKind::storage, s_.service + ": reading " + quoted(s_.path) + ": " + what);
  }

  // Reads the next range, [offset_, min(offset_ + chunk, size)), into buf_
  // (reusing its capacity) and advances offset_ past it.
  void fill() {
    const bool first = !size_known_;
    const std::uint64_t end =
        first ? offset_ + s_.chunk_size : std::min<std::uint64_t>(offset_ + s_.chunk_size, size_);
    buf_.clear();
    pos_ = 0;
    if (buf_.capacity() < s_.chunk_size) buf_.reserve(s_.chunk_size);
    for (int resumes = 0;; ++resumes) {
      const std::uint64_t start = offset_ + buf_.size();
      const std::uint64_t want = end - start;
      std::uint64_t got = 0;
      RangeGet get;
      get.offset = start;
      get.length = want;
      get.if_match = etag_;
      get.sink = [&](std::string_view data) {
        got += data.size();
        if (got > want)
          throw storage_error("the server sent more than the requested " + std::to_string(want) +
                              " bytes (was the Range header ignored?)");
        buf_.append(data);
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
        if (!size_known_) buf_.clear();
        continue;
      }
      if (accept(ex, start, got)) {
        size_known_ = true;
        size_ = 0;
        return;
      }
      if (offset_ + buf_.size() >= std::min(end, size_)) break;
      // Fewer bytes than asked for: ask for the rest, but never loop on an
      // answer that moved nothing (that would end the object early).
      if (got == 0 || resumes >= s_.max_resumes)
        throw storage_error("the server sent fewer bytes than requested (bytes " +
                            std::to_string(offset_ + buf_.size()) + " to " +
                            std::to_string(std::min(end, size_)) + " of " + std::to_string(size_) +
                            " never came)");
    }
    offset_ += buf_.size();
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
  std::string etag_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  bool size_known_ = false;
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
