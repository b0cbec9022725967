#include "pgvault/catalog/repository.hpp"

#include "pgvault/catalog/backup_meta_cache.hpp"
#include "pgvault/catalog/verification_record.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <optional>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

namespace pgvault {

namespace {

constexpr std::size_t kMaxCandidates = 20;

struct BackupDirState {
  std::optional<ObjectInfo> meta;  // backup.json as listed, if the directory has one
  std::size_t objects = 0;
};
// (system identifier, backup name) -> what its directory holds
using BackupDirs = std::map<std::pair<std::string, std::string>, BackupDirState>;

void validate_system_identifier(const std::string& sysid) {
  if (sysid.empty() || sysid.find('/') != std::string::npos || sysid == "." || sysid == "..")
    throw Error(ErrorKind::invalid_argument, "invalid system identifier \"" + sysid + "\"");
}

// Splits "<sysid>/backups/<name>/<rest>" (rest non-empty); false for other paths.
bool split_backup_path(const std::string& path, std::string& sysid, std::string& name,
                       std::string& rest) {
  auto s1 = path.find('/');
  if (s1 == std::string::npos || path.compare(s1 + 1, 8, "backups/") != 0) return false;
  auto name_start = s1 + 9;
  auto s3 = path.find('/', name_start);
  if (s3 == std::string::npos || s3 == name_start || s3 + 1 >= path.size()) return false;
  sysid = path.substr(0, s1);
  name = path.substr(name_start, s3 - name_start);
  rest = path.substr(s3 + 1);
  return true;
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string system_suffix(const std::string& sysid) {
  return sysid.empty() ? std::string() : " (system " + sysid + ")";
}

bool older(const BackupMeta& a, const BackupMeta& b) {
  if (a.started_at != b.started_at) return a.started_at < b.started_at;
  if (a.name != b.name) return a.name < b.name;
  return a.system_identifier < b.system_identifier;
}

}  // namespace

Repository::Repository(Storage& storage) : Repository(storage, BackupMetaCache::of_process()) {}

// {"format": N, ...}: the format number, whatever else a later format adds.
static int parse_repository_format(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorKind::corrupt, where + " is not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("format") || !j["format"].is_number_integer() ||
      j["format"].get<long long>() < 1 || j["format"].get<long long>() > 1000000)
    throw Error(ErrorKind::corrupt,
                where + " is malformed: expected a JSON object with a positive integer \"format\"");
  return j["format"].get<int>();
}

void Repository::check_format() {
  if (format_checked_) return;
  const std::string where = std::string(kFormatFile) + " of repository " + storage_.url();
  std::string text;
  try {
    text = storage_.read_all(kFormatFile);
    format_file_exists_ = true;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
  }
  if (format_file_exists_) {
    int format = parse_repository_format(text, where);
    if (format > kFormat)
      throw Error(ErrorKind::unsupported,
                  "repository format " + std::to_string(format) +
                      " is newer than this pgvault understands (" + std::to_string(kFormat) +
                      "); upgrade pgvault to read it (repository " + storage_.url() + ")");
  }
  format_checked_ = true;
}

std::string Repository::backup_dir(const std::string& system_identifier, const std::string& name) {
  return system_identifier + "/backups/" + name + "/";
}

std::string Repository::object_path(const std::string& system_identifier, const std::string& name,
                                    const std::string& object) {
  return backup_dir(system_identifier, name) + object;
}

void Repository::validate_backup_name(const std::string& name) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorKind::invalid_argument,
                "invalid backup name \"" + name + "\": " + why +
                    " (allowed: 1..128 of A-Z a-z 0-9 . _ -, not starting with '.')");
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > 128) bad("it is longer than 128 characters");
  if (name.front() == '.') bad("it starts with '.'");
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) bad("it contains a character that is not allowed");
  }
}

// The top-level directories that may be systems: a repository's WAL
// archives are never listed to find them (one delimited listing).
static std::vector<std::string> candidate_systems(Storage& storage) {
  std::vector<std::string> out;
  for (std::string& dir : storage.list_directories(""))
    if (dir != "." && dir != "..") out.push_back(std::move(dir));
  return out;
}

