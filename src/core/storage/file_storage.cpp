// The posix driver (file:// repositories).
//
// Writes go to "<final>.pgvault-tmp.<pid>.<counter>" in the object's directory
// and become visible by rename() after fsync, so a reader never sees a partial
// object and a crash leaves only temp files (ignored by list(), removed by
// remove_prefix()).
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/write_back.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace pgvault {
namespace {

constexpr std::string_view kTempMarker = ".pgvault-tmp.";
constexpr std::size_t kWriteBuffer = 1024 * 1024;

bool is_temp_name(std::string_view name) {
  return name.find(kTempMarker) != std::string_view::npos;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_os_error("could not open directory " + quoted(dir), errno);
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    throw_os_error("could not fsync directory " + quoted(dir), e);
  }
  ::close(fd);
}

// mkdir -p with mode 0700; every directory created is made durable in its parent.
void make_dirs(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw_os_error("could not create directory " + quoted(dir), ENOTDIR);
    return;
  }
  if (errno != ENOENT) throw_os_error("could not stat " + quoted(dir), errno);
  std::string parent = parent_of(dir);
  if (parent != dir) make_dirs(parent);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return;  // raced with another writer
    throw_os_error("could not create directory " + quoted(dir), errno);
  }
  fsync_dir(parent);
}

class FileWriter final : public ObjectWriter {
 public:
  FileWriter(std::string final_path, std::string temp_path, int fd)
      : final_(std::move(final_path)), temp_(std::move(temp_path)), fd_(fd) {}

  ~FileWriter() override {
    if (!committed_) {
      close_quietly(fd_);
      ::unlink(temp_.c_str());
    }
  }

  void write(std::span<const std::byte> data) override {
    if (committed_ || fd_ < 0)
      throw Error(ErrorKind::internal, "write after commit of " + quoted(final_));
    if (data.size() >= kWriteBuffer) {
      // Large spans go straight to the kernel: no copy.
      flush();
      write_fully(data.data(), data.size());
      return;
    }
    if (buf_.capacity() < kWriteBuffer) buf_.reserve(kWriteBuffer);
    if (buf_.size() + data.size() > kWriteBuffer) flush();
    buf_.insert(buf_.end(), data.begin(), data.end());
  }

  void commit() override {
    if (committed_)
      throw Error(ErrorKind::internal, "object " + quoted(final_) + " committed twice");
    flush();
    write_back_.finish(fd_);
    if (::fsync(fd_) != 0) throw_os_error("could not fsync file " + quoted(final_), errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw_os_error("could not close file " + quoted(final_), errno);
    if (::rename(temp_.c_str(), final_.c_str()) != 0)
      throw_os_error("could not rename " + quoted(temp_) + " to " + quoted(final_), errno);
    committed_ = true;
    fsync_dir(parent_of(final_));
  }

 private:
  void flush() {
    if (buf_.empty()) return;
    write_fully(buf_.data(), buf_.size());
    buf_.clear();
  }

  void write_fully(const std::byte* p, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, std::min<std::size_t>(n, 1 << 30));
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_os_error("could not write file " + quoted(final_), errno);
      }
      // The disk writes the object while the rest of it arrives: commit()'s
      // fsync finds little left (write_back.hpp).
      write_back_.wrote(fd_, written_, static_cast<std::uint64_t>(w));
      written_ += static_cast<std::uint64_t>(w);
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  std::string final_, temp_;
  int fd_;
  bool committed_ = false;
  std::vector<std::byte> buf_;
  std::uint64_t written_ = 0;
  WriteBack write_back_;
};

class FileReader final : public ObjectReader {
 public:
  FileReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~FileReader() override { close_quietly(fd_); }

  std::size_t read(std::span<std::byte> buf) override {
    if (buf.empty()) return 0;
    while (true) {
      ssize_t r = ::read(fd_, buf.data(), buf.size());
      if (r >= 0) return static_cast<std::size_t>(r);
      if (errno != EINTR) throw_os_error("could not read file " + quoted(path_), errno);
    }
  }

 private:
  std::string path_;
  int fd_;
};

class FileStorage final : public Storage {
 public:
  explicit FileStorage(std::string root) : root_(std::move(root)) {}

