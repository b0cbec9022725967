#include "restore_recording.hpp"

#include "text_output.hpp"

#include "pgvault/timestamp.hpp"

#include <iostream>
#include <pwd.h>
#include <unistd.h>

namespace pgvault::cli {

std::string os_user_at_host() {
  std::string user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr)
    user = pw->pw_name;
  else
    user = "uid " + std::to_string(::geteuid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') user += std::string("@") + host;
  return user;
}

RestoreRecording::RestoreRecording(Repository& repo, const BackupMeta& meta, std::string what,
                                   std::string target, std::string recovery_target)
    : repo_(repo) {
  record_.system_identifier = meta.system_identifier;
  record_.backup = meta.name;
  record_.kind = meta.kind;
  record_.restore = std::move(what);
  record_.target = std::move(target);
  record_.recovery_target = std::move(recovery_target);
  record_.restored_by = os_user_at_host();
  record_.started_at = utc_timestamp_now();
}

void RestoreRecording::finish(bool succeeded, const std::string& error,
                              std::uint64_t bytes_written) {
  if (done_) return;
  done_ = true;
  record_.finished_at = utc_timestamp_now();
  record_.succeeded = succeeded;
  record_.error = succeeded ? std::string() : (error.empty() ? "failed" : error);
  record_.bytes_written = bytes_written;
  if (auto warning = record_restore(repo_, record_)) warn(*warning);
}

}  // namespace pgvault::cli
