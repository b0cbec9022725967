// Restoring a physical backup (physical_restore.hpp).
#include "pgvault/restore/physical_restore.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/restore/chain_plan.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/page_merge.hpp"
#include "pgvault/restore/page_write_queue.hpp"
#include "pgvault/restore/planned_entry.hpp"
#include "pgvault/restore/restored_page_output.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <tuple>
#include <memory>
#include <span>
#include <unordered_set>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <optional>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace pgvault {

namespace {

using backup_reading::Archive;
using backup_reading::kManifestObject;

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// One archive of the backup and where it goes.
struct ArchivePlan : Archive {
  std::string location;  // extraction directory
};

// Checks that dir is missing or an empty directory. Returns true when it exists.
bool check_empty_or_missing(const std::string& dir, const char* what,
                            const std::string& hint = "") {
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw_os_error("could not examine " + std::string(what) + " \"" + dir + "\"", ec.value());
  }
  if (!fs::exists(st)) return false;
  if (!fs::is_directory(fs::status(dir, ec))) {
    throw Error(ErrorKind::already_exists, std::string(what) + " \"" + dir +
                                               "\" exists and is not a directory; restore needs "
                                               "an empty or missing directory");
  }
  if (!fs::is_empty(dir, ec) || ec) {
    if (ec) throw_os_error("could not read " + std::string(what) + " \"" + dir + "\"", ec.value());
    throw Error(ErrorKind::already_exists, std::string(what) + " \"" + dir +
                                               "\" is not empty; restore needs an empty or "
                                               "missing directory" +
                                               hint);
  }
  return true;
}

// Everything restore_physical creates, removed again unless dismissed.
class Cleanup {
 public:
  Cleanup() = default;
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() {
    if (armed_) run();
  }
  void add(std::string dir, bool created) { dirs_.push_back({std::move(dir), created}); }
  void dismiss() { armed_ = false; }

 private:
  void run() noexcept {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      std::error_code ec;
      if (it->created) {
        fs::remove_all(it->path, ec);
      } else {
        for (fs::directory_iterator d(it->path, ec), end; !ec && d != end; d.increment(ec)) {
          std::error_code ec2;
          fs::remove_all(d->path(), ec2);
        }
      }
    }
  }
  struct Dir {
    std::string path;
    bool created;
  };
  std::vector<Dir> dirs_;
  bool armed_ = true;
};

void create_dir_0700(const std::string& dir) {
  const fs::path p(dir);
  std::error_code ec;
  if (p.has_parent_path()) {
    fs::create_directories(p.parent_path(), ec);
    if (ec)
      throw_os_error("could not create directory \"" + p.parent_path().string() + "\"", ec.value());
  }
  if (::mkdir(dir.c_str(), 0700) != 0)
    throw_os_error("could not create directory \"" + dir + "\"", errno);
}

void write_file_0600(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw_os_error("could not create file \"" + path + "\"", errno);
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int err = errno;
      ::close(fd);
      throw_os_error("could not write file \"" + path + "\"", err);
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (::close(fd) != 0) throw_os_error("could not close file \"" + path + "\"", errno);
}

// Makes the restored files durable: one syncfs() per file system.
void sync_dir_fs(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_os_error("could not open directory \"" + dir + "\"", errno);
#ifdef __linux__
  const int rc = ::syncfs(fd);
#else
  ::sync();
  const int rc = 0;
#endif
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw_os_error("could not sync the file system of \"" + dir + "\"", err);
}

std::string read_small_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_os_error("could not open file \"" + path + "\"", errno);
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw_os_error("could not read file \"" + path + "\"", err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// tablespace_map escapes '\\', '\n' and '\r' in paths with a backslash.
std::string unescape_map_path(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out.push_back(s[i]);
  }
  return out;
}

std::string escape_map_path(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '\n' || c == '\r') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A backup taken with a tablespace map makes the server recreate
// pg_tblspc/<oid> from tablespace_map when it starts, which would silently
// point a relocated tablespace back at its original directory (the source
// server's!). So the map is rewritten to the restored locations, and the
// data directory's copy of backup_manifest is updated to describe the new
// file (with a recomputed Manifest-Checksum) so pg_verifybackup still passes.
// Returns the oids that were remapped.
std::vector<std::string> rewrite_tablespace_map(const std::string& pgdata,
                                                const std::vector<ArchivePlan>& plans,
                                                std::string& manifest_text) {
  const std::string path = pgdata + "/tablespace_map";
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return {};
  const std::string old_map = read_small_file(path);
  std::string new_map;
  std::vector<std::string> changed;
  std::size_t pos = 0;
  while (pos < old_map.size()) {
    // A line ends at a '\n' not escaped by a backslash.
    std::size_t end = pos;
    while (end < old_map.size() && old_map[end] != '\n') end += old_map[end] == '\\' ? 2 : 1;
    end = std::min(end, old_map.size());
    std::string_view line(old_map.data() + pos, end - pos);
    pos = end + 1;
    const std::size_t sp = line.find(' ');
    const ArchivePlan* plan = nullptr;
    if (sp != std::string_view::npos) {
      for (const auto& p : plans) {
        if (!p.oid.empty() && p.oid == line.substr(0, sp)) plan = &p;
      }
    }
    if (plan != nullptr && unescape_map_path(line.substr(sp + 1)) != plan->location) {
      new_map += plan->oid + " " + escape_map_path(plan->location) + "\n";
      changed.push_back(plan->oid);
    } else {
      new_map.append(line);
      new_map += "\n";
    }
  }
  if (changed.empty()) return changed;

  if (::unlink(path.c_str()) != 0) throw_os_error("could not remove \"" + path + "\"", errno);
  write_file_0600(path, new_map);

  // Update the manifest's entry for tablespace_map and its checksum line.
  static constexpr std::string_view kEntry = "{ \"Path\": \"tablespace_map\",";
  const std::size_t at = manifest_text.find(std::string("\n") + std::string(kEntry));
  if (at == std::string::npos) return changed;
  const std::size_t line_start = at + 1;
  const std::size_t line_end = manifest_text.find('\n', line_start);
  if (line_end == std::string::npos) return changed;
  std::string line = manifest_text.substr(line_start, line_end - line_start);
  const bool comma = !line.empty() && line.back() == ',';
  if (comma) line.pop_back();
  std::string last_modified;
  try {
    const auto j = nlohmann::json::parse(line);
    last_modified = j.value("Last-Modified", "");
  } catch (const nlohmann::json::exception&) {
    return changed;  // not the layout PostgreSQL writes; leave the copy as it was
  }
  std::string entry = std::string(kEntry) + " \"Size\": " + std::to_string(new_map.size()) + ", ";
  if (!last_modified.empty())
    entry += "\"Last-Modified\": " + nlohmann::json(last_modified).dump() + ", ";
  entry += "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" + sha256_hex(new_map) + "\" }";
  if (comma) entry += ",";
  std::string text = manifest_text.substr(0, line_start) + entry + manifest_text.substr(line_end);
  const std::size_t last_line = text.rfind("\n\"Manifest-Checksum\"");
  if (last_line == std::string::npos) return changed;
  text.resize(last_line + 1);
  text += "\"Manifest-Checksum\": \"" + sha256_hex(text) + "\"}\n";
  (void)BackupManifest::parse(text);  // must still be a valid manifest
  manifest_text = std::move(text);
  return changed;
}

