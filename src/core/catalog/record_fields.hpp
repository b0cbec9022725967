// Contract: reads the members of the small JSON records pgvault writes into
// the repository beside the backups (<sysid>/verifications/, <sysid>/restores/).
// Whatever is read from a repository is untrusted, so every member is checked
// on the way in, and an error (ErrorKind::corrupt, or ::unsupported for a
// newer format) names the record, the member and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pgvault {

// A system identifier that can be one component of a repository path.
void validate_record_system_identifier(const std::string& system_identifier);

class RecordFields {
 public:
  // `what` names the record in errors ("restore record").
  RecordFields(std::string_view what, std::string_view json);

  // format_version, at least 1 and at most `understood` (newer: upgrade pgvault).
  int format_version(int understood) const;
  std::string text(const char* field, bool may_be_empty) const;
  // An ISO 8601 UTC time, as pgvault writes them.
  std::string time(const char* field) const;
  std::uint64_t count(const char* field) const;
  bool flag(const char* field) const;
  // "status" is `success` or `failure`; "error" is null on success and a
  // non-empty string (returned in `error`) on failure.
  bool outcome(std::string_view success, std::string_view failure, std::string& error) const;

 private:
  [[noreturn]] void bad(std::string_view field, std::string_view expected) const;

  std::string what_;
  nlohmann::json json_;
};

}  // namespace pgvault
