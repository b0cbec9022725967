// In-memory storage for unit tests (memory_storage.hpp).
#include "doubles/memory_storage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "storage_internal.hpp"  // src/core/storage: the path rules every driver follows

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

namespace pgvault {
namespace {

struct MemObject {
  std::shared_ptr<const std::string> data;
  std::int64_t mtime = 0;
};

struct MemState {
  std::mutex mu;
  std::map<std::string, MemObject> objects;
};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MemWriter final : public ObjectWriter {
 public:
  MemWriter(std::shared_ptr<MemState> state, std::string path)
      : state_(std::move(state)), path_(std::move(path)) {}

  void write(std::span<const std::byte> data) override {
    if (committed_) throw Error(ErrorKind::internal, "write after commit of \"" + path_ + "\"");
    buf_.append(reinterpret_cast<const char*>(data.data()), data.size());
  }

  void commit() override {
    if (committed_) throw Error(ErrorKind::internal, "object \"" + path_ + "\" committed twice");
    committed_ = true;
    std::lock_guard lock(state_->mu);
    state_->objects[path_] = {std::make_shared<const std::string>(std::move(buf_)), now_unix()};
  }

 private:
  std::shared_ptr<MemState> state_;
  std::string path_;
  std::string buf_;
  bool committed_ = false;
};

class MemReader final : public ObjectReader {
 public:
  explicit MemReader(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}

  std::size_t read(std::span<std::byte> buf) override {
    std::size_t n = std::min(buf.size(), data_->size() - pos_);
    std::memcpy(buf.data(), data_->data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::shared_ptr<const std::string> data_;
  std::size_t pos_ = 0;
};

class MemoryStorage final : public Storage {
 public:
  std::string url() const override { return "memory://"; }

  std::optional<ObjectInfo> info(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::lock_guard lock(state_->mu);
    auto it = state_->objects.find(path);
    if (it == state_->objects.end()) return std::nullopt;
    return ObjectInfo{path, it->second.data->size(), it->second.mtime};
  }

  // The in-memory store exists from its creation to its destruction.
  bool root_exists() override { return true; }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    storage_internal::validate_prefix(prefix);
    std::vector<ObjectInfo> out;
    std::lock_guard lock(state_->mu);
    for (auto it = state_->objects.lower_bound(prefix);
         it != state_->objects.end() && it->first.starts_with(prefix); ++it)
      out.push_back({it->first, it->second.data->size(), it->second.mtime});
    return out;
  }

  std::unique_ptr<ObjectReader> open_read(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::lock_guard lock(state_->mu);
    auto it = state_->objects.find(path);
    if (it == state_->objects.end())
      throw Error(ErrorKind::not_found, "object \"" + path + "\" not found in repository " + url());
    return std::make_unique<MemReader>(it->second.data);
  }

  std::unique_ptr<ObjectWriter> open_write(const std::string& path) override {
    storage_internal::validate_object_path(path);
    return std::make_unique<MemWriter>(state_, path);
  }

  void remove(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::lock_guard lock(state_->mu);
    state_->objects.erase(path);
  }

 private:
  std::shared_ptr<MemState> state_ = std::make_shared<MemState>();
};

}  // namespace

std::unique_ptr<Storage> make_memory_storage() {
  return std::make_unique<MemoryStorage>();
}

}  // namespace pgvault