std::vector<ArchivePlan> plan_archives(const BackupMeta& meta, const RestoreOptions& opts) {
  std::vector<ArchivePlan> plans;
  for (const Archive& a : backup_reading::physical_archives(meta)) {
    ArchivePlan plan;
    static_cast<Archive&>(plan) = a;
    if (plan.oid.empty()) plan.location = opts.pgdata;
    plans.push_back(std::move(plan));
  }

  // Tablespace locations: mapping by oid, then by original location, then the original.
  for (const auto& [from, to] : opts.tablespace_mapping) {
    const std::string key = strip_trailing_slashes(from);
    const bool known =
        std::any_of(meta.tablespaces.begin(), meta.tablespaces.end(),
                    [&](const TablespaceEntry& t) {
                      return t.oid == key || strip_trailing_slashes(t.location) == key;
                    }) ||
        std::any_of(plans.begin(), plans.end(),
                    [&](const ArchivePlan& p) { return !p.oid.empty() && p.oid == key; });
    if (!known) {
      std::string list;
      for (const auto& t : meta.tablespaces) {
        list += (list.empty() ? "" : ", ") + t.oid + " (" + t.location + ")";
      }
      throw Error(ErrorKind::invalid_argument,
                  "tablespace mapping \"" + from + "\" matches no tablespace of backup \"" +
                      meta.name + "\" (its tablespaces: " + (list.empty() ? "none" : list) + ")");
    }
    if (to.empty() || to.front() != '/') {
      throw Error(ErrorKind::invalid_argument, "tablespace mapping \"" + from + "=" + to +
                                                   "\": the new location must be an absolute path");
    }
  }
  for (auto& plan : plans) {
    if (plan.oid.empty()) continue;
    const TablespaceEntry* ts = nullptr;
    for (const auto& t : meta.tablespaces) {
      if (t.oid == plan.oid) ts = &t;
    }
    auto it = opts.tablespace_mapping.find(plan.oid);
    if (it == opts.tablespace_mapping.end() && ts != nullptr) {
      for (auto m = opts.tablespace_mapping.begin(); m != opts.tablespace_mapping.end(); ++m) {
        if (strip_trailing_slashes(m->first) == strip_trailing_slashes(ts->location)) it = m;
      }
    }
    if (it != opts.tablespace_mapping.end()) {
      plan.location = strip_trailing_slashes(it->second);
    } else if (ts != nullptr && !ts->location.empty()) {
      plan.location = strip_trailing_slashes(ts->location);
    } else {
      throw Error(ErrorKind::corrupt,
                  "backup \"" + meta.name + "\" has tablespace archive \"" + plan.object->name +
                      "\" but backup.json records no location for tablespace " + plan.oid +
                      "; pass a tablespace mapping " + plan.oid + "=NEWDIR");
    }
    if (plan.location.empty() || plan.location.front() != '/') {
      throw Error(ErrorKind::invalid_argument, "tablespace " + plan.oid + " location \"" +
                                                   plan.location + "\" is not an absolute path");
    }
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    for (std::size_t j = i + 1; j < plans.size(); ++j) {
      if (plans[i].location == plans[j].location) {
        throw Error(ErrorKind::invalid_argument,
                    "objects \"" + plans[i].object->name + "\" and \"" + plans[j].object->name +
                        "\" would both be restored into \"" + plans[i].location +
                        "\"; each tablespace needs its own directory");
      }
    }
  }
  return plans;
}

constexpr std::string_view kIncrementalPrefix = "INCREMENTAL.";
constexpr const char* kControlFile = "global/pg_control";

// A file of the newest backup rebuilt from the chain.
struct PendingFile {
  PendingFile(std::string manifest_path_, std::string archive_, std::string output, PageWrites mode,
              PageWriteQueue* queue)
      : manifest_path(std::move(manifest_path_)),
        archive(std::move(archive_)),
        out(std::move(output), mode, queue),
        rebuild(manifest_path, out) {}
  std::string manifest_path;
  std::string archive;  // the newest backup's archive that named it (for messages)
  RestoredPageOutput out;
  FileReconstruction rebuild;
  bool based = false;  // a plain entry of an older backup was fed: nothing older is read
};

// The data of one tar entry into a reconstruction: an incremental, or the
// base copy. Counts the pages it supplied.
class ReconstructionEntry final : public Sink {
 public:
  ReconstructionEntry(PendingFile& file, bool base_copy, std::uint64_t& pages)
      : file_(file), base_copy_(base_copy), pages_(pages), before_(file.rebuild.pages_written()) {}
  void write(std::span<const std::byte> data) override {
    if (base_copy_)
      file_.rebuild.feed_full_copy(data);
    else
      file_.rebuild.feed_incremental(data);
  }
  void finish() override {
    if (!base_copy_) file_.rebuild.end_incremental();
    file_.based = file_.based || base_copy_;
    file_.out.release();
    pages_ += file_.rebuild.pages_written() - before_;
  }

 private:
  PendingFile& file_;
  bool base_copy_;
  std::uint64_t& pages_;
  std::uint64_t before_;
};

// A delta restore's file already equal to the backup's: its entry is passed
// over and the manifest check takes what is on disk.
class KeptEntry final : public Sink {
 public:
  explicit KeptEntry(std::function<void()> on_end) : on_end_(std::move(on_end)) {}
  void write(std::span<const std::byte>) override {}
  void finish() override { on_end_(); }

 private:
  std::function<void()> on_end_;
};

// Holds an entry's bytes (pg_control of a delta restore, written last).
class HeldEntry final : public Sink {
 public:
  explicit HeldEntry(std::function<void(std::string)> on_end) : on_end_(std::move(on_end)) {}
  void write(std::span<const std::byte> data) override {
    if (bytes_.size() + data.size() > kMaxHeld)
      throw Error(ErrorKind::corrupt, std::string(kControlFile) + " is larger than " +
                                          std::to_string(kMaxHeld) + " bytes");
    bytes_.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void finish() override { on_end_(std::move(bytes_)); }

 private:
  static constexpr std::size_t kMaxHeld = 64 * 1024;
  std::function<void(std::string)> on_end_;
  std::string bytes_;
};

// The checksums (those asked) of a file on disk.
FileSums sums_of_file(const std::string& path, FileChecksums which) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_os_error("could not open \"" + path + "\"", errno);
  FileDigest h(which);
  std::vector<std::byte> buf(1024 * 1024);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw_os_error("could not read \"" + path + "\"", err);
    }
    if (n == 0) break;
    h.update(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  ExtractedFile sums;
  h.finish_into(sums);
  return FileSums{sums.sha256, sums.crc32c};
}

// The one checksum a manifest entry has, computed over bytes held in memory.
FileSums sums_of_bytes(const ManifestFile* mf, std::string_view bytes) {
  FileSums sums;
  const std::string alg = mf == nullptr ? "" : ascii_lower(mf->checksum_algorithm);
  if (alg == "sha256") sums.sha256 = sha256_hex(bytes);
  if (alg == "crc32c") sums.crc32c = crc32c_manifest_hex(bytes);
  return sums;
}

// The checksum a manifest entry has, of a file on disk (nothing for other algorithms).
FileSums sums_of_file_as_listed(const ManifestFile& mf, const std::string& path) {
  const std::string alg = ascii_lower(mf.checksum_algorithm);
  return sums_of_file(path, FileChecksums{alg == "sha256", alg == "crc32c"});
}

