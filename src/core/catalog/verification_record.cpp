#include "pgvault/catalog/verification_record.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/timestamp.hpp"

#include <nlohmann/json.hpp>

namespace pgvault {

namespace {

constexpr std::string_view kVerificationsDir = "/verifications/";
constexpr std::string_view kRecordSuffix = ".json";

void validate_record_system_identifier(const std::string& sysid) {
  if (sysid.empty() || sysid.find('/') != std::string::npos || sysid == "." || sysid == "..")
    throw Error(ErrorKind::invalid_argument, "invalid system identifier \"" + sysid + "\"");
}

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
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorKind::corrupt,
                std::string("verification record is not valid JSON: ") + e.what());
  }
  auto bad = [](const std::string& field, const std::string& expected) {
    return Error(ErrorKind::corrupt,
                 "verification record: \"" + field + "\" is missing or not " + expected);
  };
  if (!j.is_object()) throw Error(ErrorKind::corrupt, "verification record is not a JSON object");
  auto text = [&](const char* field, bool may_be_empty) {
    if (!j.contains(field) || !j[field].is_string() ||
        (!may_be_empty && j[field].get_ref<const std::string&>().empty()))
      throw bad(field, may_be_empty ? "a string" : "a non-empty string");
    return j[field].get<std::string>();
  };
  auto count = [&](const char* field) {
    if (!j.contains(field) || !j[field].is_number_unsigned())
      throw bad(field, "a non-negative integer");
    return j[field].get<std::uint64_t>();
  };
  VerificationRecord r;
  if (!j.contains("format_version") || !j["format_version"].is_number_integer() ||
      j["format_version"].get<long long>() < 1 || j["format_version"].get<long long>() > 1000000)
    throw bad("format_version", "a positive integer");
  r.format_version = j["format_version"].get<int>();
  if (r.format_version > kFormatVersion)
    throw Error(ErrorKind::unsupported,
                "verification record format_version " + std::to_string(r.format_version) +
                    " is newer than this pgvault understands (" + std::to_string(kFormatVersion) +
                    "); upgrade pgvault to read it");
  r.backup = text("backup", false);
  r.system_identifier = text("system_identifier", false);
  r.kind = text("kind", false);
  r.verified_at = text("verified_at", false);
  try {
    (void)parse_utc_timestamp(r.verified_at);
  } catch (const Error&) {
    throw bad("verified_at", "an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)");
  }
  const std::string status = text("status", false);
  if (status != "passed" && status != "failed") throw bad("status", "\"passed\" or \"failed\"");
  r.passed = status == "passed";
  if (r.passed) {
    if (j.contains("error") && !j["error"].is_null())
      throw bad("error", "null for a passed verification");
  } else {
    r.error = text("error", false);
  }
  r.verified_by = text("verified_by", false);
  if (!j.contains("restore_test") || !j["restore_test"].is_boolean())
    throw bad("restore_test", "a boolean");
  r.restore_test = j["restore_test"].get<bool>();
  r.objects = count("objects");
  r.bytes_read = count("bytes_read");
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
