#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"
#include "pgvault/storage/repository_url.hpp"
#include "pgvault/storage/settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace pgvault {

class Storage;

// s3://bucket/prefix, AWS or any S3-compatible store.
struct S3Config {
  std::string bucket;
  std::string prefix;  // no leading/trailing '/'; may be empty
  std::string region = "us-east-1";
  std::string endpoint;            // "https://host[:port]"; empty = AWS's endpoint for the region
  std::string uri_style = "host";  // "host" (virtual-host style) or "path"
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;             // optional
  std::uint64_t part_size = 8ull << 20;  // first part size; grows so 10,000 parts reach 5 TiB
  int parts_in_flight = 3;  // bounded parallel part uploads; memory: (in flight + 1) x part size
  std::uint64_t single_put_limit = 8ull << 20;  // objects up to this size: one PUT
};

// Throws Error(invalid_argument) naming the field for a bad config.
std::unique_ptr<Storage> make_s3_storage(const S3Config& config, http::TransportFactory transports);
// Same, with the retry policy used around every request (tests inject a no-op
// sleep; the default is http::RetryPolicy{}).
std::unique_ptr<Storage> make_s3_storage(const S3Config& config, http::TransportFactory transports,
                                         http::RetryPolicy retry);

// The pgvault.s3_* settings of an s3:// repository (s3_settings.cpp). Call
// apply_environment() first when the environment should count. Throws
// Error(invalid_argument) for missing credentials (naming the setting and the
// environment variable), bad values, and unknown s3_/azure_/gcs_/storage_
// names (listing the valid ones). The uri style defaults to path for an
// endpoint on localhost or an IP address, else host.
S3Config s3_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);

// Size of multipart part number part_number (1-based) for an upload whose
// first part is first_part_size bytes: first_part_size * 2^floor((n-1)/900),
// capped at 5 GiB. With the 5 MiB minimum, 10,000 parts reach more than
// 5 TiB (S3's largest object).
std::uint64_t s3_part_size(std::uint64_t first_part_size, int part_number);

}  // namespace pgvault
