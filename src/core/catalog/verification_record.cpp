#include "pgvault/catalog/verification_record.hpp"

#include "record_fields.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"

#include <nlohmann/json.hpp>

namespace pgvault {

namespace {

constexpr std::string_view kVerificationsDir = "/verifications/";
constexpr std::string_view kRecordSuffix = ".json";

// "<sysid>/verifications/<name>.json" -> (sysid, name); false for other keys.
bool split_record_path(const std::string& path, std::string& sysid, std::string& name) {
  const auto slash = path.find('/');
  if (slash == std::string::npos ||
      path.compare(slash, kVerificationsDir.size(), kVerificationsDir) != 0)
    return false;
  const std::string rest = path.substr(slash + kVerificationsDir.size());
  if (rest.size() <= kRecordSuffix.size() || !rest.ends_with(kRecordSuffix) ||
      rest.find('/') != std::string::npos)
    return false;
  sysid = path.substr(0, slash);
  name = rest.substr(0, rest.size() - kRecordSuffix.size());
  return true;
}

}  // namespace

std::string VerificationRecord::to_json() const {
  nlohmann::ordered_json j;
  j["format_version"] = format_version;
  j["backup"] = backup;
  j["system_identifier"] = system_identifier;
  j["kind"] = kind;
  j["verified_at"] = verified_at;
  j["status"] = passed ? "passed" : "failed";
  j["error"] = passed ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error);
  j["verified_by"] = verified_by;
  j["restore_test"] = restore_test;
  j["objects"] = objects;
  j["bytes_read"] = bytes_read;
  return j.dump(2) + "\n";
}

VerificationRecord VerificationRecord::from_json(std::string_view json) {
  const RecordFields fields("verification record", json);
  VerificationRecord r;
  r.format_version = fields.format_version(kFormatVersion);
  r.backup = fields.text("backup", false);
  r.system_identifier = fields.text("system_identifier", false);
  r.kind = fields.text("kind", false);
  r.verified_at = fields.time("verified_at");
  r.passed = fields.outcome("passed", "failed", r.error);
  r.verified_by = fields.text("verified_by", false);
  r.restore_test = fields.flag("restore_test");
  r.objects = fields.count("objects");
  r.bytes_read = fields.count("bytes_read");
  return r;
}

std::string verification_record_path(const std::string& system_identifier,
                                     const std::string& backup) {
  validate_record_system_identifier(system_identifier);
  Repository::validate_backup_name(backup);
  return system_identifier + std::string(kVerificationsDir) + backup + std::string(kRecordSuffix);
}

void write_verification_record(Repository& repo, const VerificationRecord& record) {
  repo.check_format();
  repo.storage().write_all(verification_record_path(record.system_identifier, record.backup),
                           record.to_json());
}

std::optional<std::string> record_verification(Repository& repo, const VerificationRecord& record) {
  try {
    write_verification_record(repo, record);
    return std::nullopt;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled || e.kind() == ErrorKind::internal) throw;
    return "the outcome of verifying backup \"" + record.backup +
           "\" was not recorded in the repository (" +
           verification_record_path(record.system_identifier, record.backup) + "): " + e.what();
  }
}

const VerificationRecord* VerificationListing::find(const std::string& system_identifier,
                                                    const std::string& backup) const {
  auto it = records.find({system_identifier, backup});
  return it == records.end() ? nullptr : &it->second;
}

VerificationListing read_verification_records(Repository& repo,
                                              const std::string& system_identifier) {
  repo.check_format();
  Storage& storage = repo.storage();
  std::string prefix;
  if (!system_identifier.empty()) {
    validate_record_system_identifier(system_identifier);
    prefix = system_identifier + std::string(kVerificationsDir);
  }
  VerificationListing out;
  std::string sysid, name;
  for (const ObjectInfo& obj : storage.list(prefix)) {
    if (!split_record_path(obj.path, sysid, name)) continue;
    const std::string& where = obj.path;
    try {
      Repository::validate_backup_name(name);
      std::string text;
      try {
        text = storage.read_all(obj.path);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) continue;  // removed since the listing
        throw;
      }
      VerificationRecord r = VerificationRecord::from_json(text);
      if (r.backup != name || r.system_identifier != sysid)
        throw Error(ErrorKind::corrupt, "verification record describes backup \"" + r.backup +
                                            "\" of system " + r.system_identifier);
      out.records.emplace(std::make_pair(sysid, name), std::move(r));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::corrupt && e.kind() != ErrorKind::unsupported &&
          e.kind() != ErrorKind::invalid_argument)
        throw;
      out.unreadable.push_back({sysid, name, where + ": " + e.what()});
    }
  }
  return out;
}

void remove_verification_record(Repository& repo, const std::string& system_identifier,
                                const std::string& backup) {
  repo.storage().remove(verification_record_path(system_identifier, backup));
}

}  // namespace pgvault