// Whether the file at manifest path mpath is in the archive whose entries
// are below prefix (Archive::manifest_prefix(): "" for base.tar, which holds
// everything but the tablespaces).
bool in_archive(const std::string& prefix, const std::string& mpath) {
  return mpath.rfind(prefix, 0) == 0 && (!prefix.empty() || mpath.rfind("pg_tblspc/", 0) != 0);
}

// "dir/INCREMENTAL.name" -> "dir/name" in an incremental backup b; nullopt
// for any other entry, and in a full backup.
std::optional<std::string> incremental_target(const BackupMeta& b, const std::string& rel) {
  if (b.kind != "incremental") return std::nullopt;
  const std::size_t slash = rel.rfind('/');
  const std::size_t base = slash == std::string::npos ? 0 : slash + 1;
  if (rel.compare(base, kIncrementalPrefix.size(), kIncrementalPrefix) != 0) return std::nullopt;
  if (rel.size() == base + kIncrementalPrefix.size()) return std::nullopt;
  return rel.substr(0, base) + rel.substr(base + kIncrementalPrefix.size());
}

// Every directory that holds a file of the manifest ("base", "base/5", ...).
std::unordered_set<std::string> manifest_directories(const BackupManifest& manifest) {
  std::unordered_set<std::string> dirs;
  for (const auto& f : manifest.files()) {
    for (std::size_t p = f.path.find('/'); p != std::string::npos; p = f.path.find('/', p + 1))
      dirs.insert(f.path.substr(0, p));
  }
  return dirs;
}

// The delta restore's first step (see the contract): what to keep, and
// everything else not in the backup removed.
class DeltaPreparation {
 public:
  DeltaPreparation(const BackupManifest& manifest, std::unordered_set<std::string> links,
                   RestoreReport& report)
      : manifest_(manifest),
        dirs_(manifest_directories(manifest)),
        links_(std::move(links)),
        report_(report) {}

  // dir: a directory on disk; prefix: its manifest path ("" or "pg_tblspc/<oid>/...").
  void walk(const std::string& dir, const std::string& prefix) {
    std::vector<fs::directory_entry> entries;
    for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e);
    for (const auto& e : entries) {
      const std::string name = e.path().filename().string();
      const std::string mpath = prefix.empty() ? name : prefix + "/" + name;
      const fs::file_status st = e.symlink_status();
      if (fs::is_directory(st) && dirs_.count(mpath) != 0) {
        walk(e.path().string(), mpath);
      } else if (fs::is_regular_file(st) && keep_file(e.path().string(), mpath, e.file_size())) {
        continue;
      } else {
        if (fs::is_directory(st)) {
          for (const auto& inner : fs::recursive_directory_iterator(e.path()))
            if (!inner.is_directory()) ++report_.removed_files;
        } else if (!fs::is_symlink(st) || links_.count(mpath) == 0) {
          ++report_.removed_files;
        }
        fs::remove_all(e.path());
      }
    }
  }
  bool kept(const std::string& mpath) const { return kept_.count(mpath) != 0; }
  std::size_t kept_count() const { return kept_.size(); }
  const std::unordered_set<std::string>& directories() const { return dirs_; }

 private:
  bool keep_file(const std::string& path, const std::string& mpath, std::uint64_t size) {
    const ManifestFile* mf = manifest_.find(mpath);
    if (mf == nullptr || mpath == kControlFile) return false;
    const std::string alg = ascii_lower(mf->checksum_algorithm);
    if (alg == "none") return true;  // reconstructed: compared page by page
    // A file is kept when its size and the manifest's checksum match: SHA-256
    // or, for backups that use PostgreSQL's default, CRC-32C (a file changed
    // since the backup that keeps its size and CRC is a 2^-32 chance).
    if ((alg != "sha256" && alg != "crc32c") || size != mf->size) return false;
    const FileSums sums = sums_of_file_as_listed(*mf, path);
    if ((alg == "sha256" ? sums.sha256 : sums.crc32c) != mf->checksum) return false;
    kept_.insert(mpath);
    return true;
  }
  const BackupManifest& manifest_;
  std::unordered_set<std::string> dirs_;
  std::unordered_set<std::string> links_;  // pg_tblspc/<oid> of the backup: made again
  std::unordered_set<std::string> kept_;
  RestoreReport& report_;
};

// A delta restore goes into a data directory, never into any non-empty directory.
void check_delta_target(const std::string& pgdata) {
  std::error_code ec;
  if (!fs::exists(pgdata, ec) || fs::is_empty(pgdata, ec)) return;
  if (!fs::is_directory(pgdata, ec))
    throw Error(ErrorKind::already_exists,
                "target \"" + pgdata +
                    "\" exists and is not a directory; --delta restores into "
                    "an existing data directory");
  struct stat st;
  if (::lstat((pgdata + "/postmaster.pid").c_str(), &st) == 0)
    throw Error(ErrorKind::already_exists,
                "\"" + pgdata +
                    "\" has a postmaster.pid: a server may be running there; stop it "
                    "(pg_ctl -D " +
                    pgdata +
                    " stop) before a delta restore, or remove "
                    "the file if no server runs");
  if (::lstat((pgdata + "/PG_VERSION").c_str(), &st) != 0)
    throw Error(ErrorKind::invalid_argument,
                "\"" + pgdata +
                    "\" is not empty and has no PG_VERSION: --delta restores only "
                    "into a PostgreSQL data directory (it removes every file the "
                    "backup does not have); give an empty or missing directory "
                    "without --delta");
}

// A delta restore that fails leaves the directory as it is (the files it
// kept are the user's): without pg_control, which is written last.
Error delta_failure(const Error& e, const std::string& pgdata) {
  return Error(e.kind(), std::string(e.what()) + "; the delta restore into " + pgdata +
                             " did not finish: global/pg_control is absent, so PostgreSQL will "
                             "not start it; run the restore again");
}

std::string kind_of(const BackupMeta& b) {
  return b.kind == "incremental" ? "incremental" : "full";
}

class PhysicalRestore {
 public:
  PhysicalRestore(Repository& repo, std::vector<BackupMeta> chain, const RestoreOptions& opts,
                  const ProgressLog& log)
      : repo_(repo), chain_(std::move(chain)), opts_(opts), log_(log) {}

  RestoreReport run();