// Lists the backups of one system, or of every system (each system's
// backups/ directory, never its WAL), and groups what it finds by backup
// directory.
static BackupDirs scan_backups(Storage& storage, const std::string& system_identifier) {
  std::vector<std::string> systems;
  if (!system_identifier.empty()) {
    validate_system_identifier(system_identifier);
    systems.push_back(system_identifier);
  } else {
    systems = candidate_systems(storage);
  }
  BackupDirs dirs;
  std::string sysid, name, rest;
  for (const std::string& system : systems) {
    for (const ObjectInfo& obj : storage.list(system + "/backups/")) {
      if (!split_backup_path(obj.path, sysid, name, rest)) continue;
      auto& st = dirs[{sysid, name}];
      ++st.objects;
      if (rest == Repository::kMetaFile) st.meta = obj;
    }
  }
  return dirs;
}

// backup.json of a backup whose name and system identifier are valid, in a
// repository whose format was checked. Touches nothing but the storage, so
// list_all calls it from several threads.
static BackupMeta read_checked_meta(Storage& storage, const std::string& system_identifier,
                                    const std::string& name) {
  std::string where = "backup \"" + name + "\"" + system_suffix(system_identifier);
  std::string text;
  try {
    text =
        storage.read_all(Repository::object_path(system_identifier, name, Repository::kMetaFile));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    throw Error(ErrorKind::not_found, where + " not found in repository " + storage.url());
  }
  BackupMeta meta;
  try {
    meta = BackupMeta::from_json(text);
  } catch (const Error& e) {
    throw Error(e.kind(), where + ": " + e.what());
  }
  if (meta.name != name || meta.system_identifier != system_identifier)
    throw Error(ErrorKind::corrupt, where + ": backup.json describes backup \"" + meta.name +
                                        "\" of system " + meta.system_identifier);
  return meta;
}

// How many backup.json objects list_all reads at once. On an object store
// each is a request (tens of milliseconds to a cloud region) and retention
// lists the repository after every backup; one at a time, a repository of a
// year of nightly backups took as many seconds as it holds backups per 30.
constexpr std::size_t kMetaReaders = 8;

std::vector<std::string> Repository::system_identifiers() {
  check_format();
  std::vector<std::string> ids;
  for (std::string& system : candidate_systems(storage_)) {
    const std::vector<std::string> holds = storage_.list_directories(system + "/");
    const auto holds_dir = [&](const char* dir) {
      return std::binary_search(holds.begin(), holds.end(), dir);
    };
    if (holds_dir("backups") || holds_dir("wal")) ids.push_back(std::move(system));
  }
  return ids;
}

// A backup.json that cannot be parsed is not silently hidden: list_backups
// skips it (it is not restorable), incomplete_backups does not offer it for
// cleanup (its data may still be valuable), and list_all/unreadable_backups
// report it with the parse error; resolve() by name raises that error.
RepositoryListing Repository::list_all(const std::string& system_identifier) {
  check_format();
  std::vector<std::pair<std::string, std::string>> keys;
  std::vector<ObjectInfo> meta_objects;
  for (const auto& [key, st] : scan_backups(storage_, system_identifier)) {
    if (!st.meta) continue;
    keys.push_back(key);
    meta_objects.push_back(*st.meta);
  }
  // What this process parsed before and the store still lists unchanged
  // comes from the cache (backup_meta_cache.hpp); the rest is read side by
  // side, each outcome kept in its slot and judged in order below.
  BackupMetaCache& cache = meta_cache_;
  cache.take_shared();
  const std::string url = storage_.url();
  // Before any read: an object is kept only if its last second had passed
  // when it was read.
  const std::int64_t now = unix_now();
  std::vector<std::optional<BackupMeta>> metas(keys.size());
  std::vector<std::exception_ptr> errors(keys.size());
  std::vector<std::size_t> to_read;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    metas[i] = cache.find(url, meta_objects[i]);
    // An entry from the shared file is trusted no further than a read from
    // the store: it must describe the backup its path names.
    if (metas[i] &&
        (metas[i]->name != keys[i].second || metas[i]->system_identifier != keys[i].first))
      metas[i].reset();
    if (!metas[i]) to_read.push_back(i);
  }
  std::atomic<std::size_t> next{0};
  const auto read_some = [&] {
    for (std::size_t n; (n = next.fetch_add(1)) < to_read.size();) {
      const std::size_t i = to_read[n];
      try {
        validate_system_identifier(keys[i].first);
        validate_backup_name(keys[i].second);
        metas[i] = read_checked_meta(storage_, keys[i].first, keys[i].second);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  {
    std::deque<BackgroundTask> readers;
    for (std::size_t t = 1; t < std::min(kMetaReaders, to_read.size()); ++t)
      readers.emplace_back(read_some);
    read_some();
    for (BackgroundTask& reader : readers) reader.wait();  // read_some throws nothing
  }
  for (const std::size_t i : to_read)
    if (metas[i]) cache.keep(url, meta_objects[i], *metas[i], now);
  std::set<std::string> listed;
  for (const ObjectInfo& object : meta_objects) listed.insert(object.path);
  cache.forget_unlisted(url, system_identifier.empty() ? "" : system_identifier + "/backups/",
                        listed);
  cache.give_shared();
  RepositoryListing out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (metas[i]) {
      out.complete.push_back(std::move(*metas[i]));
      continue;
    }
    try {
      std::rethrow_exception(errors[i]);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::corrupt && e.kind() != ErrorKind::unsupported &&
          e.kind() != ErrorKind::invalid_argument)
        throw;
      out.unreadable.push_back({keys[i].first, keys[i].second, e.what()});
    }
  }
  std::sort(out.complete.begin(), out.complete.end(), older);
  return out;
}

