#include "backup_choice.hpp"

#include "text_output.hpp"

#include "pgvault/error.hpp"

namespace pgvault::cli {

BackupMeta choose_backup(Repository& repo, const std::string& name_or_latest,
                         const std::string& system_id, const BackupSelector& latest_of,
                         std::ostream& say, const std::string& hint) {
  if (name_or_latest != "latest") return repo.resolve(name_or_latest, system_id);
  return choose_latest(repo, repo.list_all(system_id), system_id, latest_of, say, hint);
}

BackupMeta choose_latest(Repository& repo, const RepositoryListing& listing,
                         const std::string& system_id, const BackupSelector& latest_of,
                         std::ostream& say, const std::string& hint) {
  BackupMeta meta;
  try {
    meta = repo.latest(listing, system_id, latest_of);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found || hint.empty()) throw;
    throw Error(e.kind(), std::string(e.what()) + "; " + hint);
  }
  say << "--backup latest: \"" << meta.name << "\", the newest " << latest_of.describe()
      << " (system " << meta.system_identifier << ", completed " << or_dash(meta.completed_at)
      << ")\n"
      << std::flush;
  return meta;
}

}  // namespace pgvault::cli
