#include "pgvault/catalog/backup_meta_cache.hpp"

#include "pgvault/error.hpp"
#include "pgvault/file_replacement.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <tuple>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace pgvault {
namespace {

// The shared file's first line; a file without it is another format (ignored).
constexpr std::string_view kSharedFormat = "pgvault backup.json cache, format 1";
// A writer's temporary is "<file>.tmp.<pid>".
constexpr std::string_view kTemporaryInfix = ".tmp.";

}  // namespace

BackupMetaCache& BackupMetaCache::of_process() {
  // Never destroyed: a thread still listing while the process exits (exit()
  // runs static destructors) must not find it gone.
  static BackupMetaCache* const cache = new BackupMetaCache;
  return *cache;
}

std::optional<BackupMeta> BackupMetaCache::find(const std::string& url,
                                                const ObjectInfo& object) const {
  std::lock_guard lock(mutex_);
  const auto repository = entries_.find(url);
  if (repository == entries_.end()) return std::nullopt;
  const auto it = repository->second.find(object.path);
  if (it == repository->second.end() || it->second.size != object.size ||
      it->second.mtime_unix != object.mtime_unix)
    return std::nullopt;
  return it->second.meta;
}

void BackupMetaCache::keep(const std::string& url, const ObjectInfo& object, const BackupMeta& meta,
                           std::int64_t now) {
  if (object.mtime_unix <= 0 || object.mtime_unix > now - kSettleSeconds) return;
  std::lock_guard lock(mutex_);
  if (!entries_.contains(url) && entries_.size() >= kMaxRepositories) {
    entries_.clear();
    changed_ = true;
  }
  entries_[url][object.path] = Entry{object.size, object.mtime_unix, meta};
  if (shared_url(url)) changed_ = true;
}

void BackupMetaCache::forget_unlisted(const std::string& url, const std::string& prefix,
                                      const std::set<std::string>& listed) {
  std::lock_guard lock(mutex_);
  const auto repository = entries_.find(url);
  if (repository == entries_.end()) return;
  auto& paths = repository->second;
  for (auto it = paths.lower_bound(prefix); it != paths.end() && it->first.starts_with(prefix);) {
    if (listed.contains(it->first)) {
      ++it;
      continue;
    }
    it = paths.erase(it);
    if (shared_url(url)) changed_ = true;
  }
  if (paths.empty()) entries_.erase(repository);
}

std::size_t BackupMetaCache::size() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [url, paths] : entries_) n += paths.size();
  return n;
}

bool BackupMetaCache::shared_url(const std::string& url) {
  return !url.starts_with("file:");
}

std::optional<BackupMetaCache::FileStamp> BackupMetaCache::shared_file_stamp() const {
  struct stat st {};
  if (::stat(shared_file_.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{
      static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
      static_cast<std::uint64_t>(st.st_size),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void BackupMetaCache::share_through(std::string file) {
  const std::filesystem::path shared(file);
  const std::string temporary = shared.filename().string() + std::string(kTemporaryInfix);
  std::error_code ec;
  for (std::filesystem::directory_iterator it(shared.parent_path(), ec), end; !ec && it != end;
       it.increment(ec))
    if (it->path().filename().string().starts_with(temporary))
      std::filesystem::remove(it->path(), ec);  // best effort: a leftover costs only space
  std::lock_guard lock(mutex_);
  shared_file_ = std::move(file);
  seen_.reset();
}

void BackupMetaCache::take_shared() {
  std::string file;
  std::optional<FileStamp> stamp;
  {
    std::lock_guard lock(mutex_);
    if (shared_file_.empty()) return;
    stamp = shared_file_stamp();
    if (!stamp || stamp == seen_) return;
    file = shared_file_;
  }
  // Read and parsed outside the lock: a listing of this process may run beside it.
  std::ifstream in(file, std::ios::binary);
  std::string line;
  std::vector<std::tuple<std::string, std::string, Entry>> read;
  if (in && std::getline(in, line) && line == kSharedFormat) {
    while (std::getline(in, line)) {
      try {
        const nlohmann::json j = nlohmann::json::parse(line);
        std::string url = j.at("url").get<std::string>();
        if (!shared_url(url)) continue;
        Entry entry{j.at("size").get<std::uint64_t>(), j.at("mtime").get<std::int64_t>(),
                    BackupMeta::from_json(j.at("meta").get<std::string>())};
        if (entry.mtime_unix <= 0) continue;
        read.emplace_back(std::move(url), j.at("path").get<std::string>(), std::move(entry));
      } catch (const std::exception&) {
        // A damaged line: that backup.json is read from the store instead.
      }
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& [url, path, entry] : read) {
    if (!entries_.contains(url) && entries_.size() >= kMaxRepositories) continue;
    entries_[url].try_emplace(path, std::move(entry));
  }
  seen_ = stamp;
}

void BackupMetaCache::give_shared() {
  // One writer of this process at a time: the temporary is named by the process.
  static std::mutex writing;
  std::lock_guard write_lock(writing);
  {
    // Most listings change nothing: no stat of the file for them.
    std::lock_guard lock(mutex_);
    if (shared_file_.empty() || !changed_) return;
  }
  // What others wrote since is kept in the rewrite (racing writers may still
  // lose an entry: it is read from the store again).
  take_shared();
  std::string text, file;
  {
    std::lock_guard lock(mutex_);
    if (shared_file_.empty() || !changed_) return;
    text.append(kSharedFormat).push_back('\n');
    for (const auto& [url, paths] : entries_) {
      if (!shared_url(url)) continue;
      for (const auto& [path, entry] : paths) {
        const nlohmann::json line = {{"url", url},
                                     {"path", path},
                                     {"size", entry.size},
                                     {"mtime", entry.mtime_unix},
                                     {"meta", entry.meta.to_json()}};
        text.append(line.dump()).push_back('\n');
      }
    }
    changed_ = false;
    file = shared_file_;
  }
  try {
    // Not synced: after a crash a missing or short file only costs requests.
    replace_file(file, text,
                 {file + std::string(kTemporaryInfix) + std::to_string(::getpid()), 0600, false});
  } catch (const Error&) {
    return;  // pg_stat_tmp gone or full: listings read from the store, as without the file
  }
  std::lock_guard lock(mutex_);
  seen_ = shared_file_stamp();
}

}  // namespace pgvault
