// Internal to src/core/storage: what the Azure Blob driver's files share
// (azure_storage.cpp the driver and its reader, azure_writer.cpp its block
// writer). AzureContext holds the configuration and the store's connections
// (transport_pool.hpp); the storage, its readers and its writers share one.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/storage.hpp"
#include "transport_pool.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace pgvault::storage_internal {

inline constexpr std::string_view kAzureService = "Azure";

// The error code of an answer (its <Error> body, else x-ms-error-code).
std::string azure_error_code(const http::HttpResponse& r);

// A transport of the pool, for its holder alone, and the retrying wrapper
// around it.
struct AzureConnection {
  AzureConnection(TransportPool::Lease t, const http::RetryPolicy& policy)
      : raw(std::move(t)), retrying(*raw, policy) {}
  TransportPool::Lease raw;
  http::RetryingTransport retrying;
};

class AzureContext {
 public:
  // config is validated; the endpoint defaults to the account's.
  AzureContext(AzureConfig config, http::TransportFactory factory, http::RetryPolicy policy);

  const AzureConfig& config() const { return cfg_; }
  // A connection for one request, or for a writer's life (from the pool).
  std::shared_ptr<AzureConnection> connect() const;
  // "azure://container/prefix".
  std::string url() const;
  // The blob name of a repository path.
  std::string blob(const std::string& path) const {
    return cfg_.prefix.empty() ? path : cfg_.prefix + "/" + path;
  }
  // What a blob name starts with for every repository object.
  std::string root() const { return cfg_.prefix.empty() ? std::string() : cfg_.prefix + "/"; }

  // Builds, signs and sends one request. blob_name empty = the container.
  http::HttpResponse send(http::HttpTransport& t, const std::string& method,
                          const std::string& blob_name, const http::QueryParams& query,
                          http::HeaderList headers = {}, std::string_view body = {},
                          std::function<void(std::string_view)> sink = nullptr,
                          http::HttpRequest* out = nullptr, std::uint64_t expect = 0) const;

  // A PUT that creates something in the container: on 404 ContainerNotFound
  // the container is created (once per storage) and the PUT repeated.
  http::HttpResponse put(http::HttpTransport& t, const std::string& blob_name,
                         const http::QueryParams& query, const http::HeaderList& headers,
                         std::string_view body, http::HttpRequest& req);

 private:
  void create_container(http::HttpTransport& t);

  AzureConfig cfg_;
  http::RetryPolicy policy_;
  mutable TransportPool pool_;
  std::string container_url_;
  std::mutex container_mutex_;
  bool container_created_ = false;
};

// The object writer (azure_writer.cpp): one Put Blob, or blocks and a block list.
std::unique_ptr<ObjectWriter> open_azure_writer(std::shared_ptr<AzureContext> ctx,
                                                std::shared_ptr<AzureConnection> conn,
                                                std::string path);

}  // namespace pgvault::storage_internal
