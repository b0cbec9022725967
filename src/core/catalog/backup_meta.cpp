#include "pgvault/catalog/backup_meta.hpp"

#include "pgvault/physical/changed_blocks.hpp"

#include "pgvault/catalog/repository.hpp"  // validate_backup_name
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_name.hpp"  // validate_wal_segment_size

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>

#include <nlohmann/json.hpp>

namespace pgvault {

namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorKind::corrupt, "backup.json: " + what);
}

const json& field(const json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) corrupt("field '" + path + "' is missing");
  return *it;
}

std::string get_string(const json& obj, const std::string& key, const std::string& prefix = "") {
  std::string path = prefix + key;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string())
    corrupt("field '" + path + "' is missing or not a string");
  return it->get<std::string>();
}

std::uint64_t get_u64(const json& obj, const std::string& key, const std::string& prefix = "",
                      std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  std::string path = prefix + key;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer() ||
      (it->is_number_integer() && !it->is_number_unsigned() && it->get<std::int64_t>() < 0))
    corrupt("field '" + path + "' is missing or not a non-negative integer");
  std::uint64_t v = it->get<std::uint64_t>();
  if (v > max) corrupt("field '" + path + "' is out of range (" + std::to_string(v) + ")");
  return v;
}

int get_int(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer())
    corrupt("field '" + key + "' is missing or not an integer");
  std::int64_t v = it->get<std::int64_t>();
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    corrupt("field '" + key + "' is out of range (" + std::to_string(v) + ")");
  return static_cast<int>(v);
}

const json& get_array(const json& obj, const std::string& key) {
  const json& v = field(obj, key, key);
  if (!v.is_array()) corrupt("field '" + key + "' is not an array");
  return v;
}

bool get_bool(const json& obj, const std::string& key, const std::string& prefix) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean())
    corrupt("field '" + prefix + key + "' is missing or not a boolean");
  return it->get<bool>();
}

std::vector<std::string> get_strings(const json& obj, const std::string& key,
                                     const std::string& prefix) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) corrupt("field '" + prefix + key + "' is not an array");
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) corrupt("field '" + prefix + key + "' holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// An object name is a path below the backup's directory: relative, no "..".
bool is_safe_object_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = name.find('/', start);
    std::string_view comp =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

namespace {

ojson logical_json(const LogicalOptions& o) {
  return ojson{{"schema_only", o.schema_only},
               {"data_only", o.data_only},
               {"include_tables", o.include_tables},
               {"exclude_tables", o.exclude_tables}};
}

}  // namespace

std::string LogicalOptions::to_json() const {
  return logical_json(*this).dump();
}

LogicalOptions LogicalOptions::from_json(std::string_view text) {
  auto bad = [](const std::string& why) {
    throw Error(ErrorKind::invalid_argument, "logical backup options: " + why);
  };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
  LogicalOptions o;
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) continue;
    if (key == "schema_only" || key == "data_only") {
      if (!value.is_boolean()) bad(key + " must be true or false");
      (key == "schema_only" ? o.schema_only : o.data_only) = value.get<bool>();
    } else if (key == "include_tables" || key == "exclude_tables") {
      if (!value.is_array()) bad(key + " must be an array of table patterns");
      auto& out = key == "include_tables" ? o.include_tables : o.exclude_tables;
      for (const auto& v : value) {
        if (!v.is_string()) bad(key + " must hold text");
        out.push_back(v.get<std::string>());
      }
    } else {
      bad("unknown option \"" + key + "\"");
    }
  }
  return o;
}

