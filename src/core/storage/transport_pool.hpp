// Internal to src/core/storage: the connections of one object store, lent
// to whichever thread sends a request.
//
// A transport is one connection and carries one request at a time (a CURL
// easy handle is not thread-safe). The drivers' storage objects are used by
// several threads at once: a chain restore reads the full backup and older
// incrementals on threads of their own while the newest is read on the
// calling thread. Each request (or a writer, for its life) takes an idle
// transport or a new one, uses it alone and gives it back, so requests from
// different threads run side by side and a returned transport keeps its
// connection alive for the next request.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgvault::storage_internal {

class TransportPool {
 public:
  // service ("S3", "GCS", "Azure") names the store in errors.
  TransportPool(http::TransportFactory factory, std::string service);
  TransportPool(const TransportPool&) = delete;
  TransportPool& operator=(const TransportPool&) = delete;

  // A transport for the holder alone, back to the pool when the lease ends.
  // The pool must outlive its leases.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    http::HttpTransport& operator*() const { return *transport_; }
    http::HttpTransport* operator->() const { return transport_.get(); }

   private:
    friend class TransportPool;
    Lease(TransportPool& pool, std::unique_ptr<http::HttpTransport> transport);
    TransportPool* pool_;
    std::unique_ptr<http::HttpTransport> transport_;
  };

  // The most recently returned idle transport (its connection is the most
  // likely to be alive), else a new one from the factory. Throws
  // Error(internal) when the factory returns nothing.
  Lease lease();

  // Idle transports kept at most; more are closed when they come back.
  static constexpr std::size_t kMaxIdle = 8;

 private:
  std::unique_ptr<http::HttpTransport> create() const;
  void give_back(std::unique_ptr<http::HttpTransport> transport) noexcept;

  http::TransportFactory factory_;
  std::string service_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<http::HttpTransport>> idle_;
};

}  // namespace pgvault::storage_internal
