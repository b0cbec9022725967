#include "pgvault/storage/storage.hpp"

#include "pgvault/error.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <filesystem>
#include <vector>

namespace pgvault {

namespace storage_internal {

namespace {

void check_components(std::string_view path, std::string_view original, bool allow_partial_last) {
  if (path.find('\0') != std::string_view::npos)
    throw Error(ErrorKind::invalid_argument,
                "invalid object path \"" + std::string(original) + "\": contains a NUL byte");
  if (!path.empty() && path.front() == '/')
    throw Error(ErrorKind::invalid_argument,
                "invalid object path \"" + std::string(original) + "\": must be relative");
  std::size_t start = 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    bool last = slash == std::string_view::npos;
    std::string_view comp = path.substr(start, last ? std::string_view::npos : slash - start);
    if (last && allow_partial_last) {
      // A partial last component (prefix match) may be empty or "."; never "..".
      if (comp == "..")
        throw Error(ErrorKind::invalid_argument,
                    "invalid object path \"" + std::string(original) + "\": \"..\" is not allowed");
      return;
    }
    if (comp.empty())
      throw Error(ErrorKind::invalid_argument,
                  "invalid object path \"" + std::string(original) + "\": empty path component");
    if (comp == "." || comp == "..")
      throw Error(ErrorKind::invalid_argument, "invalid object path \"" + std::string(original) +
                                                   "\": \"" + std::string(comp) +
                                                   "\" is not allowed");
    if (last) return;
    start = slash + 1;
  }
}

}  // namespace

void validate_object_path(std::string_view path) {
  check_components(path, path, false);
}

void validate_prefix(std::string_view prefix) {
  if (prefix.empty()) return;
  check_components(prefix, prefix, true);
}

std::string PartBuffers::take(std::size_t size) {
  std::string b;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      b = std::move(free_.back());
      free_.pop_back();
    }
  }
  b.reserve(size);  // a no-op for a reused buffer unless parts grew
  return b;
}

void PartBuffers::give(std::string buffer) {
  buffer.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(buffer));
}

void validate_directory(std::string_view dir) {
  if (!dir.empty() && !dir.ends_with('/'))
    throw Error(ErrorKind::invalid_argument,
                "invalid directory \"" + std::string(dir) +
                    "\": a directory is empty (the root) or ends with '/'");
  validate_prefix(dir);
}

std::vector<std::string> directories_of(const std::vector<ObjectInfo>& objects,
                                        std::string_view dir) {
  std::vector<std::string> out;
  for (const ObjectInfo& obj : objects) {
    if (!obj.path.starts_with(dir)) continue;
    const std::size_t slash = obj.path.find('/', dir.size());
    if (slash == std::string::npos) continue;
    std::string name = obj.path.substr(dir.size(), slash - dir.size());
    if (out.empty() || out.back() != name) out.push_back(std::move(name));
  }
  return sorted_directories(std::move(out));
}

std::optional<std::string> listed_directory(std::string_view reported, std::string_view dir) {
  if (!reported.starts_with(dir) || reported.size() < dir.size() + 2 || !reported.ends_with('/'))
    return std::nullopt;
  std::string_view name = reported.substr(dir.size(), reported.size() - dir.size() - 1);
  // A store answers a delimited listing with one level; anything deeper is
  // not a directory directly under dir, whatever the store says.
  if (name.find('/') != std::string_view::npos) return std::nullopt;
  return std::string(name);
}

std::vector<std::string> sorted_directories(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace storage_internal

std::vector<std::string> Storage::list_directories(const std::string& dir) {
  storage_internal::validate_directory(dir);
  return storage_internal::directories_of(list(dir), dir);
}

void Storage::remove_prefix(const std::string& prefix) {
  for (const ObjectInfo& obj : list(prefix)) remove(obj.path);
}

void Storage::prepare_prefix(const std::string& prefix) {
  storage_internal::validate_prefix(prefix);
}

std::string Storage::read_all(const std::string& path) {
  auto reader = open_read(path);
  std::string out;
  std::vector<std::byte> buf(64 * 1024);
  while (std::size_t n = reader->read(buf))
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  return out;
}

void Storage::write_all(const std::string& path, std::string_view content) {
  auto writer = open_write(path);
  writer->write({reinterpret_cast<const std::byte*>(content.data()), content.size()});
  writer->commit();
}

namespace {

constexpr std::string_view kFileScheme = "file://";

[[noreturn]] void throw_bad_url(std::string_view url, std::string_view why = {}) {
  std::string msg = "invalid repository URL \"" + std::string(url) + "\"";
  if (!why.empty()) msg += ": " + std::string(why);
  msg += ": expected file:///absolute/path (or an absolute path)";
  throw Error(ErrorKind::invalid_argument, msg);
}

}  // namespace

std::string storage_internal::file_repository_path(std::string_view url) {
  std::string_view path = url;
  if (url.starts_with(kFileScheme)) {
    path = url.substr(kFileScheme.size());
    if (!path.starts_with('/'))
      throw_bad_url(url, "file URLs need an empty host and an absolute path");
  } else if (!url.starts_with('/')) {
    throw_bad_url(url);
  }
  if (path.find('\0') != std::string_view::npos) throw_bad_url(url, "contains a NUL byte");
  std::string norm = std::filesystem::path(path).lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  if (norm == "/") throw_bad_url(url, "the file system root cannot be a repository");
  return norm;
}

}  // namespace pgvault
