#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> data);
  void update(std::string_view data) { update(as_bytes(data)); }
  // Lower-case hex; the object cannot be updated afterwards.
  std::string final_hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);

// Pass-through stage: SHA-256 and byte count of everything that flows through.
class DigestSink final : public Sink {
 public:
  explicit DigestSink(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override;
  void finish() override;
  std::uint64_t bytes() const { return bytes_; }
  // Valid after finish().
  const std::string& sha256() const { return hex_; }

 private:
  Sink& next_;
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
  std::string hex_;
};

}  // namespace pgvault
