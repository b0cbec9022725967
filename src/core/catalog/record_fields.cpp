#include "record_fields.hpp"

#include "pgvault/error.hpp"
#include "pgvault/timestamp.hpp"

namespace pgvault {

void validate_record_system_identifier(const std::string& sysid) {
  if (sysid.empty() || sysid.find('/') != std::string::npos || sysid == "." || sysid == "..")
    throw Error(ErrorKind::invalid_argument, "invalid system identifier \"" + sysid + "\"");
}

RecordFields::RecordFields(std::string_view what, std::string_view json) : what_(what) {
  try {
    json_ = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorKind::corrupt, what_ + " is not valid JSON: " + e.what());
  }
  if (!json_.is_object()) throw Error(ErrorKind::corrupt, what_ + " is not a JSON object");
}

void RecordFields::bad(std::string_view field, std::string_view expected) const {
  throw Error(ErrorKind::corrupt, what_ + ": \"" + std::string(field) + "\" is missing or not " +
                                      std::string(expected));
}

int RecordFields::format_version(int understood) const {
  const auto it = json_.find("format_version");
  if (it == json_.end() || !it->is_number_integer() || it->get<long long>() < 1 ||
      it->get<long long>() > 1000000)
    bad("format_version", "a positive integer");
  const int version = it->get<int>();
  if (version > understood)
    throw Error(ErrorKind::unsupported, what_ + " format_version " + std::to_string(version) +
                                            " is newer than this pgvault understands (" +
                                            std::to_string(understood) +
                                            "); upgrade pgvault to read it");
  return version;
}

std::string RecordFields::text(const char* field, bool may_be_empty) const {
  const auto it = json_.find(field);
  if (it == json_.end() || !it->is_string() ||
      (!may_be_empty && it->get_ref<const std::string&>().empty()))
    bad(field, may_be_empty ? "a string" : "a non-empty string");
  return it->get<std::string>();
}

std::string RecordFields::time(const char* field) const {
  std::string t = text(field, false);
  try {
    (void)parse_utc_timestamp(t);
  } catch (const Error&) {
    bad(field, "an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)");
  }
  return t;
}

std::uint64_t RecordFields::count(const char* field) const {
  const auto it = json_.find(field);
  if (it == json_.end() || !it->is_number_unsigned()) bad(field, "a non-negative integer");
  return it->get<std::uint64_t>();
}

bool RecordFields::flag(const char* field) const {
  const auto it = json_.find(field);
  if (it == json_.end() || !it->is_boolean()) bad(field, "a boolean");
  return it->get<bool>();
}

bool RecordFields::outcome(std::string_view success, std::string_view failure,
                           std::string& error) const {
  const std::string status = text("status", false);
  if (status != success && status != failure)
    bad("status", "\"" + std::string(success) + "\" or \"" + std::string(failure) + "\"");
  if (status == success) {
    const auto it = json_.find("error");
    if (it != json_.end() && !it->is_null())
      bad("error", "null when the status is \"" + std::string(success) + "\"");
    error.clear();
    return true;
  }
  error = text("error", false);
  return false;
}

}  // namespace pgvault
