// Restoring a physical backup (physical_restore.hpp).
#include "pgvault/restore/physical_restore.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
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

}  // namespace

RestoreReport restore_physical(Repository& repo, const BackupMeta& meta, const RestoreOptions& opts,
                               const ProgressLog& log) {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  if (meta.kind != "physical") {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; only physical backups can be restored into a data directory");
  }
  if (opts.pgdata.empty()) {
    throw Error(ErrorKind::invalid_argument, "no target data directory given");
  }
  RestoreOptions o = opts;
  o.pgdata = strip_trailing_slashes(fs::absolute(opts.pgdata).lexically_normal().string());

  const std::vector<ArchivePlan> plans = plan_archives(meta, o);
  const ObjectEntry& manifest_entry = *meta.find_object(kManifestObject);

  // Refuse before touching anything.
  const bool pgdata_existed = check_empty_or_missing(o.pgdata, "target directory");
  std::vector<bool> ts_existed(plans.size(), false);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].oid.empty()) continue;
    if (plans[i].location.rfind(o.pgdata + "/", 0) == 0) {
      throw Error(ErrorKind::invalid_argument,
                  "tablespace " + plans[i].oid + " would be restored into \"" + plans[i].location +
                      "\", inside the data directory; map it to a directory outside " + o.pgdata);
    }
    ts_existed[i] = check_empty_or_missing(plans[i].location, "tablespace directory",
                                           " (map tablespace " + plans[i].oid +
                                               " elsewhere with a tablespace "
                                               "mapping " +
                                               plans[i].oid + "=NEWDIR)");
  }

  Cleanup cleanup;
  try {
    if (!pgdata_existed) create_dir_0700(o.pgdata);
    cleanup.add(o.pgdata, !pgdata_existed);

    // The manifest first: it says what every archive must contain.
    say("reading backup_manifest (" + human_size(manifest_entry.size) + ")...");
    const std::string manifest_text =
        backup_reading::read_manifest_text(repo.storage(), meta, opts.decryptor, opts.on_read);
    RestoreReport report;
    report.bytes_read += manifest_entry.size;
    report.objects += 1;
    const BackupManifest manifest = BackupManifest::parse(manifest_text);
    ManifestChecker checker(manifest, [&](std::string_view note) { say(std::string(note)); });

    for (std::size_t i = 0; i < plans.size(); ++i) {
      const ArchivePlan& plan = plans[i];
      const ObjectEntry& obj = *plan.object;
      if (!plan.oid.empty()) {
        if (!ts_existed[i]) create_dir_0700(plan.location);
        cleanup.add(plan.location, !ts_existed[i]);
        say("restoring " + obj.name + " (" + human_size(obj.size) + ") into tablespace directory " +
            plan.location + "...");
      } else {
        say("restoring " + obj.name + " (" + human_size(obj.size) + ")...");
      }

      TarExtractOptions xo;
      xo.target_dir = plan.location;
      xo.archive_name = obj.name;
      xo.on_file = backup_reading::manifest_file_check(checker, plan);
      TarExtractor extractor(std::move(xo));
      backup_reading::DecodeChain decode(obj.name, extractor, opts.decryptor);
      report.bytes_read +=
          backup_reading::read_object(repo.storage(), meta, obj, decode.input(), opts.on_read);
      report.files += extractor.files();
      report.bytes += extractor.bytes();
      ++report.objects;
      say("restored " + obj.name + ": " + std::to_string(extractor.files()) + " files, " +
          human_size(extractor.bytes()));

      if (!plan.oid.empty()) {
        // Point pg_tblspc/<oid> at the (possibly mapped) location, replacing
        // what base.tar recorded.
        const std::string tblspc = o.pgdata + "/pg_tblspc";
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

    checker.check_complete();
    report.manifest_files = checker.files_checked();
    say("verified " + std::to_string(manifest.files().size()) +
        " files against backup_manifest (sizes and checksums)");

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

    if (opts.sync_to_disk) {
      say("syncing restored files to disk...");
      sync_dir_fs(o.pgdata);
      for (const auto& plan : plans) {
        if (!plan.oid.empty()) sync_dir_fs(plan.location);
      }
    }
    cleanup.dismiss();
    return report;
  } catch (const fs::filesystem_error& e) {
    throw Error(ErrorKind::io, e.what());
  }
}

}  // namespace pgvault