std::string BackupMeta::to_json() const {
  ojson j;
  const bool incremental = kind == "incremental";
  j["format_version"] =
      incremental ? std::max(format_version, kIncrementalFormatVersion) : format_version;
  j["name"] = name;
  j["kind"] = kind;
  if (kind == "incremental") j["parent"] = parent;
  if (kind == "incremental" && !changed_pages.empty()) j["changed_pages"] = changed_pages;
  j["label"] = label;
  j["trigger"] = trigger;
  j["initiated_by"] = initiated_by;
  j["database"] = database;
  j["system_identifier"] = system_identifier;
  j["pg_version"] = pg_version;
  j["timeline"] = timeline;
  if (wal_segment_size != 0) j["wal_segment_size"] = wal_segment_size;
  j["start_lsn"] = start_lsn;
  j["stop_lsn"] = stop_lsn;
  j["started_at"] = started_at;
  j["completed_at"] = completed_at;
  j["compression"] = compression;
  j["compression_level"] = compression_level;
  j["compressed_by"] = compressed_by;
  j["encryption"] = encryption;
  if (encryption != "none") {
    j["key_fingerprint"] = key_fingerprint;
    j["key_derivation"] = key_derivation;
  }
  j["source_bytes"] = source_bytes;
  j["stored_bytes"] = stored_bytes;
  j["digest"] = digest();  // informational: recomputed from objects, never trusted on read
  ojson ts = ojson::array();
  for (const auto& t : tablespaces) ts.push_back({{"oid", t.oid}, {"location", t.location}});
  j["tablespaces"] = std::move(ts);
  ojson objs = ojson::array();
  for (const auto& o : objects)
    objs.push_back({{"name", o.name}, {"size", o.size}, {"sha256", o.sha256}});
  j["objects"] = std::move(objs);
  if (kind == "logical") j["logical"] = logical_json(logical);
  return j.dump(2) + "\n";
}

BackupMeta BackupMeta::from_json(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    corrupt(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) corrupt("not a JSON object");

  BackupMeta m;
  m.format_version = get_int(j, "format_version");
  if (m.format_version > kNewestFormatVersion)
    throw Error(ErrorKind::unsupported, "backup.json: format_version " +
                                            std::to_string(m.format_version) +
                                            " is newer than this pgvault understands (" +
                                            std::to_string(kNewestFormatVersion) +
                                            "); upgrade pgvault to read this backup");
  if (m.format_version < 1)
    corrupt("field 'format_version' is invalid (" + std::to_string(m.format_version) + ")");

  m.name = get_string(j, "name");
  m.kind = get_string(j, "kind");
  if (m.kind == "incremental") {
    if (m.format_version < kIncrementalFormatVersion)
      corrupt("an incremental backup needs format_version " +
              std::to_string(kIncrementalFormatVersion) + " or newer, not " +
              std::to_string(m.format_version));
    m.parent = get_string(j, "parent");
    try {
      Repository::validate_backup_name(m.parent);
    } catch (const Error& e) {
      corrupt(std::string("field 'parent': ") + e.what());
    }
    if (j.contains("changed_pages")) m.changed_pages = get_string(j, "changed_pages");
  }
  m.label = get_string(j, "label");
  m.trigger = get_string(j, "trigger");
  m.initiated_by = get_string(j, "initiated_by");
  m.database = get_string(j, "database");
  m.system_identifier = get_string(j, "system_identifier");
  m.pg_version = get_int(j, "pg_version");
  m.timeline = static_cast<std::uint32_t>(
      get_u64(j, "timeline", "", std::numeric_limits<std::uint32_t>::max()));
  // Absent in backup.json files written before it was recorded.
  if (j.contains("wal_segment_size")) {
    m.wal_segment_size = get_u64(j, "wal_segment_size");
    try {
      validate_wal_segment_size(m.wal_segment_size);
    } catch (const Error& e) {
      corrupt(std::string("field 'wal_segment_size': ") + e.what());
    }
  }
  m.start_lsn = get_string(j, "start_lsn");
  m.stop_lsn = get_string(j, "stop_lsn");
  m.started_at = get_string(j, "started_at");
  m.completed_at = get_string(j, "completed_at");
  m.compression = get_string(j, "compression");
  m.compression_level = get_int(j, "compression_level");
  m.compressed_by = get_string(j, "compressed_by");
  // Absent in backup.json files written before encryption existed.
  if (j.contains("encryption")) m.encryption = get_string(j, "encryption");
  if (m.encryption != "none") {
    if (m.encryption != "aes-256-gcm")
      throw Error(ErrorKind::unsupported, "backup.json: encryption \"" + m.encryption +
                                              "\" is not supported by this pgvault");
    m.key_fingerprint = get_string(j, "key_fingerprint");
    m.key_derivation = get_string(j, "key_derivation");
  }
  m.source_bytes = get_u64(j, "source_bytes");
  m.stored_bytes = get_u64(j, "stored_bytes");

  const json& ts = get_array(j, "tablespaces");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    std::string p = "tablespaces[" + std::to_string(i) + "].";
    if (!ts[i].is_object())
      corrupt("field 'tablespaces[" + std::to_string(i) + "]' is not an object");
    m.tablespaces.push_back({get_string(ts[i], "oid", p), get_string(ts[i], "location", p)});
  }

  const json& objs = get_array(j, "objects");
  for (std::size_t i = 0; i < objs.size(); ++i) {
    std::string p = "objects[" + std::to_string(i) + "].";
    if (!objs[i].is_object())
      corrupt("field 'objects[" + std::to_string(i) + "]' is not an object");
    ObjectEntry o;
    o.name = get_string(objs[i], "name", p);
    if (!is_safe_object_name(o.name))
      corrupt("field '" + p + "name' is not a relative object name (\"" + o.name + "\")");
    o.size = get_u64(objs[i], "size", p);
    o.sha256 = get_string(objs[i], "sha256", p);
    if (!is_sha256_hex(o.sha256))
      corrupt("field '" + p + "sha256' is not a lower-case SHA-256 hex digest");
    if (m.find_object(o.name)) corrupt("object \"" + o.name + "\" is listed twice");
    m.objects.push_back(std::move(o));
  }
  if (m.kind == "incremental" && m.format_version >= kChangedBlocksFormatVersion &&
      m.find_object(kChangedBlocksObject) == nullptr)
    corrupt("an incremental backup of format_version " + std::to_string(m.format_version) +
            " lists its changed blocks in a \"" + kChangedBlocksObject +
            "\" object, and 'objects' has none");
  if (m.kind == "logical") {
    const json& l = field(j, "logical", "logical");
    if (!l.is_object()) corrupt("field 'logical' is not an object");
    m.logical.schema_only = get_bool(l, "schema_only", "logical.");
    m.logical.data_only = get_bool(l, "data_only", "logical.");
    m.logical.include_tables = get_strings(l, "include_tables", "logical.");
    m.logical.exclude_tables = get_strings(l, "exclude_tables", "logical.");
  }
  return m;
}

