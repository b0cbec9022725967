#include "pgvault/catalog/restore_record.hpp"

#include "record_fields.hpp"

#include "pgvault/catalog/metrics.hpp"  // utc_seconds
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace pgvault {

namespace {

constexpr std::string_view kRestoresDir = "/restores/";
constexpr std::string_view kRecordSuffix = ".json";

}  // namespace

std::string RestoreRecord::to_json() const {
  nlohmann::ordered_json j;
  j["format_version"] = format_version;
  j["system_identifier"] = system_identifier;
  j["backup"] = backup;
  j["kind"] = kind;
  j["restore"] = restore;
  j["started_at"] = started_at;
  j["finished_at"] = finished_at;
  j["status"] = succeeded ? "succeeded" : "failed";
  j["error"] = succeeded ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error);
  j["restored_by"] = restored_by;
  j["target"] = target;
  j["recovery_target"] = recovery_target;
  j["bytes_written"] = bytes_written;
  return j.dump(2) + "\n";
}

RestoreRecord RestoreRecord::from_json(std::string_view json) {
  const RecordFields fields("restore record", json);
  RestoreRecord r;
  r.format_version = fields.format_version(kFormatVersion);
  r.system_identifier = fields.text("system_identifier", false);
  r.backup = fields.text("backup", false);
  r.kind = fields.text("kind", false);
  r.restore = fields.text("restore", false);
  r.started_at = fields.time("started_at");
  r.finished_at = fields.time("finished_at");
  r.succeeded = fields.outcome("succeeded", "failed", r.error);
  r.restored_by = fields.text("restored_by", true);
  r.target = fields.text("target", true);
  r.recovery_target = fields.text("recovery_target", true);
  r.bytes_written = fields.count("bytes_written");
  return r;
}

std::string restore_records_prefix(const std::string& system_identifier) {
  validate_record_system_identifier(system_identifier);
  return system_identifier + std::string(kRestoresDir);
}

std::optional<std::string> record_restore(Repository& repo, const RestoreRecord& record) {
  std::string key;
  try {
    Repository::validate_backup_name(record.backup);
    const std::string base = restore_records_prefix(record.system_identifier) +
                             compact_timestamp(std::string_view(record.started_at)) + "-" +
                             record.backup;
    repo.check_format();
    key = base + std::string(kRecordSuffix);
    for (int n = 2; repo.storage().info(key); ++n)
      key = base + "-" + std::to_string(n) + std::string(kRecordSuffix);
    repo.storage().write_all(key, record.to_json());
    return std::nullopt;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled || e.kind() == ErrorKind::internal) throw;
    return "the restore of backup \"" + record.backup + "\" was not recorded in the repository" +
           (key.empty() ? std::string() : " (" + key + ")") + ": " + e.what();
  }
}

RestoreListing read_restore_records(Repository& repo, const std::string& system_identifier) {
  repo.check_format();
  Storage& storage = repo.storage();
  // One listing: of the system's records, or of the whole repository.
  const std::vector<ObjectInfo> objects = storage.list(
      system_identifier.empty() ? std::string() : restore_records_prefix(system_identifier));
  RestoreListing out;
  for (const ObjectInfo& obj : objects) {
    const auto slash = obj.path.find('/');
    if (slash == std::string::npos ||
        obj.path.compare(slash, kRestoresDir.size(), kRestoresDir) != 0)
      continue;
    const std::string sysid = obj.path.substr(0, slash);
    const std::string rest = obj.path.substr(slash + kRestoresDir.size());
    if (!rest.ends_with(kRecordSuffix) || rest.find('/') != std::string::npos) continue;
    try {
      std::string text;
      try {
        text = storage.read_all(obj.path);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) continue;  // removed since the listing
        throw;
      }
      RestoreRecord r = RestoreRecord::from_json(text);
      if (r.system_identifier != sysid)
        throw Error(ErrorKind::corrupt,
                    "restore record describes system \"" + r.system_identifier + "\"");
      Repository::validate_backup_name(r.backup);
      out.records.push_back(std::move(r));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::corrupt && e.kind() != ErrorKind::unsupported &&
          e.kind() != ErrorKind::invalid_argument)
        throw;
      out.unreadable.push_back({sysid, obj.path, e.what()});
    }
  }
  // Oldest first; records of the same second in the order they finished.
  std::stable_sort(out.records.begin(), out.records.end(),
                   [](const RestoreRecord& a, const RestoreRecord& b) {
                     return std::make_pair(utc_seconds(a.started_at), utc_seconds(a.finished_at)) <
                            std::make_pair(utc_seconds(b.started_at), utc_seconds(b.finished_at));
                   });
  return out;
}

}  // namespace pgvault
