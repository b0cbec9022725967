// vault.cleanup() and vault.delete_backup(): removing backups by policy or by hand.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/retention.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"

#include <string>
#include <utility>
#include <vector>

#include "storage_settings.hpp"

#include "error_boundary.hpp"
#include "fmgr_args.hpp"
#include "history.hpp"
#include "job_worker.hpp"
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

// vault._cleanup(OUT name, OUT action): applies retention now.
PGVAULT_FUNCTION(pgvault_cleanup) {
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  pg_guard([] { SPI_connect(); });
  const std::vector<std::string> abandoned = history::pending_cleanups();
  pg_guard([] { SPI_finish(); });
  const RetentionResult removed = apply_configured_retention(repo, system_identifier_string(),
                                                             running_backup_name(), abandoned);
  pg_guard([] { SPI_connect(); });
  history::mark_removed(removed.expired, "expired");
  history::clear_cleanup_pending(removed.leftovers);
  pg_guard([] { SPI_finish(); });

  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& n : removed.expired) rows.emplace_back(n, "expired");
  for (const auto& n : removed.leftovers) rows.emplace_back(n, "removed incomplete backup");
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

// vault._delete_backup(name): removes one backup, with retention's guards.
PGVAULT_FUNCTION(pgvault_delete_backup) {
  const std::string name = text_arg(fcinfo, 0);
  Repository::validate_backup_name(name);
  if (name == running_backup_name()) {
    throw Error(ErrorKind::conflict, "backup \"" + name +
                                         "\" is running; stop it with vault.cancel_backup() "
                                         "instead");
  }
  auto storage = open_repository(guc_repository);
  Repository repo(*storage);
  const std::string sysid = system_identifier_string();
  const std::vector<BackupMeta> complete = repo.list_backups(sysid);
  const bool is_complete = std::any_of(complete.begin(), complete.end(),
                                       [&](const BackupMeta& m) { return m.name == name; });
  if (is_complete && complete.back().name == name) {
    throw Error(ErrorKind::conflict,
                "backup \"" + name +
                    "\" is the newest complete backup; pgvault never removes it (take a newer "
                    "backup first)");
  }
  if (!is_complete && storage->list(Repository::backup_dir(sysid, name)).empty()) {
    throw Error(ErrorKind::not_found, "backup \"" + name + "\" not found in repository " +
                                          storage->url() + " (system " + sysid + ")");
  }
  if (is_complete) {
    repo.remove_backup(sysid, name);
  } else {
    storage->remove_prefix(Repository::backup_dir(sysid, name));
  }
  log_message(LOG, "backup \"" + name + "\" deleted by hand");
  pg_guard([] { SPI_connect(); });
  history::mark_removed({name}, "deleted");
  pg_guard([] { SPI_finish(); });
  PG_RETURN_VOID();
}