std::string BackupMeta::digest() const {
  std::vector<const ObjectEntry*> sorted;
  sorted.reserve(objects.size());
  for (const auto& o : objects) sorted.push_back(&o);
  std::sort(sorted.begin(), sorted.end(),
            [](const ObjectEntry* a, const ObjectEntry* b) { return a->name < b->name; });
  Sha256 h;
  for (const ObjectEntry* o : sorted) {
    h.update(o->sha256);
    h.update("  ");
    h.update(o->name);
    h.update("\n");
  }
  return h.final_hex();
}

const ObjectEntry* BackupMeta::find_object(std::string_view object_name) const {
  for (const auto& o : objects)
    if (o.name == object_name) return &o;
  return nullptr;
}

BackupMeta begin_backup_meta(const BackupOrigin& origin, std::string kind) {
  BackupMeta meta;
  meta.name = origin.name;
  meta.kind = std::move(kind);
  meta.label = origin.label;
  meta.trigger = origin.trigger;
  meta.initiated_by = origin.initiated_by;
  meta.database = origin.database;
  meta.system_identifier = origin.system_identifier;
  meta.pg_version = origin.pg_version;
  if (meta.is_physical()) meta.wal_segment_size = origin.wal_segment_size;
  if (meta.kind == "incremental") meta.format_version = BackupMeta::kChangedBlocksFormatVersion;
  meta.started_at = utc_timestamp_now();
  return meta;
}

void record_encryption(BackupMeta& meta, const EncryptionKey* key) {
  if (key == nullptr) return;
  EncryptionRecord record = encryption_record(*key);
  meta.encryption = record.algorithm;
  meta.key_fingerprint = record.key_fingerprint;
  meta.key_derivation = record.key_derivation;
}

}  // namespace pgvault
