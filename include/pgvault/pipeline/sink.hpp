#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace pgvault {

class ObjectWriter;

// One stage of the streaming pipeline. Data flows by write(); finish() flushes
// and finishes the downstream stages. A stage never buffers a whole stream.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(std::span<const std::byte> data) = 0;
  virtual void finish() = 0;
};

// Terminal stage: writes into a repository object; finish() commits it.
class ObjectSink final : public Sink {
 public:
  explicit ObjectSink(ObjectWriter& writer) : writer_(writer) {}
  void write(std::span<const std::byte> data) override;
  void finish() override;

 private:
  ObjectWriter& writer_;
};

// Terminal stage that keeps everything in memory (small objects, tests).
class StringSink final : public Sink {
 public:
  void write(std::span<const std::byte> data) override;
  void finish() override {}
  const std::string& str() const { return data_; }

 private:
  std::string data_;
};

// Terminal stage that drops everything (verification reads).
class NullSink final : public Sink {
 public:
  void write(std::span<const std::byte>) override {}
  void finish() override {}
};

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace pgvault