std::vector<BackupMeta> Repository::list_backups(const std::string& system_identifier) {
  return list_all(system_identifier).complete;
}

std::vector<std::string> Repository::incomplete_backups(const std::string& system_identifier) {
  check_format();
  validate_system_identifier(system_identifier);
  std::vector<std::string> out;
  for (const auto& [key, st] : scan_backups(storage_, system_identifier))
    if (!st.meta) out.push_back(key.second);
  return out;
}

std::vector<UnreadableBackup> Repository::unreadable_backups(const std::string& system_identifier) {
  return list_all(system_identifier).unreadable;
}

bool Repository::backup_exists(const std::string& system_identifier, const std::string& name) {
  check_format();
  validate_system_identifier(system_identifier);
  validate_backup_name(name);
  return storage_.info(object_path(system_identifier, name, kMetaFile)).has_value();
}

bool Repository::backup_name_in_use(const std::string& system_identifier, const std::string& name) {
  check_format();
  validate_system_identifier(system_identifier);
  validate_backup_name(name);
  return !storage_.list(backup_dir(system_identifier, name)).empty();
}

BackupMeta Repository::read_meta(const std::string& system_identifier, const std::string& name) {
  check_format();
  validate_system_identifier(system_identifier);
  validate_backup_name(name);
  return read_checked_meta(storage_, system_identifier, name);
}

void Repository::write_meta(const BackupMeta& meta) {
  check_format();
  validate_system_identifier(meta.system_identifier);
  validate_backup_name(meta.name);
  // Before the first backup.json: a pgvault that reads it then knows the format.
  if (!format_file_exists_) {
    storage_.write_all(kFormatFile, nlohmann::ordered_json{{"format", kFormat}}.dump() + "\n");
    format_file_exists_ = true;
  }
  storage_.write_all(object_path(meta.system_identifier, meta.name, kMetaFile), meta.to_json());
}

bool BackupSelector::matches(const BackupMeta& meta) const {
  // "physical" selects incrementals too: each restores a data directory.
  if (!kind.empty() && meta.kind != kind && !(kind == "physical" && meta.is_physical()))
    return false;
  if (!database.empty() && meta.database != database) return false;
  if (skip_pre_restore && meta.trigger == "pre_restore") return false;
  return true;
}

std::string BackupSelector::describe() const {
  std::string out = "complete " + (kind.empty() ? std::string() : kind + " ") + "backup";
  if (!database.empty()) out += " of database \"" + database + "\"";
  if (skip_pre_restore) out += " other than pre_restore backups";
  return out;
}

BackupMeta Repository::resolve(const std::string& name_or_latest,
                               const std::string& system_identifier,
                               const BackupSelector& latest_of) {
  check_format();
  const std::string repo = storage_.url();
  if (name_or_latest == "latest")
    return latest(list_all(system_identifier), system_identifier, latest_of);

  validate_backup_name(name_or_latest);
  if (!system_identifier.empty()) validate_system_identifier(system_identifier);
  BackupDirs dirs = scan_backups(storage_, system_identifier);
  std::vector<std::string> with_meta, without_meta;
  for (const auto& [key, st] : dirs) {
    if (key.second != name_or_latest) continue;
    (st.meta ? with_meta : without_meta).push_back(key.first);
  }
  if (with_meta.size() == 1) return read_meta(with_meta.front(), name_or_latest);
  if (with_meta.size() > 1)
    throw Error(ErrorKind::invalid_argument,
                "backup \"" + name_or_latest + "\" exists for several systems in repository " +
                    repo + " (" + join(with_meta) + "): give the system identifier");

  std::string msg = "backup \"" + name_or_latest + "\" not found in repository " + repo +
                    system_suffix(system_identifier);
  if (!without_meta.empty()) {
    msg += "; it is incomplete (no backup.json)";
  } else {
    std::vector<BackupMeta> all = list_backups(system_identifier);
    std::set<std::string> systems;
    for (const auto& m : all) systems.insert(m.system_identifier);
    std::vector<std::string> names;
    std::size_t skip = all.size() > kMaxCandidates ? all.size() - kMaxCandidates : 0;
    for (std::size_t i = skip; i < all.size(); ++i)
      names.push_back(systems.size() > 1 ? all[i].system_identifier + "/" + all[i].name
                                         : all[i].name);
    if (names.empty())
      msg += "; it holds no complete backup";
    else
      msg += "; available: " + (skip ? "... (" + std::to_string(skip) + " older), " : "") +
             join(names);
  }
  throw Error(ErrorKind::not_found, msg);
}

