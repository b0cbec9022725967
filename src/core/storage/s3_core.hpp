// Internal to src/core/storage: what the S3 driver's files share
// (s3_storage.cpp the driver, s3_writer.cpp its multipart writer,
// s3_reader.cpp its reader). S3Core holds the configuration, the dialect,
// the authenticator and the store's connections (transport_pool.hpp); the
// storage, its readers and its writers share one.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/storage.hpp"
#include "s3_compatible.hpp"
#include "storage_internal.hpp"  // is_2xx
#include "transport_pool.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pgvault::storage_internal {

inline constexpr std::uint64_t kS3MinPartSize = 5ull << 20;  // 5 MiB
inline constexpr std::uint64_t kS3MaxPartSize = 5ull << 30;  // 5 GiB
inline constexpr int kS3MaxParts = 10000;
inline constexpr int kS3PartsPerDoubling = 900;  // see s3_part_size()

// s with & < > " ' as XML entities.
std::string xml_escape(std::string_view s);

// One S3 request before authentication.
struct S3Request {
  std::string method;
  std::string key;            // object key (not encoded); ignored when bucket_level
  bool bucket_level = false;  // the bucket itself (list, create, DeleteObjects)
  http::QueryParams query;
  http::HeaderList headers;  // extra headers, signed too (range, content-md5, ...)
  std::string_view body;
  std::function<void(std::string_view)> body_sink;  // streams a 2xx GET body
  std::uint64_t expected_bytes = 0;                 // response size, for the timeout
};

struct S3Exchange {
  http::HttpRequest request;
  http::HttpResponse response;
};

class S3Core {
 public:
  // config is validated; a dialect without an authenticator gets SigV4 with
  // the config's keys and region.
  S3Core(S3Config config, S3Dialect dialect, http::TransportFactory factory,
         http::RetryPolicy retry);

  const S3Config& config() const { return config_; }
  const S3Dialect& dialect() const { return dialect_; }
  // "S3" or "GCS": begins every message.
  const std::string& service() const { return dialect_.service; }
  // "s3://bucket/prefix" (the dialect's scheme).
  std::string url() const;
  // The object key of a repository path ("<prefix>/<path>").
  std::string key_of(const std::string& path) const;

  // A transport of the pool for its holder alone (a part upload worker, for
  // its life): an idle one, its connection kept from an earlier request or
  // upload, else a new one.
  TransportPool::Lease lease_transport() const { return pool_.lease(); }

  // Authenticates and sends r through t, with retries. A 401 that fresh
  // credentials may cure (an expired bearer token) is sent once more.
  S3Exchange send(http::HttpTransport& t, const S3Request& r) const;
  // Same, on a transport of the pool for this request alone.
  S3Exchange send(const S3Request& r);
  // Sends a request that writes (through t, or one of the pool when t is
  // null); on NoSuchBucket creates the bucket (once per storage) and
  // sends it again.
  S3Exchange send_creating_bucket(http::HttpTransport* t, const S3Request& r);

  // The error code of an answer (its <Error> body, else x-amz-error-code).
  static std::string error_code(const http::HttpResponse& resp);
  static bool no_such_bucket(const http::HttpResponse& resp);
  Error bucket_missing(const http::HttpResponse& resp, const std::string& extra = {}) const;
  // The error for an unsuccessful exchange.
  Error failure(const S3Exchange& ex) const;

 private:
  http::HttpRequest build(const S3Request& r) const;
  S3Exchange send_once(http::HttpTransport& t, const S3Request& r) const;
  void create_bucket(const http::HttpResponse& original);

  S3Config config_;
  S3Dialect dialect_;
  http::RetryPolicy retry_;
  std::string scheme_, host_;
  mutable TransportPool pool_;
  std::atomic<bool> bucket_create_tried_{false};
};

// The object reader (s3_reader.cpp): the shared ranged reader over signed GETs.
std::unique_ptr<ObjectReader> open_s3_reader(const std::shared_ptr<S3Core>& core,
                                             const std::string& path);
// The object writer (s3_writer.cpp): one PUT, or a multipart upload.
std::unique_ptr<ObjectWriter> open_s3_writer(std::shared_ptr<S3Core> core, std::string path);

}  // namespace pgvault::storage_internal
