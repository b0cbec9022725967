// Internal to src/core/storage: helpers shared by the drivers.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/storage/storage.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault::storage_internal {

// A 2xx HTTP status.
inline bool is_2xx(long status) {
  return status >= 200 && status < 300;
}

// Object paths are relative, '/'-separated, with no empty, "." or ".."
// components and no NUL bytes. Throws Error(invalid_argument).
void validate_object_path(std::string_view path);
// A list/remove prefix: empty, or an object path that may end with '/' or
// with a partial last component. Throws Error(invalid_argument).
void validate_prefix(std::string_view prefix);
// A list_directories() directory: empty, or a prefix ending with '/'.
// Throws Error(invalid_argument).
void validate_directory(std::string_view dir);
// The directories directly under dir that objects (a listing of dir) lie in,
// as Storage::list_directories() returns them.
std::vector<std::string> directories_of(const std::vector<ObjectInfo>& objects,
                                        std::string_view dir);
// An entry of a delimited listing of dir (S3's CommonPrefixes, Azure's
// BlobPrefix: "<dir><name>/"): the directory's name, or nothing for an
// entry that does not name one directly under dir.
std::optional<std::string> listed_directory(std::string_view reported, std::string_view dir);
// Sorted, each once: what list_directories returns.
std::vector<std::string> sorted_directories(std::vector<std::string> names);

// The normalized absolute directory of a file repository URL
// (file:///path or /path). Throws Error(invalid_argument) saying what is wrong.
std::string file_repository_path(std::string_view url);

// Four dot-separated decimal numbers ("10.0.0.1"): an IPv4 address, which
// bucket names must not look like and S3 endpoints reach path-style.
bool looks_like_ipv4(std::string_view s);

// The posix driver; root is an absolute, normalized path without a trailing slash.
std::unique_ptr<Storage> make_file_storage(std::string root);

// Buffers for the parts (blocks) of a multipart upload, reused from part to
// part. Freeing a part-sized buffer on an upload thread and allocating the
// next one on the writer's thread fragments glibc's heaps: measured 12 MB of
// RSS per 8 MiB part in flight. Reused, the window stays (in flight + 1)
// buffers. Thread-safe.
class PartBuffers {
 public:
  // An empty buffer with room for at least size bytes.
  std::string take(std::size_t size);
  // Back for reuse: cleared, its capacity kept.
  void give(std::string buffer);

 private:
  std::mutex mutex_;
  std::vector<std::string> free_;
};

}  // namespace pgvault::storage_internal