  std::string url() const override { return "file://" + root_; }

  std::optional<ObjectInfo> info(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::string full = full_path(path);
    struct stat st;
    if (::stat(full.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      throw_os_error("could not stat file " + quoted(full), errno);
    }
    if (!S_ISREG(st.st_mode)) return std::nullopt;
    return ObjectInfo{path, static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec};
  }

  bool root_exists() override {
    struct stat st;
    if (::stat(root_.c_str(), &st) != 0) {
      // ENOTDIR: a file where a parent directory should be; nothing to read either way.
      if (errno == ENOENT || errno == ENOTDIR) return false;
      throw_os_error("could not look at repository directory " + quoted(root_), errno);
    }
    if (!S_ISDIR(st.st_mode))
      throw Error(ErrorKind::storage,
                  "repository " + url() + " is not a directory: " + quoted(root_) + " is a file");
    return true;
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    storage_internal::validate_prefix(prefix);
    std::vector<ObjectInfo> out;
    walk(
        prefix,
        [&](const std::string& rel, const struct stat& st) {
          out.push_back({rel, static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec});
          return true;
        },
        nullptr, false);
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.path < b.path; });
    return out;
  }

  // A subdirectory counts once a walk of it meets its first object: empty
  // directories (prepare_prefix's, a crashed writer's) hold nothing, as on
  // an object store, and a WAL directory costs one file, not a stat of each.
  std::vector<std::string> list_directories(const std::string& dir) override {
    storage_internal::validate_directory(dir);
    const std::string rel_dir = dir.empty() ? dir : dir.substr(0, dir.size() - 1);
    std::vector<std::string> out;
    for (const std::string& sub : subdirectories(rel_dir)) {
      bool holds_object = false;
      walk(
          rel_dir.empty() ? sub + "/" : rel_dir + "/" + sub + "/",
          [&](const std::string&, const struct stat&) {
            holds_object = true;
            return false;  // one object is enough
          },
          nullptr, false);
      if (holds_object) out.push_back(sub);
    }
    return storage_internal::sorted_directories(std::move(out));
  }

  std::unique_ptr<ObjectReader> open_read(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::string full = full_path(path);
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) throw_not_found(path);
      throw_os_error("could not open file " + quoted(full), errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw_os_error("could not stat file " + quoted(full), e);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_not_found(path);
    }
    return std::make_unique<FileReader>(full, fd);
  }

  std::unique_ptr<ObjectWriter> open_write(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::string full = full_path(path);
    static std::atomic<unsigned long> counter{0};
    std::string temp = full + std::string(kTempMarker) + std::to_string(::getpid()) + "." +
                       std::to_string(counter.fetch_add(1));
    int fd = open_temp(temp);
    if (fd < 0 && errno == ENOENT) {
      // First object in this directory (or in the repository): mkdir -p, 0700.
      make_dirs(parent_of(full));
      fd = open_temp(temp);
    }
    if (fd < 0) throw_os_error("could not create file " + quoted(full), errno);
    return std::make_unique<FileWriter>(full, temp, fd);
  }

  void prepare_prefix(const std::string& prefix) override {
    storage_internal::validate_prefix(prefix);
    std::string dir = full_path(prefix);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    make_dirs(dir);
  }

  void remove(const std::string& path) override {
    storage_internal::validate_object_path(path);
    std::string full = full_path(path);
    if (::unlink(full.c_str()) != 0 && errno != ENOENT && errno != ENOTDIR)
      throw_os_error("could not remove file " + quoted(full), errno);
  }

  // Removes the objects under prefix, the temp files a crashed writer left
  // there, and then every directory beneath that became empty.
  void remove_prefix(const std::string& prefix) override {
    storage_internal::validate_prefix(prefix);
    std::vector<std::string> dirs;
    walk(
        prefix,
        [&](const std::string& rel, const struct stat&) {
          remove_file(rel);
          return true;
        },
        &dirs, true);
    // Deepest first; a directory that is not empty (e.g. a concurrent writer) stays.
    std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
      return a.size() > b.size() || (a.size() == b.size() && a > b);
    });
    for (const std::string& rel : dirs) {
      std::string full = full_path(rel);
      if (::rmdir(full.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        throw_os_error("could not remove directory " + quoted(full), errno);
    }
  }

 private:
  std::string full_path(const std::string& rel) const {
    return rel.empty() ? root_ : root_ + "/" + rel;
  }

  [[noreturn]] void throw_not_found(const std::string& path) const {
    throw Error(ErrorKind::not_found,
                "object " + quoted(path) + " not found in repository " + url());
  }

  void remove_file(const std::string& rel) {
    std::string full = full_path(rel);
    if (::unlink(full.c_str()) != 0 && errno != ENOENT)
      throw_os_error("could not remove file " + quoted(full), errno);
  }

  static int open_temp(const std::string& temp) {
    return ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }

  // Calls on_file for every regular file whose relative path starts with
  // prefix (temp files only when with_temp) until it returns false. Collects
  // into dirs (when given) the directories beneath whose "path/" starts with
  // prefix.
  template <typename F>
  void walk(const std::string& prefix, F&& on_file, std::vector<std::string>* dirs,
            bool with_temp) {
    // Start at the deepest directory the prefix fully names.
    auto slash = prefix.rfind('/');
    std::string start = slash == std::string::npos ? std::string() : prefix.substr(0, slash);
    walk_dir(start, prefix, on_file, dirs, with_temp);
    if (dirs && !start.empty() && prefix == start + "/") dirs->push_back(start);
  }

  // Calls on_entry(name, rel, stat) for every entry of rel_dir (ENOENT: none)
  // until it returns false.
  template <typename F>
  void read_dir(const std::string& rel_dir, F&& on_entry) {
    std::string full = full_path(rel_dir);
    DIR* d = ::opendir(full.c_str());
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR) return;
      throw_os_error("could not open directory " + quoted(full), errno);
    }
    struct Closer {
      DIR* d;
      ~Closer() { ::closedir(d); }
    } closer{d};
    while (true) {
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (!e) {
        if (errno != 0) throw_os_error("could not read directory " + quoted(full), errno);
        return;
      }
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string rel = rel_dir.empty() ? std::string(name) : rel_dir + "/" + std::string(name);
      struct stat st;
      if (::lstat(full_path(rel).c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // removed meanwhile
        throw_os_error("could not stat " + quoted(full_path(rel)), errno);
      }
      if (!on_entry(name, rel, st)) return;
    }
  }

  std::vector<std::string> subdirectories(const std::string& rel_dir) {
    std::vector<std::string> out;
    read_dir(rel_dir, [&](std::string_view name, const std::string&, const struct stat& st) {
      if (S_ISDIR(st.st_mode)) out.emplace_back(name);
      return true;
    });
    return out;
  }

  // False when on_file asked to stop.
  template <typename F>
  bool walk_dir(const std::string& rel_dir, const std::string& prefix, F& on_file,
                std::vector<std::string>* dirs, bool with_temp) {
    std::vector<std::string> subdirs;
    bool go_on = true;
    read_dir(rel_dir, [&](std::string_view name, const std::string& rel, const struct stat& st) {
      if (S_ISDIR(st.st_mode)) {
        // Descend only where something can still match the prefix.
        std::string as_dir = rel + "/";
        if (as_dir.starts_with(prefix) || prefix.starts_with(as_dir)) subdirs.push_back(rel);
      } else if (S_ISREG(st.st_mode) && rel.starts_with(prefix) &&
                 (with_temp || !is_temp_name(name))) {
        go_on = on_file(rel, st);
      }
      return go_on;
    });
    for (std::size_t i = 0; go_on && i < subdirs.size(); ++i) {
      go_on = walk_dir(subdirs[i], prefix, on_file, dirs, with_temp);
      if (dirs && (subdirs[i] + "/").starts_with(prefix)) dirs->push_back(subdirs[i]);
    }
    return go_on;
  }

  std::string root_;
};

}  // namespace

namespace storage_internal {
std::unique_ptr<Storage> make_file_storage(std::string root) {
  return std::make_unique<FileStorage>(std::move(root));
}
}  // namespace storage_internal

}  // namespace pgvault
