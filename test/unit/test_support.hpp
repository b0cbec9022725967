// Helpers shared by the GoogleTest unit tests (header-only).
#pragma once
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace pgvault::test {

// Runs fn and checks it throws pgvault::Error of the given kind whose message
// contains needle.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind,
                         const std::string& needle = "") {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(error_kind_name(e.kind()), error_kind_name(kind)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message \"" << e.what() << "\" does not contain \"" << needle << "\"";
    return;
  }
  ADD_FAILURE() << "expected pgvault::Error(" << error_kind_name(kind) << ")";
}

// Proves that calls can run at once: each call is held (at most `limit`)
// until a second one has been in flight, so calls that can overlap are seen
// overlapping even on a loaded machine, and calls serialized behind one
// another are not (each waits out the limit, and max_in_flight() stays 1).
class OverlapGate {
 public:
  explicit OverlapGate(std::chrono::milliseconds limit = std::chrono::seconds(2)) : limit_(limit) {}
  // Around the body of the call: a call's enter() returns once a second call
  // has been in flight (or after the limit).
  void enter() {
    const int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    const auto deadline = std::chrono::steady_clock::now() + limit_;
    while (max_in_flight_.load() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void leave() { --in_flight_; }
  // From now on no call waits (the overlap was shown or does not matter).
  void open() { max_in_flight_ = std::max(max_in_flight_.load(), 2); }
  int max_in_flight() const { return max_in_flight_.load(); }

 private:
  std::chrono::milliseconds limit_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
};

// A fresh directory per test, removed (permissions restored) afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgvault-unit-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    str_ = tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it);
         it.increment(ec))
      // Never through a symlink: tests create links that point outside.
      if (!it->is_symlink() && it->is_directory()) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::replace, ec);
      }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::string& str() const { return str_; }

 private:
  std::filesystem::path path_;
  std::string str_;
};

// Writes content to p, replacing what was there, creating its directories.
inline void put_file(const std::filesystem::path& p, std::string_view content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}
// A file of `size` bytes ('x').
inline void put_file(const std::filesystem::path& p, std::size_t size = 0) {
  put_file(p, std::string(size, 'x'));
}

// The whole content of a file (empty if it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A minimal tar writer, enough to produce what PostgreSQL's server sends
// (ustar with name + prefix) and the GNU/pax extensions.
class TarWriter {
 public:
  void file(const std::string& name, const std::string& content, const std::string& prefix = "") {
    header(name, '0', content.size(), "", prefix);
    data(content);
  }
  void dir(const std::string& name) { header(name, '5', 0); }
  void symlink(const std::string& name, const std::string& target) { header(name, '2', 0, target); }
  void hardlink(const std::string& name, const std::string& target) {
    header(name, '1', 0, target);
  }
  void gnu_long_name_file(const std::string& name, const std::string& content) {
    header("././@LongLink", 'L', name.size() + 1);
    data(name + std::string(1, '\0'));
    header(name.substr(0, 99), '0', content.size());
    data(content);
  }
  void pax_path_file(const std::string& name, const std::string& content) {
    std::string rec = " path=" + name + "\n";
    std::size_t len = rec.size() + 1;
    while (std::to_string(len).size() + rec.size() != len) ++len;
    rec = std::to_string(len) + rec;
    header("PaxHeaders/x", 'x', rec.size());
    data(rec);
    header("short-name", '0', content.size());
    data(content);
  }
  void end() { out_.append(1024, '\0'); }

  void header(const std::string& name, char type, std::uint64_t size, const std::string& link = "",
              const std::string& prefix = "") {
    char h[512];
    std::memset(h, 0, sizeof h);
    std::memcpy(h, name.data(), std::min<std::size_t>(name.size(), 100));
    std::snprintf(h + 100, 8, "%07o", type == '5' ? 0700 : 0600);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size));
    std::snprintf(h + 136, 12, "%011o", 1700000000);
    h[156] = type;
    std::memcpy(h + 157, link.data(), std::min<std::size_t>(link.size(), 100));
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    std::memcpy(h + 345, prefix.data(), std::min<std::size_t>(prefix.size(), 155));
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : std::string_view(h, 512)) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    out_.append(h, 512);
  }
  void data(const std::string& content) {
    out_ += content;
    out_.append((512 - content.size() % 512) % 512, '\0');
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// Lower-case hex of raw bytes.
inline std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// One file of a backup_manifest; encode writes the path as Encoded-Path.
// no_checksum: "Checksum-Algorithm": "NONE" and no checksum, as an
// incremental backup lists a file rebuilt from its chain.
struct ManifestEntry {
  std::string path;
  std::uint64_t size;
  std::string sha256;
  bool encode = false;
  bool no_checksum = false;
  std::string crc32c = {};  // not empty: "Checksum-Algorithm": "CRC32C" with this checksum
};

// The exact layout PostgreSQL 15's backup_manifest.c produces.
inline std::string make_manifest(const std::vector<ManifestEntry>& files) {
  std::string m = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [";
  bool first = true;
  for (const auto& f : files) {
    m += first ? "\n" : ",\n";
    first = false;
    if (f.encode) {
      m += "{ \"Encoded-Path\": \"" + hex(f.path) + "\", ";
    } else {
      m += "{ \"Path\": \"" + f.path + "\", ";
    }
    m += "\"Size\": " + std::to_string(f.size) +
         ", \"Last-Modified\": \"2026-11-24 06:15:30 GMT\", ";
    if (f.no_checksum)
      m += "\"Checksum-Algorithm\": \"NONE\" }";
    else if (!f.crc32c.empty())
      m += "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"" + f.crc32c + "\" }";
    else
      m += "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" + f.sha256 + "\" }";
  }
  m += "\n],\n\"WAL-Ranges\": [\n";
  m += "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }";
  m += "\n],\n";
  const std::string sum = sha256_hex(m);
  m += "\"Manifest-Checksum\": \"" + sum + "\"}\n";
  return m;
}

// Pages of path in the page cache, and all its pages.
inline std::pair<std::size_t, std::size_t> cached_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + path);
  struct stat st;
  ::fstat(fd, &st);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pages = (static_cast<std::size_t>(st.st_size) + page - 1) / page;
  void* map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw std::runtime_error("mmap " + path);
  std::vector<unsigned char> resident(pages);
  ::mincore(map, static_cast<std::size_t>(st.st_size), resident.data());
  ::munmap(map, static_cast<std::size_t>(st.st_size));
  std::size_t cached = 0;
  for (unsigned char r : resident) cached += r & 1;
  return {cached, pages};
}

// Whether dir's file system takes O_DIRECT at all, and keeps no page cache
// for it (tmpfs accepts the flag and caches everything anyway).
inline bool writes_around_the_cache(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0 || fs.f_type == TMPFS_MAGIC) return false;
  const std::string probe = dir + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

}  // namespace pgvault::test
