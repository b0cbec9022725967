#include "pgvault/pipeline/sink.hpp"

#include "pgvault/storage/storage.hpp"

namespace pgvault {

void ObjectSink::write(std::span<const std::byte> data) {
  if (!data.empty()) writer_.write(data);
}

void ObjectSink::finish() {
  writer_.commit();
}

void StringSink::write(std::span<const std::byte> data) {
  data_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace pgvault
