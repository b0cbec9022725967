#include "pgvault/catalog/backup_meta_cache.hpp"

namespace pgvault {

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
  if (!entries_.contains(url) && entries_.size() >= kMaxRepositories) entries_.clear();
  entries_[url][object.path] = Entry{object.size, object.mtime_unix, meta};
}

void BackupMetaCache::forget_unlisted(const std::string& url, const std::string& prefix,
                                      const std::set<std::string>& listed) {
  std::lock_guard lock(mutex_);
  const auto repository = entries_.find(url);
  if (repository == entries_.end()) return;
  auto& paths = repository->second;
  for (auto it = paths.lower_bound(prefix); it != paths.end() && it->first.starts_with(prefix);)
    it = listed.contains(it->first) ? std::next(it) : paths.erase(it);
  if (paths.empty()) entries_.erase(repository);
}

std::size_t BackupMetaCache::size() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [url, paths] : entries_) n += paths.size();
  return n;
}

}  // namespace pgvault