 private:
  void say(const std::string& line) const {
    if (!log_) return;
    // A planned chain logs from several threads; the caller's log and
    // progress may share a terminal line.
    std::lock_guard lock(report_mutex_);
    log_(line);
  }
  DecryptorFactory decryptor(const BackupMeta& b) const {
    return opts_.decryptor_of ? opts_.decryptor_of(b) : opts_.decryptor;
  }
  const BackupMeta& newest() const { return chain_.front(); }
  // What reading an object of backup k reports; it also stops the read when
  // another backup of a planned chain failed.
  backup_reading::ReadProgress progress(std::size_t k) {
    return [this, k](std::uint64_t n) {
      if (cancelled_.load())
        throw Error(ErrorKind::cancelled, "stopped: another backup of the chain failed");
      if (!opts_.on_read && !opts_.on_read_total) return;
      std::lock_guard lock(report_mutex_);
      in_flight_[k] = n;
      if (opts_.on_read) opts_.on_read(n);
      std::uint64_t total = report_.bytes_read;
      for (std::uint64_t f : in_flight_) total += f;
      if (opts_.on_read_total) opts_.on_read_total(total);
    };
  }
  // An object of backup k was read (n stored bytes).
  void count_read(std::size_t k, std::uint64_t n) {
    std::lock_guard lock(report_mutex_);
    in_flight_[k] = 0;
    report_.bytes_read += n;
    ++report_.objects;
    report_.chain[k].bytes_read += n;
    ++report_.chain[k].objects;
  }
  bool is_chain() const { return chain_.size() > 1 || newest().kind == "incremental"; }
  void unread(std::uint64_t bytes) const {
    if (!opts_.on_unread || bytes == 0) return;
    std::lock_guard lock(report_mutex_);
    opts_.on_unread(bytes);
  }
  // The stored bytes of b's objects that no restore reads: all but its
  // manifest and archives (an older backup's manifest too, unless scan_only).
  // lists_read: a planned chain reads its changed_blocks objects.
  std::uint64_t never_read(const BackupMeta& b, bool manifest_read, bool lists_read) const;
  std::uint64_t read_archive(std::size_t k, const ObjectEntry& obj, TarExtractor& extractor);
  void restore_newest(const std::vector<ArchivePlan>& plans, ManifestChecker& checker,
                      const BackupManifest& manifest, const DeltaPreparation* delta);
  void read_older(std::size_t index);
  void complete(PendingFile& file, ManifestChecker& checker, const BackupManifest& manifest);
  void complete_where(ManifestChecker& checker, const BackupManifest& manifest, bool all);

  // A planned chain (chain_plan.hpp): every incremental lists its blocks.
  bool can_plan() const;
  void plan_chain();
  void read_planned(std::size_t k);
  PlannedFile& wait_ready(const std::string& mpath, std::size_t k);
  void restore_planned(const std::vector<ArchivePlan>& plans, ManifestChecker& checker,
                       const BackupManifest& manifest, const DeltaPreparation* delta);
  void fail(std::exception_ptr e);
  void size_unread_files();
  void finish_planned(ManifestChecker& checker, const BackupManifest& manifest);

  Repository& repo_;
  std::vector<BackupMeta> chain_;
  const RestoreOptions& opts_;
  const ProgressLog& log_;
  RestoreReport report_;
  // Pages of rebuilt files: 8 runs of 1 MiB in flight at most, and one more
  // for each backup of a planned chain (a base copy may come from any).
  // Made before a planned chain's threads start.
  PageWriteQueue* page_writes() {
    if (opts_.scan_only || opts_.delta) return nullptr;
    if (!page_writes_) page_writes_.emplace(8 + (plan_ ? chain_.size() : 0), 1024 * 1024);
    return &*page_writes_;
  }
  // Every queued page write is on disk (buffered): before a rebuilt file is
  // read back, and before the restore is declared done.
  void drain_page_writes() {
    if (page_writes_) page_writes_->drain();
  }

  std::optional<PageWriteQueue> page_writes_;
  std::map<std::string, std::unique_ptr<PendingFile>> pending_;  // by manifest path
  std::optional<ReconstructionEntry> entry_;
  std::optional<KeptEntry> kept_entry_;
  std::optional<HeldEntry> held_entry_;
  std::optional<std::string> control_file_;  // delta: pg_control, written last
  std::string pgdata_;                       // absolute

  mutable std::mutex report_mutex_;  // report_'s counters, in_flight_, log_ and the progress calls
  std::vector<std::uint64_t> in_flight_;  // [k]: stored bytes read of backup k's current object
  std::optional<ChainPlan> plan_;
  std::map<std::string, PlannedFile> planned_;  // by manifest path; its keys fixed once planned
  std::mutex planned_mutex_;  // PlannedFile::ready, output, archive; newest_done_; first_error_
  std::condition_variable planned_ready_;
  bool newest_done_ = false;            // the newest backup's archives are read (or failed)
  std::atomic<bool> cancelled_{false};  // a backup of the chain failed
  std::exception_ptr first_error_;
  std::vector<std::uint64_t> unchanged_;       // [k]: delta pages already right, per backup
  std::optional<PlannedEntry> planned_entry_;  // the newest backup's current entry
  // Newer pages kept for the full's runs (page_merge.hpp); writing restores only.
  std::optional<PageMerge> merge_;
};

std::uint64_t PhysicalRestore::read_archive(std::size_t k, const ObjectEntry& obj,
                                            TarExtractor& extractor) {
  const BackupMeta& b = chain_[k];
  backup_reading::DecodeChain decode(obj.name, extractor, decryptor(b));
  const std::uint64_t n =
      backup_reading::read_object(repo_.storage(), b, obj, decode.input(), progress(k),
                                  /*decode_on_thread=*/true);
  count_read(k, n);
  return n;
}

void PhysicalRestore::complete(PendingFile& file, ManifestChecker& checker,
                               const BackupManifest& manifest) {
  file.rebuild.finish();
  file.out.release();
  report_.pages_unchanged += file.out.unchanged();
  ++report_.reconstructed_files;
  const std::uint64_t size = std::uint64_t{file.rebuild.file_blocks()} * kPageSize;
  const ManifestFile* mf = manifest.find(file.manifest_path);
  FileSums sums;
  // The taker lists reconstructed files without a checksum ("NONE"): only a
  // manifest that has one is honoured by reading the file back, once its
  // writes are done. (Reading every rebuilt file back for no checksum cost a
  // chain restore a second pass over the data.)
  if (mf != nullptr && opts_.scan_only) {
    sums = listed_sums(*mf);
  } else if (mf != nullptr) {
    const std::string alg = ascii_lower(mf->checksum_algorithm);
    if (alg == "sha256" || alg == "crc32c") {
      drain_page_writes();
      sums = sums_of_file_as_listed(*mf, file.out.path());
    }
  }
  checker.check_file(file.archive, file.manifest_path, size, sums);
  report_.bytes += size;
}

