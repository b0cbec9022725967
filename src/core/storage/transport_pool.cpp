#include "transport_pool.hpp"

#include "pgvault/error.hpp"

#include <utility>

namespace pgvault::storage_internal {

TransportPool::TransportPool(http::TransportFactory factory, std::string service)
    : factory_(std::move(factory)), service_(std::move(service)) {}

TransportPool::Lease::Lease(TransportPool& pool, std::unique_ptr<http::HttpTransport> transport)
    : pool_(&pool), transport_(std::move(transport)) {}

TransportPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), transport_(std::move(other.transport_)) {}

TransportPool::Lease::~Lease() {
  if (transport_) pool_->give_back(std::move(transport_));
}

TransportPool::Lease TransportPool::lease() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<http::HttpTransport> t = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(t));
    }
  }
  return Lease(*this, create());
}

std::unique_ptr<http::HttpTransport> TransportPool::create() const {
  std::unique_ptr<http::HttpTransport> t = factory_ ? factory_() : nullptr;
  if (!t) throw Error(ErrorKind::internal, service_ + ": the transport factory returned nothing");
  return t;
}

void TransportPool::give_back(std::unique_ptr<http::HttpTransport> transport) noexcept {
  std::unique_ptr<http::HttpTransport> closed;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle)
    idle_.push_back(std::move(transport));
  else
    closed = std::move(transport);
}

}  // namespace pgvault::storage_internal
