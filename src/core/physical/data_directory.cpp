#include "pgvault/physical/data_directory.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>
#include <system_error>

namespace pgvault {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTempFilePrefix = "pgsql_tmp";  // PG_TEMP_FILE_PREFIX
constexpr std::size_t kOidChars = 10;                      // OIDCHARS

struct NameRule {
  std::string_view name;
  bool match_prefix;
};

// basebackup.c excludeFiles (PostgreSQL 15).
constexpr std::array<NameRule, 8> kExcludeFiles = {{
    {"postgresql.auto.conf.tmp", false},  // PG_AUTOCONF_FILENAME ".tmp"
    {"current_logfiles.tmp", false},      // LOG_METAINFO_DATAFILE_TMP
    {"pg_internal.init", true},           // RELCACHE_INIT_FILENAME, with its temp files
    {"backup_label", false},              // BACKUP_LABEL_FILE
    {"tablespace_map", false},            // TABLESPACE_MAP
    {"backup_manifest", false},
    {"postmaster.pid", false},
    {"postmaster.opts", false},
}};

// basebackup.c noChecksumFiles (PostgreSQL 15, without EXEC_BACKEND).
constexpr std::array<NameRule, 4> kNoChecksumFiles = {{
    {"pg_control", false},
    {"pg_filenode.map", false},
    {"pg_internal.init", true},
    {"PG_VERSION", false},
}};

// basebackup.c excludeDirContents (PostgreSQL 15).
constexpr std::array<std::string_view, 7> kExcludeDirContents = {
    "pg_stat_tmp",   // PG_STAT_TMP_DIR: extensions such as pg_stat_statements write there
    "pg_replslot",   // slots are not useful in a copy
    "pg_dynshmem",   // removed at startup (dsm_cleanup_for_mmap)
    "pg_notify",     // removed at startup (AsyncShmemInit)
    "pg_serial",     // not needed for normal operation (SerialInit)
    "pg_snapshots",  // removed at startup (DeleteAllExportedSnapshotFiles)
    "pg_subtrans",   // zeroed at startup (StartupSUBTRANS)
};

bool matches(std::string_view name, const NameRule& rule) {
  return rule.match_prefix ? name.starts_with(rule.name) : name == rule.name;
}

template <std::size_t N>
bool matches_any(std::string_view name, const std::array<NameRule, N>& rules) {
  return std::any_of(rules.begin(), rules.end(),
                     [&](const NameRule& r) { return matches(name, r); });
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::optional<std::uint32_t> parse_oid(std::string_view digits) {
  if (!all_digits(digits) || digits.size() > kOidChars) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  if (v > 0xFFFFFFFFull) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// forkname_chars: "fsm", "vm", "init" (never "main").
std::size_t fork_name_chars(std::string_view s, RelationFork& fork) {
  for (auto [name, value] : {std::pair<std::string_view, RelationFork>{"fsm", RelationFork::fsm},
                             {"vm", RelationFork::vm},
                             {"init", RelationFork::init}}) {
    if (s.starts_with(name)) {
      fork = value;
      return name.size();
    }
  }
  return 0;
}

// [_fork][.segment] then the end of the name, from pos.
bool parse_fork_and_segment(std::string_view name, std::size_t pos, RelationFileName& out) {
  if (pos < name.size() && name[pos] == '_') {
    const std::size_t chars = fork_name_chars(name.substr(pos + 1), out.fork);
    if (chars == 0) return false;
    pos += chars + 1;
  }
  if (pos < name.size() && name[pos] == '.') {
    std::size_t end = pos + 1;
    while (end < name.size() && is_digit(name[end])) ++end;
    if (end == pos + 1) return false;
    const auto segment = parse_oid(name.substr(pos + 1, end - pos - 1));
    if (!segment) return false;  // PostgreSQL would not create it; not a relation to us
    out.segment = *segment;
    pos = end;
  }
  return pos == name.size();
}

std::vector<std::string_view> split_relative_path(std::string_view path) {
  if (path.empty() || path.front() == '/')
    throw Error(ErrorKind::invalid_argument,
                "a backup path must be relative to its root, got \"" + std::string(path) + "\"");
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == "..")
      throw Error(ErrorKind::invalid_argument,
                  "a backup path has no empty, \".\" or \"..\" component, got \"" +
                      std::string(path) + "\"");
    parts.push_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace

const char* relation_fork_name(RelationFork fork) {
  switch (fork) {
    case RelationFork::main:
      return "main";
    case RelationFork::fsm:
      return "fsm";
    case RelationFork::vm:
      return "vm";
    case RelationFork::init:
      return "init";
  }
  return "unknown";
}

const char* exclusion_reason_text(ExclusionReason reason) {
  switch (reason) {
    case ExclusionReason::none:
      return "not excluded";
    case ExclusionReason::temporary_file:
      return "temporary file (pgsql_tmp)";
    case ExclusionReason::excluded_file:
      return "file PostgreSQL excludes from base backups";
    case ExclusionReason::unlogged_relation:
      return "unlogged relation (reset from its init fork at startup)";
    case ExclusionReason::temporary_relation:
      return "temporary relation";
    case ExclusionReason::other_catalog_version:
      return "tablespace directory of another PostgreSQL version";
    case ExclusionReason::special_file:
      return "symbolic link or special file outside pg_tblspc";
  }
  return "unknown";
}

std::optional<RelationFileName> parse_relation_file_name(std::string_view name) {
  RelationFileName out;
  std::size_t pos = 0;
  if (!name.empty() && name[0] == 't') {
    // looks_like_temp_rel_name: t<digits>_<digits>[_fork][.segment]
    pos = 1;
    while (pos < name.size() && is_digit(name[pos])) ++pos;
    if (pos == 1 || pos >= name.size() || name[pos] != '_') return std::nullopt;
    const auto backend = parse_oid(name.substr(1, pos - 1));
    const std::size_t start = ++pos;
    while (pos < name.size() && is_digit(name[pos])) ++pos;
    if (pos == start) return std::nullopt;
    const auto relfilenode = parse_oid(name.substr(start, pos - start));
    if (!backend || !relfilenode) return std::nullopt;
    out.temp_backend = *backend;
    out.relfilenode = *relfilenode;
  } else {
    while (pos < name.size() && is_digit(name[pos])) ++pos;
    if (pos == 0 || pos > kOidChars) return std::nullopt;
    const auto relfilenode = parse_oid(name.substr(0, pos));
    if (!relfilenode) return std::nullopt;
    out.relfilenode = *relfilenode;
  }
  if (!parse_fork_and_segment(name, pos, out)) return std::nullopt;
  return out;
}

BackupPathClass classify_backup_path(BackupRoot root, std::string_view relative_path,
                                     EntryType type, bool has_init_fork) {
  const auto parts = split_relative_path(relative_path);
  const std::string_view name = parts.back();
  BackupPathClass out;
  auto excluded = [&](ExclusionReason reason) {
    out.kind = BackupPathKind::excluded;
    out.reason = reason;
    return out;
  };

  // sendTablespace sends only <location>/TABLESPACE_VERSION_DIRECTORY.
  if (root == BackupRoot::tablespace && parts.front() != kTablespaceVersionDirectory)
    return excluded(ExclusionReason::other_catalog_version);
  if (name.starts_with(kTempFilePrefix)) return excluded(ExclusionReason::temporary_file);
  if (matches_any(name, kExcludeFiles)) return excluded(ExclusionReason::excluded_file);

  // isDbDir: the parent is all digits and its parent is base/ or a version directory.
  const std::size_t n = parts.size();
  const bool in_database_directory =
      n >= 3 && all_digits(parts[n - 2]) &&
      ((root == BackupRoot::data_directory && n == 3 && parts[0] == "base") ||
       parts[n - 3] == kTablespaceVersionDirectory);
  const bool in_global = root == BackupRoot::data_directory && n == 2 && parts[0] == "global";
  std::optional<RelationFileName> relation;
  if (in_database_directory || in_global) {
    relation = parse_relation_file_name(name);
    if (relation) {
      if (in_database_directory) relation->database_oid = parse_oid(parts[n - 2]).value_or(0);
      if (root == BackupRoot::data_directory && n == 5 && parts[0] == "pg_tblspc")
        relation->tablespace_oid = parse_oid(parts[1]).value_or(0);  // an in-place tablespace
    }
  }
  if (in_database_directory && relation && !relation->temp_backend &&
      relation->fork != RelationFork::init && has_init_fork) {
    out.relation = relation;
    return excluded(ExclusionReason::unlogged_relation);
  }
  if (in_database_directory && relation && relation->temp_backend) {
    out.relation = relation;
    return excluded(ExclusionReason::temporary_relation);
  }

  if (root == BackupRoot::data_directory && relative_path == "global/pg_control") {
    out.kind = BackupPathKind::control_file;
    return out;
  }
  if (std::find(kExcludeDirContents.begin(), kExcludeDirContents.end(), name) !=
          kExcludeDirContents.end() ||
      (root == BackupRoot::data_directory && relative_path == "pg_wal")) {
    out.kind = BackupPathKind::empty_directory;
    return out;
  }
  if (type == EntryType::symbolic_link) {
    if (root == BackupRoot::data_directory && n == 2 && parts[0] == "pg_tblspc") {
      out.kind = BackupPathKind::tablespace_link;
      return out;
    }
    return excluded(ExclusionReason::special_file);
  }
  if (type == EntryType::directory) {
    out.kind = BackupPathKind::directory;
    return out;
  }
  if (type != EntryType::regular_file) return excluded(ExclusionReason::special_file);

  out.checksummed =
      (root == BackupRoot::tablespace || parts[0] == "global" || parts[0] == "base") &&
      !matches_any(name, kNoChecksumFiles);
  if (relation && !relation->temp_backend) {
    out.kind = BackupPathKind::relation_file;
    out.relation = relation;
  } else {
    out.kind = BackupPathKind::other_file;
  }
  return out;
}

namespace {

EntryType entry_type(const fs::file_status& status) {
  switch (status.type()) {
    case fs::file_type::regular:
      return EntryType::regular_file;
    case fs::file_type::directory:
      return EntryType::directory;
    case fs::file_type::symlink:
      return EntryType::symbolic_link;
    default:
      return EntryType::other;
  }
}

[[noreturn]] void throw_fs(const std::string& what, const fs::path& path,
                           const std::error_code& ec) {
  throw Error(ErrorKind::io, what + " \"" + path.string() + "\": " + ec.message());
}

class Walker {
 public:
  explicit Walker(DataDirectoryListing& out) : out_(out) {}

  // Lists `directory` (whose path relative to the root is `relative`, empty
  // for the root itself) into out_.
  void walk(BackupRoot root, std::uint32_t tablespace_oid, const fs::path& directory,
            const std::string& relative) {
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(directory, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory && !relative.empty()) return;  // went away
      throw_fs("could not open directory", directory, ec);
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) throw_fs("could not read directory", directory, ec);
      names.push_back(it->path().filename().string());
    }
    if (ec) throw_fs("could not read directory", directory, ec);
    std::sort(names.begin(), names.end());
    const std::set<std::string> name_set(names.begin(), names.end());

    for (const auto& name : names) {
      const fs::path source = directory / name;
      const std::string path = relative.empty() ? name : relative + "/" + name;
      const fs::file_status status = fs::symlink_status(source, ec);
      if (ec || status.type() == fs::file_type::not_found) {
        if (ec == std::errc::no_such_file_or_directory || status.type() == fs::file_type::not_found)
          continue;  // the file went away while scanning: not an error
        throw_fs("could not stat", source, ec);
      }
      std::size_t digits = 0;
      while (digits < name.size() && is_digit(name[digits])) ++digits;
      const bool has_init_fork = digits > 0 && name_set.count(name.substr(0, digits) + "_init") > 0;
      BackupPathClass cls = classify_backup_path(root, path, entry_type(status), has_init_fork);
      BackupEntry entry;
      entry.tablespace_oid = tablespace_oid;
      entry.path = path;
      entry.kind = cls.kind;
      entry.source = source;
      entry.relation = cls.relation;
      if (entry.relation && root == BackupRoot::tablespace)
        entry.relation->tablespace_oid = tablespace_oid;
      entry.checksummed = cls.checksummed;
      switch (cls.kind) {
        case BackupPathKind::excluded:
          out_.excluded.emplace_back(
              tablespace_oid == 0 ? path
                                  : "pg_tblspc/" + std::to_string(tablespace_oid) + "/" + path,
              cls.reason);
          break;
        case BackupPathKind::empty_directory:
          out_.entries.push_back(entry);
          if (root == BackupRoot::data_directory && path == "pg_wal") {
            BackupEntry status_dir;
            status_dir.path = "pg_wal/archive_status";
            status_dir.kind = BackupPathKind::empty_directory;
            out_.entries.push_back(status_dir);
          }
          break;
        case BackupPathKind::directory:
          out_.entries.push_back(entry);
          walk(root, tablespace_oid, source, path);
          break;
        case BackupPathKind::tablespace_link: {
          const auto oid = parse_oid(name);
          if (!oid)
            throw Error(ErrorKind::corrupt, "pg_tblspc entry \"" + name +
                                                "\" is not a tablespace oid (1 to 10 digits)");
          entry.link_target = fs::read_symlink(source, ec).string();
          if (ec) throw_fs("could not read symbolic link", source, ec);
          out_.entries.push_back(entry);
          out_.tablespaces.push_back({*oid, fs::path(entry.link_target)});
          break;
        }
        case BackupPathKind::control_file:
          control_ = entry;
          break;
        case BackupPathKind::relation_file:
        case BackupPathKind::other_file: {
          const auto size = fs::file_size(source, ec);
          if (ec) {
            if (ec == std::errc::no_such_file_or_directory) continue;
            throw_fs("could not stat", source, ec);
          }
          entry.size = size;
          out_.entries.push_back(entry);
          break;
        }
      }
    }
  }

  std::optional<BackupEntry> control_;

 private:
  DataDirectoryListing& out_;
};

}  // namespace

std::uint64_t DataDirectoryListing::file_bytes() const {
  std::uint64_t total = 0;
  for (const BackupEntry& e : entries) total += e.size;
  return total;
}

DataDirectoryListing list_data_directory(const fs::path& data_directory) {
  DataDirectoryListing out;
  Walker walker(out);
  walker.walk(BackupRoot::data_directory, 0, data_directory, "");
  std::sort(out.tablespaces.begin(), out.tablespaces.end(),
            [](const Tablespace& a, const Tablespace& b) { return a.oid < b.oid; });
  for (const auto& tablespace : out.tablespaces) {
    std::error_code ec;
    fs::path location = tablespace.location;
    if (location.is_relative()) location = data_directory / "pg_tblspc" / location;
    if (!fs::exists(location, ec)) continue;  // went away while scanning (sendTablespace)
    walker.walk(BackupRoot::tablespace, tablespace.oid, location, "");
  }
  if (!walker.control_)
    throw Error(ErrorKind::not_found, "\"" + (data_directory / "global/pg_control").string() +
                                          "\" is missing: not a PostgreSQL data directory");
  std::error_code ec;
  walker.control_->size = fs::file_size(walker.control_->source, ec);
  if (ec) throw_fs("could not stat control file", walker.control_->source, ec);
  out.entries.push_back(*walker.control_);
  return out;
}

}  // namespace pgvault
