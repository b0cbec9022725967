#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

// Object paths are relative to the repository root and use '/' separators,
// e.g. "7291.../backups/20261124T061530Z-physical/base.tar.zst".
struct ObjectInfo {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_unix = 0;  // seconds since the epoch
};

// A writer makes its object visible only on commit(). Destroying a writer that
// was not committed discards everything written (a partial object is never
// left under its final name; multipart uploads are aborted).
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual void write(std::span<const std::byte> data) = 0;
  virtual void commit() = 0;
};

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Fills up to buf.size() bytes; returns 0 only at the end of the object.
  virtual std::size_t read(std::span<std::byte> buf) = 0;
};

// Every driver is safe to use from several threads at once (a chain restore
// reads several backups side by side): each request of an object-store
// driver has a connection no other thread is using. A single reader or
// writer belongs to one thread at a time.
class Storage {
 public:
  virtual ~Storage() = default;
  // The URL this storage was opened from (never contains secrets).
  virtual std::string url() const = 0;
  virtual std::optional<ObjectInfo> info(const std::string& path) = 0;
  // False when the repository's root does not exist: the directory of a file
  // repository, the bucket (S3, GCS) or the container (Azure). A prefix in an
  // existing bucket or container is not a root (object stores have no
  // directories). list() of a missing root is empty and the first write
  // creates it, so readers ask this to tell a mistyped repository from one
  // that holds nothing yet. Throws when the store cannot say (no permission,
  // unreachable, a file where the directory should be).
  virtual bool root_exists() = 0;
  // Every object whose path starts with prefix (recursively), sorted by path.
  virtual std::vector<ObjectInfo> list(const std::string& prefix) = 0;
  // The directories directly under dir (empty for the root, else ending in
  // '/') that hold at least one object: the next component of every listed
  // path that continues past it, each once, sorted, without the '/'. Object
  // stores answer it from a delimited listing (one entry per directory, not
  // one per object), so naming a repository's systems does not page through
  // their WAL archives. The default derives it from list(dir).
  virtual std::vector<std::string> list_directories(const std::string& dir);
  // Throws Error(not_found) when the object does not exist.
  virtual std::unique_ptr<ObjectReader> open_read(const std::string& path) = 0;
  virtual std::unique_ptr<ObjectWriter> open_write(const std::string& path) = 0;
  // Removing an object that does not exist is not an error.
  virtual void remove(const std::string& path) = 0;
  // Removes every object under prefix (and, for file systems, the emptied directories).
  virtual void remove_prefix(const std::string& prefix);
  // Objects will be written under prefix soon (a backup's directory): a
  // driver with directories creates them now, so that the first open_write()
  // does not wait on the durable mkdir in the middle of a stream (7 ms of a
  // full backup's start, the journal busy with the server's checkpoint).
  // Object stores have nothing to prepare. Nothing is listed under prefix
  // until an object is committed there.
  virtual void prepare_prefix(const std::string& prefix);

  // Convenience: whole small objects (backup.json, manifests).
  std::string read_all(const std::string& path);
  void write_all(const std::string& path, std::string_view content);
};

// A repository is opened from its URL and settings by open_repository()
// (open_repository.hpp); its URL's rules are repository_url.hpp's.

}  // namespace pgvault