BackupMeta Repository::latest(const RepositoryListing& listing,
                              const std::string& system_identifier,
                              const BackupSelector& latest_of) {
  const std::string repo = storage_.url();
  const std::vector<BackupMeta>& all = listing.complete;
  if (system_identifier.empty()) {
    // Every system counts: the newest usable backup of whichever system has
    // one would be a guess.
    std::set<std::string> systems;
    for (const auto& m : all) systems.insert(m.system_identifier);
    if (systems.size() > 1)
      throw Error(ErrorKind::invalid_argument,
                  "repository " + repo + " holds backups of several systems (" +
                      join({systems.begin(), systems.end()}) +
                      "): give the system identifier to choose the latest backup");
  }
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (latest_of.matches(*it)) return *it;
  std::string msg = "no " + latest_of.describe() + " found in repository " + repo +
                    system_suffix(system_identifier);
  if (all.empty() && !system_identifier.empty()) {
    // A mistyped or foreign system identifier: say which systems are there.
    std::set<std::string> systems;
    for (const auto& m : list_backups()) systems.insert(m.system_identifier);
    if (!systems.empty())
      msg += "; it holds backups of system" + std::string(systems.size() == 1 ? " " : "s ") +
             join({systems.begin(), systems.end()});
  }
  if (!all.empty()) {
    const BackupMeta& newest = all.back();
    msg += "; it holds " + std::to_string(all.size()) + " other complete backup" +
           (all.size() == 1 ? "" : "s") + ", the newest \"" + newest.name + "\" (" + newest.kind +
           (newest.database.empty() ? "" : ", database " + newest.database) +
           (newest.trigger == "pre_restore" ? ", pre_restore" : "") + ")";
  }
  throw Error(ErrorKind::not_found, msg);
}

void Repository::remove_backup(const std::string& system_identifier, const std::string& name) {
  check_format();
  validate_system_identifier(system_identifier);
  validate_backup_name(name);
  std::string dir = backup_dir(system_identifier, name);
  if (storage_.list(dir).empty())
    throw Error(ErrorKind::not_found, "backup \"" + name + "\"" + system_suffix(system_identifier) +
                                          " not found in repository " + storage_.url());
  storage_.remove(dir + kMetaFile);
  storage_.remove_prefix(dir);
  // Last: a verification record without its backup is ignored by readers.
  remove_verification_record(*this, system_identifier, name);
}

void verify_object(Storage& storage, const std::string& path, const ObjectEntry& expected) {
  auto info = storage.info(path);
  if (!info)
    throw Error(ErrorKind::not_found,
                "object \"" + path + "\" not found in repository " + storage.url());
  auto size_mismatch = [&](std::uint64_t got) {
    return Error(ErrorKind::corrupt, "object " + path + ": size mismatch (expected " +
                                         std::to_string(expected.size) + " bytes, got " +
                                         std::to_string(got) + ")");
  };
  if (info->size != expected.size) throw size_mismatch(info->size);
  auto reader = storage.open_read(path);
  Sha256 hash;
  std::uint64_t total = 0;
  std::vector<std::byte> buf(256 * 1024);
  while (std::size_t n = reader->read(buf)) {
    hash.update(std::span<const std::byte>(buf.data(), n));
    total += n;
  }
  if (total != expected.size) throw size_mismatch(total);
  std::string got = hash.final_hex();
  if (got != expected.sha256)
    throw Error(ErrorKind::corrupt, "object " + path + ": SHA-256 mismatch (expected " +
                                        expected.sha256 + ", got " + got + ")");
}

}  // namespace pgvault