// Finishes the reconstructions that need nothing older (all: every one left,
// at the end of the chain, where a missing block is Error(corrupt)).
void PhysicalRestore::complete_where(ManifestChecker& checker, const BackupManifest& manifest,
                                     bool all) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    PendingFile& f = *it->second;
    if (all || f.based || !f.rebuild.needs_older()) {
      complete(f, checker, manifest);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void PhysicalRestore::restore_newest(const std::vector<ArchivePlan>& plans,
                                     ManifestChecker& checker, const BackupManifest& manifest,
                                     const DeltaPreparation* delta) {
  const BackupMeta& b = newest();
  ChainBackupReport& step = report_.chain.front();
  for (const ArchivePlan& plan : plans) {
    const ObjectEntry& obj = *plan.object;
    const std::string prefix = plan.manifest_prefix();
    if (opts_.scan_only)
      say("checking " + obj.name + " (" + human_size(obj.size) + ")...");
    else if (!plan.oid.empty())
      say("restoring " + obj.name + " (" + human_size(obj.size) + ") into tablespace directory " +
          plan.location + "...");
    else
      say("restoring " + obj.name + " (" + human_size(obj.size) + ")...");

    TarExtractOptions xo;
    xo.target_dir = plan.location;
    xo.archive_name = obj.name;
    xo.scan_only = opts_.scan_only;
    xo.on_file = backup_reading::manifest_file_check(checker, plan);
    xo.writer.checksums = backup_reading::checksums_for(manifest);
    xo.claim_file = [&, prefix](const std::string& rel, std::uint64_t) -> Sink* {
      const std::optional<std::string> target = incremental_target(b, rel);
      const std::string mpath = prefix + target.value_or(rel);
      if (pending_.count(mpath) != 0 ||
          (plan_ && !target && planned_.count(mpath) != 0))  // planned: listed, so INCREMENTAL.
        throw Error(ErrorKind::corrupt, "archive \"" + obj.name + "\" of backup \"" + b.name +
                                            "\" holds \"" + mpath + "\" twice (whole or as " +
                                            std::string(kIncrementalPrefix) + " entries)");
      if (target) {
        if (manifest.find(mpath) == nullptr)
          throw Error(ErrorKind::corrupt, "entry \"" + rel + "\" of archive \"" + obj.name +
                                              "\" of backup \"" + b.name + "\" rebuilds \"" +
                                              mpath + "\", which backup_manifest does not list");
        const std::string output = plan.location + "/" + *target;
        struct stat st;
        if (!opts_.scan_only && !opts_.delta && ::lstat(output.c_str(), &st) == 0)
          throw Error(ErrorKind::corrupt, "archive \"" + obj.name + "\" of backup \"" + b.name +
                                              "\" holds \"" + mpath + "\" twice (whole and as " +
                                              rel + ")");
        if (plan_) {
          const auto it = planned_.find(mpath);
          if (it == planned_.end())
            throw Error(ErrorKind::corrupt,
                        "entry \"" + rel + "\" of archive \"" + obj.name + "\" of backup \"" +
                            b.name + "\" is not listed in its " + kChangedBlocksObject + " object");
          PlannedFile& f = it->second;
          {
            std::lock_guard lock(planned_mutex_);
            if (f.ready)
              throw Error(ErrorKind::corrupt, "archive \"" + obj.name + "\" of backup \"" + b.name +
                                                  "\" holds \"" + rel + "\" twice");
            f.ready = true;
            f.output = output;
            f.archive = obj.name;
          }
          planned_ready_.notify_all();
          planned_entry_.emplace(f, 0, b.name + ": " + obj.name + ": " + rel, opts_, page_writes(),
                                 step, unchanged_[0]);
          return &*planned_entry_;
        }
        auto file = std::make_unique<PendingFile>(
            mpath, obj.name, output, page_writes_for(opts_, PageWrites::queued), page_writes());
        file->rebuild.begin_incremental(b.name + ": " + obj.name + ": " + rel);
        PendingFile& f = *file;
        pending_.emplace(mpath, std::move(file));
        entry_.emplace(f, false, step.pages);
        return &*entry_;
      }
      if (delta != nullptr && delta->kept(mpath)) {
        kept_entry_.emplace([&, mpath, archive = obj.name] {
          const ManifestFile& mf = *manifest.find(mpath);
          checker.check_file(archive, mpath, mf.size, listed_sums(mf));
          ++report_.kept_files;
          ++report_.files;
        });
        return &*kept_entry_;
      }
      if (delta != nullptr && mpath == kControlFile) {
        held_entry_.emplace([&, mpath, archive = obj.name](std::string bytes) {
          checker.check_file(archive, mpath, bytes.size(),
                             sums_of_bytes(manifest.find(mpath), bytes));
          ++report_.files;
          report_.bytes += bytes.size();
          ++step.files;
          control_file_ = std::move(bytes);
        });
        return &*held_entry_;
      }
      return nullptr;
    };
    TarExtractor extractor(std::move(xo));
    read_archive(0, obj, extractor);
    report_.files += extractor.files();
    report_.bytes += extractor.bytes();
    step.files += extractor.files();
    say((opts_.scan_only ? "checked " : "restored ") + obj.name + ": " +
        std::to_string(extractor.files()) + " files, " + human_size(extractor.bytes()) +
        (extractor.claimed_files() > 0
             ? ", " + std::to_string(extractor.claimed_files()) + " entries claimed (" +
                   (b.kind == "incremental" ? "incremental files" : "kept or held") + ")"
             : ""));

    if (!plan.oid.empty() && !opts_.scan_only) {
      // Point pg_tblspc/<oid> at the (possibly mapped) location, replacing
      // what base.tar recorded.
      const std::string tblspc = pgdata_ + "/pg_tblspc";
      std::error_code ec;
      fs::create_directories(tblspc, ec);
      if (ec) throw_os_error("could not create directory \"" + tblspc + "\"", ec.value());
      const std::string link = tblspc + "/" + plan.oid;
      fs::remove_all(link, ec);
      if (ec) throw_os_error("could not remove \"" + link + "\"", ec.value());
      if (::symlink(plan.location.c_str(), link.c_str()) != 0) {
        throw_os_error("could not create symbolic link \"" + link + "\"", errno);
      }
    }
  }
}

std::uint64_t PhysicalRestore::never_read(const BackupMeta& b, bool manifest_read,
                                          bool lists_read) const {
  std::uint64_t bytes = 0;
  const std::vector<Archive> archives = backup_reading::physical_archives(b);
  for (const ObjectEntry& obj : b.objects) {
    if (lists_read && obj.name == kChangedBlocksObject) continue;
    if (obj.name == backup_reading::kManifestObject) {
      if (!manifest_read) bytes += obj.size;
      continue;
    }
    if (std::none_of(archives.begin(), archives.end(),
                     [&](const Archive& a) { return a.object == &obj; }))
      bytes += obj.size;
  }
  return bytes;
}

// An older backup of the chain: only the entries of files still pending.
void PhysicalRestore::read_older(std::size_t index) {
  const BackupMeta& b = chain_[index];
  ChainBackupReport& step = report_.chain[index];
  const std::string position = std::to_string(index + 1) + " of " + std::to_string(chain_.size());
  if (opts_.scan_only) {
    // verify: each backup's own manifest must be sound, and every object is read.
    const std::string text =
        backup_reading::read_manifest_text(repo_.storage(), b, decryptor(b), progress(index));
    (void)BackupManifest::parse(text);
    count_read(index, b.find_object(backup_reading::kManifestObject)->size);
  } else if (pending_.empty()) {
    say("backup " + position + " \"" + b.name + "\" (" + kind_of(b) +
        "): not read, no file needs older pages");
    for (const Archive& archive : backup_reading::physical_archives(b))
      unread(archive.object->size);
    return;
  }
  say((opts_.scan_only ? "checking " : "restoring ") + kind_of(b) + " " + position + ": \"" +
      b.name + "\", for the " + std::to_string(pending_.size()) + " files that need older pages");
  for (const Archive& archive : backup_reading::physical_archives(b)) {
    const ObjectEntry& obj = *archive.object;
    const std::string prefix = archive.manifest_prefix();
    const bool wanted = std::any_of(pending_.begin(), pending_.end(),
                                    [&](const auto& p) { return in_archive(prefix, p.first); });
    if (!wanted && !opts_.scan_only) {
      unread(obj.size);
      continue;
    }
    say("  reading " + obj.name + " (" + human_size(obj.size) + ")...");
    TarExtractOptions xo;
    xo.archive_name = obj.name;
    xo.claimed_only = true;
    xo.claim_file = [&, prefix](const std::string& rel, std::uint64_t) -> Sink* {
      const std::optional<std::string> target = incremental_target(b, rel);
      auto it = pending_.find(prefix + target.value_or(rel));
      if (it == pending_.end() || it->second->based) return nullptr;
      PendingFile& f = *it->second;
      if (target) f.rebuild.begin_incremental(b.name + ": " + obj.name + ": " + rel);
      if (!target) ++step.files;
      entry_.emplace(f, !target, step.pages);
      return &*entry_;
    };
    TarExtractor extractor(std::move(xo));
    read_archive(index, obj, extractor);
  }
  say("  " + b.name + ": " + std::to_string(step.pages) + " pages, " + std::to_string(step.files) +
      " base copies");
}

bool PhysicalRestore::can_plan() const {
  if (!is_chain()) return false;
  // Incrementals written before pgvault 0.9 have no list: read one after another.
  return std::all_of(chain_.begin(), chain_.end() - 1, [](const BackupMeta& b) {
    return b.find_object(kChangedBlocksObject) != nullptr;
  });
}

// Reads every incremental's changed_blocks (small; before anything is written).
void PhysicalRestore::plan_chain() {
  std::vector<std::vector<ChangedBlocksRecord>> lists;
  for (std::size_t k = 0; k + 1 < chain_.size(); ++k) {
    const BackupMeta& b = chain_[k];
    const ObjectEntry& obj = *b.find_object(kChangedBlocksObject);
    StringSink text;
    backup_reading::DecodeChain decode(obj.name, text, decryptor(b));
    count_read(k,
               backup_reading::read_object(repo_.storage(), b, obj, decode.input(), progress(k)));
    lists.push_back(parse_changed_blocks(
        text.str(), std::string(kChangedBlocksObject) + " of backup \"" + b.name + "\""));
  }
  plan_.emplace(std::move(lists), chain_.size());
  const std::size_t full = chain_.size() - 1;
  if (page_writes() != nullptr && opts_.merge_budget > 0) merge_.emplace(opts_.merge_budget);
  for (const auto& [path, file] : plan_->files()) {
    PlannedFile& planned = planned_
                               .emplace(std::piecewise_construct, std::forward_as_tuple(path),
                                        std::forward_as_tuple(path, file, chain_.size()))
                               .first->second;
    // The full's thread never waits for the merge (page_merge.hpp).
    if (merge_ && file.base == full && ChainPlan::reads(file, full)) planned.merge = &merge_->add();
  }
  say("planned the chain from its " + std::string(kChangedBlocksObject) + " lists: " +
      std::to_string(planned_.size()) + " files to rebuild; every backup is decoded at once");
}

void PhysicalRestore::fail(std::exception_ptr e) {
  {
    std::lock_guard lock(planned_mutex_);
    if (!first_error_) first_error_ = e;
    cancelled_ = true;
  }
  planned_ready_.notify_all();
  if (merge_) merge_->cancel();
}

// An older backup's entry writes only into a file the newest backup's
// extraction made ready (its path checked, its directory made).
PlannedFile& PhysicalRestore::wait_ready(const std::string& mpath, std::size_t k) {
  PlannedFile& f = planned_.at(mpath);
  std::unique_lock lock(planned_mutex_);
  planned_ready_.wait(lock, [&] { return f.ready || newest_done_ || cancelled_.load(); });
  if (cancelled_.load())
    throw Error(ErrorKind::cancelled, "stopped: another backup of the chain failed");
  if (!f.ready)
    throw Error(ErrorKind::corrupt,
                "backup \"" + newest().name + "\" lists \"" + mpath + "\" in its " +
                    kChangedBlocksObject + " object but its archives hold no " +
                    std::string(kIncrementalPrefix) + " entry for it (backup \"" + chain_[k].name +
                    "\" has one)");
  return f;
}

// An older backup of a planned chain, on a thread of its own: the entries of
// the files it supplies or must check.
void PhysicalRestore::read_planned(std::size_t k) {
  const BackupMeta& b = chain_[k];
  // The full's thread ended, however: no newer page waits for its runs.
  struct BaseDone {
    PageMerge* merge;
    ~BaseDone() {
      if (merge != nullptr) merge->base_done();
    }
  } base_done{k + 1 == chain_.size() && merge_ ? &*merge_ : nullptr};
  ChainBackupReport& step = report_.chain[k];
  say((opts_.scan_only ? "checking " : "restoring ") + kind_of(b) + " " + std::to_string(k + 1) +
      " of " + std::to_string(chain_.size()) + ": \"" + b.name + "\", beside the others");
  if (opts_.scan_only) {
    // verify: each backup's own manifest must be sound, and every object is read.
    (void)BackupManifest::parse(
        backup_reading::read_manifest_text(repo_.storage(), b, decryptor(b), progress(k)));
    count_read(k, b.find_object(backup_reading::kManifestObject)->size);
  }
  for (const Archive& archive : backup_reading::physical_archives(b)) {
    const ObjectEntry& obj = *archive.object;
    const std::string prefix = archive.manifest_prefix();
    const bool wanted = std::any_of(planned_.begin(), planned_.end(), [&](const auto& p) {
      return in_archive(prefix, p.first) && ChainPlan::reads(p.second.plan, k);
    });
    if (!wanted && !opts_.scan_only) {
      unread(obj.size);
      continue;
    }
    std::optional<PlannedEntry> entry;
    std::unordered_set<std::string> seen;
    TarExtractOptions xo;
    xo.archive_name = obj.name;
    xo.claimed_only = true;
    xo.claim_file = [&, prefix](const std::string& rel, std::uint64_t) -> Sink* {
      const std::optional<std::string> target = incremental_target(b, rel);
      const std::string mpath = prefix + target.value_or(rel);
      const auto it = planned_.find(mpath);
      if (it == planned_.end() || !ChainPlan::reads(it->second.plan, k)) return nullptr;
      const bool base_copy = k == it->second.plan.base;
      const std::string where =
          "entry \"" + rel + "\" of archive \"" + obj.name + "\" of backup \"" + b.name + "\"";
      if (base_copy && target)
        throw Error(ErrorKind::corrupt, where + " holds changed pages of \"" + mpath +
                                            "\", which its " + kChangedBlocksObject +
                                            " object does not list");
      if (!base_copy && !target)
        throw Error(ErrorKind::corrupt, where + " holds \"" + mpath + "\" whole, but its " +
                                            kChangedBlocksObject +
                                            " object lists it as changed pages");
      if (!seen.insert(mpath).second)
        throw Error(ErrorKind::corrupt, "archive \"" + obj.name + "\" of backup \"" + b.name +
                                            "\" holds \"" + mpath + "\" twice");
      PlannedFile& f = wait_ready(mpath, k);
      entry.emplace(f, k, b.name + ": " + obj.name + ": " + rel, opts_, page_writes(), step,
                    unchanged_[k]);
      return &*entry;
    };
    TarExtractor extractor(std::move(xo));
    read_archive(k, obj, extractor);
  }
  say("  " + b.name + ": " + std::to_string(step.pages) + " pages, " + std::to_string(step.files) +
      " base copies");
}

// The size of each file no base copy is read for (empty files, and files
// every block of which comes from incrementals), beside the older backups:
// creating a file costs ext4 an inode search, 0.1 s for the 220 of a chain of
// 7 at the end. A base copy sets its file's size itself; set by the newest's
// entries, the sizes made the newest wait for the queue to create every
// rebuilt file (0.4 s) before any older backup started.
void PhysicalRestore::size_unread_files() {
  for (auto& [path, f] : planned_) {
    if (ChainPlan::reads(f.plan, f.plan.base) || !f.ready) continue;
    RestoredPageOutput sizing(f.output, page_writes_for(opts_, PageWrites::direct), nullptr);
    sizing.set_block_count(f.plan.file_blocks);
    sizing.release();
  }
}

// How many incrementals of a planned chain are read at once.
constexpr std::size_t kIncrementalThreads = 3;

// Each older backup on a thread (chain_plan.hpp): the full one
// beside the newest, which this thread restores (its extraction checks each
// rebuilt file's path and makes its directory before an older backup writes
// into it, wait_ready), then the incrementals. (Started beside the newest
// too, the incrementals waited for it file by file while sharing the CPU
// with it, and the chain took as long as one backup after another.)
// scan_only (verify) reads them one after another on this thread: its
// callbacks may call into PostgreSQL (vault.verify_backup's interrupt check).
void PhysicalRestore::restore_planned(const std::vector<ArchivePlan>& plans,
                                      ManifestChecker& checker, const BackupManifest& manifest,
                                      const DeltaPreparation* delta) {
  const bool concurrent = !opts_.scan_only;
  (void)page_writes();
  // The older backups to read (concurrent: the incrementals, the full is
  // started first on its own). Declared before the tasks that use it.
  std::vector<std::size_t> to_read;
  std::deque<BackgroundTask> older;
  // On a thread of its own, or here; the first failure is kept (fail()).
  const auto run = [&](std::function<void()> body, bool here) {
    const auto guarded = [this, body = std::move(body)] {
      try {
        body();
      } catch (...) {
        fail(std::current_exception());
        throw;
      }
    };
    if (!here) {
      older.emplace_back(guarded);
      return;
    }
    try {
      guarded();
    } catch (...) {  // fail() kept it
    }
  };
  const auto needed = [&](std::size_t k) {
    if (plan_->needed(k) || opts_.scan_only) return true;
    say("backup " + std::to_string(k + 1) + " of " + std::to_string(chain_.size()) + " \"" +
        chain_[k].name + "\" (" + kind_of(chain_[k]) + "): not read, no file needs it");
    for (const Archive& archive : backup_reading::physical_archives(chain_[k]))
      unread(archive.object->size);
    return false;
  };
  if (concurrent && needed(chain_.size() - 1))
    run([this] { read_planned(chain_.size() - 1); }, false);
  run([&] { restore_newest(plans, checker, manifest, delta); }, true);
  {
    std::lock_guard lock(planned_mutex_);
    newest_done_ = true;
  }
  planned_ready_.notify_all();
  for (std::size_t k = 1; k + (concurrent ? 1 : 0) < chain_.size(); ++k)
    if (needed(k)) to_read.push_back(k);
  if (!concurrent) {
    for (std::size_t k : to_read)
      if (!cancelled_.load()) run([this, k] { read_planned(k); }, true);
  } else if (!cancelled_.load()) {
    // At most kIncrementalThreads at a time: each reading pipeline holds
    // about 7 MB (its read, decode and decompression buffers), and a chain
    // of 30 must not hold 30 of them.
    auto next = std::make_shared<std::atomic<std::size_t>>(0);
    for (std::size_t t = 0; t < std::min(kIncrementalThreads, to_read.size()); ++t)
      run(
          [this, &to_read, next] {
            for (std::size_t i; (i = next->fetch_add(1)) < to_read.size() && !cancelled_.load();)
              read_planned(to_read[i]);
          },
          false);
  }
  if (!cancelled_.load()) run([this] { size_unread_files(); }, !concurrent);
  for (BackgroundTask& task : older) {
    try {
      task.wait();
    } catch (...) {  // fail() kept the first failure
    }
  }
  if (first_error_) std::rethrow_exception(first_error_);
  if (merge_) {
    const PageMerge::Counts n = merge_->counts();
    say("merged " + std::to_string(n.merged_pages) +
        " newer pages into the full backup's runs (at most " + human_size(n.peak_bytes) +
        " kept at once); " + std::to_string(n.written_by_owners) + " written by their own backups");
  }
  finish_planned(checker, manifest);
}

// After every backup was read: each file got everything the plan asked of
// each backup, and is checked against the manifest.
void PhysicalRestore::finish_planned(ManifestChecker& checker, const BackupManifest& manifest) {
  for (auto& [path, f] : planned_) {
    for (std::size_t k = 0; k < chain_.size(); ++k) {
      if (!ChainPlan::reads(f.plan, k) || f.supplied[k] != 0) continue;
      if (k < f.plan.base)
        throw Error(ErrorKind::corrupt, "backup \"" + chain_[k].name + "\" lists \"" + path +
                                            "\" in its " + kChangedBlocksObject +
                                            " object but its archives hold no " +
                                            std::string(kIncrementalPrefix) + " entry for it");
      throw Error(ErrorKind::corrupt, "\"" + path +
                                          "\" is missing blocks no incremental of the "
                                          "chain holds, and backup \"" +
                                          chain_[k].name +
                                          "\", where its older blocks are, has no copy of it");
    }
    const ManifestFile* mf = manifest.find(path);
    FileSums sums;
    if (mf != nullptr && opts_.scan_only) {
      sums = listed_sums(*mf);  // nothing written to read back
    } else if (mf != nullptr) {
      const std::string alg = ascii_lower(mf->checksum_algorithm);
      if (alg == "sha256" || alg == "crc32c") {
        drain_page_writes();
        sums = sums_of_file_as_listed(*mf, f.output);
      }
    }
    const std::uint64_t size = std::uint64_t{f.plan.file_blocks} * kPageSize;
    checker.check_file(f.archive, path, size, sums);
    ++report_.reconstructed_files;
    report_.bytes += size;
  }
  for (std::uint64_t n : unchanged_) report_.pages_unchanged += n;
}

RestoreReport PhysicalRestore::run() {
  RestoreOptions o = opts_;
  const BackupMeta& meta = newest();
  if (!opts_.scan_only) {
    if (o.pgdata.empty())
      throw Error(ErrorKind::invalid_argument, "no target data directory given");
    o.pgdata = strip_trailing_slashes(fs::absolute(o.pgdata).lexically_normal().string());
  } else {
    o.pgdata = "/nonexistent-scan-only";
  }
  pgdata_ = o.pgdata;
  const std::vector<ArchivePlan> plans = plan_archives(meta, o);
  const ObjectEntry& manifest_entry = *meta.find_object(kManifestObject);
  // Every older backup's layout is checked before anything is written.
  for (std::size_t i = 1; i < chain_.size(); ++i)
    (void)backup_reading::physical_archives(chain_[i]);

  // Refuse before touching anything.
  bool pgdata_existed = false;
  std::vector<bool> ts_existed(plans.size(), false);
  if (!opts_.scan_only) {
    if (opts_.delta) {
      check_delta_target(o.pgdata);
      pgdata_existed = fs::exists(o.pgdata);
    } else {
      pgdata_existed = check_empty_or_missing(o.pgdata, "target directory",
                                              "; to re-sync an existing data directory, restore "
                                              "with --delta");
    }
    for (std::size_t i = 0; i < plans.size(); ++i) {
      if (plans[i].oid.empty()) continue;
      if (plans[i].location.rfind(o.pgdata + "/", 0) == 0) {
        throw Error(ErrorKind::invalid_argument, "tablespace " + plans[i].oid +
                                                     " would be restored into \"" +
                                                     plans[i].location +
                                                     "\", inside the data directory; map it to a "
                                                     "directory outside " +
                                                     o.pgdata);
      }
      if (opts_.delta) {
        std::error_code ec;
        ts_existed[i] = fs::exists(plans[i].location, ec);
        if (ts_existed[i] && !fs::is_directory(plans[i].location, ec))
          throw Error(ErrorKind::already_exists, "tablespace directory \"" + plans[i].location +
                                                     "\" exists and is not a directory");
      } else {
        ts_existed[i] = check_empty_or_missing(plans[i].location, "tablespace directory",
                                               " (map tablespace " + plans[i].oid +
                                                   " elsewhere with a tablespace "
                                                   "mapping " +
                                                   plans[i].oid + "=NEWDIR)");
      }
    }
  }
  for (const BackupMeta& b : chain_) report_.chain.push_back({b.name, kind_of(b), 0, 0, 0, 0});
  in_flight_.assign(chain_.size(), 0);
  unchanged_.assign(chain_.size(), 0);
  const bool planned = can_plan();
  for (std::size_t i = 0; i < chain_.size(); ++i)
    unread(never_read(chain_[i], i == 0 || opts_.scan_only, planned));

  Cleanup cleanup;
  if (opts_.scan_only || opts_.delta) cleanup.dismiss();
  // Declared after cleanup, so destroyed before it: a failed restore's
  // queued writes stop before its directories are removed.
  struct StopPageWrites {
    std::optional<PageWriteQueue>& queue;
    ~StopPageWrites() { queue.reset(); }
  } stop_page_writes{page_writes_};
  try {
    if (!opts_.scan_only) {
      if (!pgdata_existed) create_dir_0700(o.pgdata);
      cleanup.add(o.pgdata, !pgdata_existed);
    }
    if (is_chain())
      say("restoring the chain " + BackupChain{chain_}.describe() + " (" +
          std::to_string(chain_.size()) + " backups, newest first)");

    // The manifest first: it says what every archive must contain.
    say("reading backup_manifest (" + human_size(manifest_entry.size) + ")...");
    const std::string manifest_text =
        backup_reading::read_manifest_text(repo_.storage(), meta, decryptor(meta), progress(0));
    count_read(0, manifest_entry.size);
    const BackupManifest manifest = BackupManifest::parse(manifest_text);
    ManifestChecker checker(manifest, [&](std::string_view note) { say(std::string(note)); });
    if (planned) plan_chain();

    std::optional<DeltaPreparation> delta;
    if (opts_.delta && !opts_.scan_only) {
      std::unordered_set<std::string> links;
      for (const auto& p : plans)
        if (!p.oid.empty()) links.insert("pg_tblspc/" + p.oid);
      delta.emplace(manifest, std::move(links), report_);
      say("delta restore: comparing " + o.pgdata + " with backup_manifest (" +
          std::to_string(manifest.files().size()) + " files)...");
      // pg_control first: a directory without it never starts half-restored.
      ::unlink((o.pgdata + "/" + kControlFile).c_str());
      if (pgdata_existed) delta->walk(o.pgdata, "");
      for (std::size_t i = 0; i < plans.size(); ++i) {
        if (plans[i].oid.empty()) continue;
        if (!ts_existed[i]) {
          create_dir_0700(plans[i].location);
          continue;
        }
        // Only the version directories the backup has: others belong to other servers.
        const std::string prefix = "pg_tblspc/" + plans[i].oid;
        for (const auto& e : fs::directory_iterator(plans[i].location)) {
          const std::string mpath = prefix + "/" + e.path().filename().string();
          if (delta->directories().count(mpath) == 0) continue;
          if (fs::is_directory(e.symlink_status())) delta->walk(e.path().string(), mpath);
        }
      }
      say("delta restore: " + std::to_string(delta->kept_count()) +
          " files match the backup and are kept; " + std::to_string(report_.removed_files) +
          " files not in the backup removed");
    }
    for (std::size_t i = 0; i < plans.size(); ++i) {
      if (!opts_.scan_only && !opts_.delta && !plans[i].oid.empty()) {
        if (!ts_existed[i]) create_dir_0700(plans[i].location);
        cleanup.add(plans[i].location, !ts_existed[i]);
      }
    }
    if (is_chain())
      say(std::string(opts_.scan_only ? "checking " : "restoring ") + kind_of(meta) + " 1 of " +
          std::to_string(chain_.size()) + ": \"" + meta.name + "\" (the newest)");
    if (plan_) {
      restore_planned(plans, checker, manifest, delta ? &*delta : nullptr);
    } else {
      restore_newest(plans, checker, manifest, delta ? &*delta : nullptr);
      complete_where(checker, manifest, false);
      for (std::size_t i = 1; i < chain_.size(); ++i) {
        read_older(i);
        complete_where(checker, manifest, false);
      }
      complete_where(checker, manifest, true);
    }
    drain_page_writes();

    checker.check_complete();
    report_.manifest_files = checker.files_checked();
    say("verified " + std::to_string(manifest.files().size()) +
        " files against backup_manifest (sizes, and checksums where it has them)" +
        (report_.reconstructed_files > 0 ? "; " + std::to_string(report_.reconstructed_files) +
                                               " files rebuilt from the chain, every block supplied"
                                         : ""));
    if (opts_.scan_only) return std::move(report_);

    std::string manifest_copy = manifest_text;
    for (const auto& oid : rewrite_tablespace_map(o.pgdata, plans, manifest_copy)) {
      for (const auto& p : plans) {
        if (p.oid == oid) {
          say("tablespace_map: tablespace " + oid + " now points at " + p.location +
              " (backup_manifest in the data directory updated to match)");
        }
      }
    }
    // Like pg_basebackup: keep the manifest with the data, for pg_verifybackup.
    write_file_0600(o.pgdata + "/backup_manifest", manifest_copy);
    if (control_file_) write_file_0600(o.pgdata + "/" + kControlFile, *control_file_);
    if (opts_.delta)
      say("delta restore: " + std::to_string(report_.kept_files) +
          " files already matched and were kept, " + std::to_string(report_.removed_files) +
          " paths removed" +
          (report_.reconstructed_files > 0 ? ", " + std::to_string(report_.pages_unchanged) +
                                                 " pages of rebuilt files already right"
                                           : ""));

    if (opts_.sync_to_disk) {
      say("syncing restored files to disk...");
      sync_dir_fs(o.pgdata);
      for (const auto& plan : plans) {
        if (!plan.oid.empty()) sync_dir_fs(plan.location);
      }
    }
    cleanup.dismiss();
    return std::move(report_);
  } catch (const fs::filesystem_error& e) {
    if (opts_.delta) throw delta_failure(Error(ErrorKind::io, e.what()), o.pgdata);
    throw Error(ErrorKind::io, e.what());
  } catch (const Error& e) {
    if (opts_.delta && !opts_.scan_only) throw delta_failure(e, o.pgdata);
    throw;
  }
}

}  // namespace

RestoreReport restore_physical(Repository& repo, const BackupMeta& meta, const RestoreOptions& opts,
                               const ProgressLog& log) {
  if (!meta.is_physical()) {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; only physical backups (full or incremental) can be restored into a "
                    "data directory");
  }
  return restore_physical(repo, resolve_chain(repo, meta), opts, log);
}

RestoreReport restore_physical(Repository& repo, BackupChain chain, const RestoreOptions& opts,
                               const ProgressLog& log) {
  if (chain.backups.empty() || !chain.full().is_physical() || chain.full().kind == "incremental")
    throw Error(ErrorKind::internal, "restore_physical: not a resolved chain");
  return PhysicalRestore(repo, std::move(chain.backups), opts, log).run();
}

}  // namespace pgvault
