// vault.cleanup() and vault.delete_backup(): removing backups by policy or by hand.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "storage_settings.hpp"

#include "cluster_identity.hpp"
#include "configured_retention.hpp"
#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "history.hpp"
#include "logging.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

using namespace pgvault;
using namespace pgvault::pg;

namespace {

// The backup being written right now ("" when none): never touched.
std::string running_backup_name() {
  lock_shared();
  const JobSlot job = shared()->job;
  unlock_shared();
  return job.state == JobState::idle ? "" : job.name;
}

}  // namespace

// vault.cleanup(OUT name, OUT action): applies retention now.
PGVAULT_FUNCTION(pgvault_cleanup) {
  require_pgvault_database();
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  pg_guard([] { SPI_connect(); });
  const std::vector<history::PendingCleanup> pending = history::pending_cleanups();
  pg_guard([] { SPI_finish(); });
  const RetentionResult removed = apply_configured_retention(
      repo, guc_repository, system_identifier_string(), running_backup_name(), pending);
  pg_guard([] { SPI_connect(); });
  history::mark_removed(removed.expired, "expired");
  history::clear_cleanup_pending(removed.leftovers);
  pg_guard([] { SPI_finish(); });

  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& n : removed.expired) rows.emplace_back(n, "expired");
  for (const auto& n : removed.leftovers) rows.emplace_back(n, "removed incomplete backup");
  for (const auto& range : removed.wal_removed_ranges)
    rows.emplace_back(range, "removed archived WAL");
  pg_guard([&] {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (const auto& [name, action] : rows) {
      Datum values[2] = {CStringGetTextDatum(name.c_str()), CStringGetTextDatum(action.c_str())};
      bool nulls[2] = {false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  return static_cast<Datum>(0);
}

namespace {

// Removes one backup, with retention's guards; its name.
std::string delete_backup(FunctionCallInfo fcinfo) {
  require_pgvault_database();
  if (PG_ARGISNULL(0))
    throw Error(ErrorKind::invalid_argument,
                "the backup name must not be NULL; pass the name of a backup (see vault.history)");
  const std::string name = text_arg(fcinfo, 0);
  Repository::validate_backup_name(name);
  if (name == running_backup_name()) {
    throw Error(ErrorKind::conflict, "backup \"" + name +
                                         "\" is running; stop it with vault.cancel_backup() "
                                         "instead");
  }
  require_chosen_repository();
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  const std::string sysid = system_identifier_string();
  const std::vector<BackupMeta> complete = repo.list_backups(sysid);
  const auto found = std::find_if(complete.begin(), complete.end(),
                                  [&](const BackupMeta& m) { return m.name == name; });
  const bool is_complete = found != complete.end();
  // Per kind, like retention: the newest physical backup (the cluster's way
  // back) and the newest logical backup of each database and selection.
  const std::vector<std::string> newest =
      newest_of_each_group(retention_candidates(complete, sysid, ""));
  if (is_complete && std::find(newest.begin(), newest.end(), name) != newest.end()) {
    const std::string what =
        found->is_physical()
            ? "physical backup of this cluster"
            : "logical backup of database \"" + found->database + "\"" +
                  (found->logical == LogicalOptions{} ? "" : " with its selection");
    throw Error(ErrorKind::conflict, "backup \"" + name + "\" is the newest complete " + what +
                                         "; pgvault never removes it (take a newer one first)");
  }
  if (!is_complete && storage->list(Repository::backup_dir(sysid, name)).empty()) {
    throw Error(ErrorKind::not_found, "backup \"" + name + "\" not found in repository " +
                                          storage->url() + " (system " + sysid + ")");
  }
  if (is_complete) {
    const std::vector<std::string> dependents = dependent_backups(complete, name);
    if (!dependents.empty()) {
      std::string names;
      for (const auto& d : dependents) names += (names.empty() ? "\"" : ", \"") + d + "\"";
      throw Error(ErrorKind::conflict,
                  "backup \"" + name + "\" is the parent of incremental backup(s) " + names +
                      ", which restore only on top of it; delete those first (newest first), "
                      "or let retention expire the chain");
    }
    repo.remove_backup(sysid, name);
  } else {
    storage->remove_prefix(Repository::backup_dir(sysid, name));
  }
  log_message(LOG, "backup \"" + name + "\" deleted by hand");
  pg_guard([] { SPI_connect(); });
  history::mark_removed({name}, "deleted");
  pg_guard([] { SPI_finish(); });
  return name;
}

}  // namespace

// vault._delete_backup(name) RETURNS void: what 0.1 to 0.6 called
// delete_backup through; kept for their install scripts.
PGVAULT_FUNCTION(pgvault_delete_backup) {
  delete_backup(fcinfo);
  PG_RETURN_VOID();
}

// vault.delete_backup(name) RETURNS vault.history: the backup's row after
// (NULL when the backup was only in the repository).
PGVAULT_FUNCTION(pgvault_delete_backup_row) {
  const std::string name = delete_backup(fcinfo);
  const auto rows =
      spi_query_in_function("SELECT h.* FROM vault.history h WHERE h.name = $1", {name});
  if (rows.empty()) PG_RETURN_NULL();
  return row_as_result(fcinfo, rows[0]);
}
