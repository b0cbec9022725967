// --backup NAME|latest, the same way for every command: "latest" is the
// newest complete backup the command can use (see BackupSelector), and the
// command says which one that was.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"

#include <ostream>
#include <string>

namespace pgvault::cli {

// A name is resolved as it is (the command checks its kind); "latest" picks
// the newest backup latest_of selects and prints one line saying so on
// `say`. When there is none, the not_found error ends with `hint` (e.g. what
// the command can use instead).
BackupMeta choose_backup(Repository& repo, const std::string& name_or_latest,
                         const std::string& system_id, const BackupSelector& latest_of,
                         std::ostream& say, const std::string& hint = {});
// "latest" as choose_backup picks and announces it, from a listing the caller
// took with repo.list_all(system_id) and goes on using.
BackupMeta choose_latest(Repository& repo, const RepositoryListing& listing,
                         const std::string& system_id, const BackupSelector& latest_of,
                         std::ostream& say, const std::string& hint = {});

}  // namespace pgvault::cli
