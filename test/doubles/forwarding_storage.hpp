// A Storage that passes every call to another one, for test doubles that
// change one behaviour of a real store (refuse writes, record commits, hold
// reads) and keep the rest: derive, override what differs. Test-only.
#pragma once
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgvault {

class ForwardingStorage : public Storage {
 public:
  explicit ForwardingStorage(Storage& inner) : inner_(inner) {}
  std::string url() const override { return inner_.url(); }
  std::optional<ObjectInfo> info(const std::string& p) override { return inner_.info(p); }
  bool root_exists() override { return inner_.root_exists(); }
  std::vector<ObjectInfo> list(const std::string& prefix) override { return inner_.list(prefix); }
  std::vector<std::string> list_directories(const std::string& dir) override {
    return inner_.list_directories(dir);
  }
  std::unique_ptr<ObjectReader> open_read(const std::string& p) override {
    return inner_.open_read(p);
  }
  std::unique_ptr<ObjectWriter> open_write(const std::string& p) override {
    return inner_.open_write(p);
  }
  void remove(const std::string& p) override { inner_.remove(p); }
  void remove_prefix(const std::string& prefix) override { inner_.remove_prefix(prefix); }
  void prepare_prefix(const std::string& prefix) override { inner_.prepare_prefix(prefix); }

 protected:
  Storage& inner_;
};

}  // namespace pgvault
