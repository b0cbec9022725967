#include "restore_command.hpp"

#include "backup_choice.hpp"
#include "common_options.hpp"
#include "text_output.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/text.hpp"

#include <iostream>
#include <memory>

#include <unistd.h>

namespace pgvault::cli {
namespace {

std::string check_mapping(const std::string& m) {
  const auto eq = m.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
    return "tablespace mapping \"" + m + "\" must be OLDDIR=NEWDIR (or OID=NEWDIR)";
  }
  if (m[eq + 1] != '/') {
    return "tablespace mapping \"" + m + "\": the new directory must be an absolute path";
  }
  return {};
}

}  // namespace

Command add_restore_command(CLI::App& app) {
  auto o = std::make_shared<RestoreCliOptions>();
  auto* restore =
      app.add_subcommand("restore", "Restore a physical backup into a new data directory");
  o->repo.add_to(restore);
  add_backup_option(restore, o->backup, "the newest complete physical backup");
  restore->add_option("--pgdata,-D", o->pgdata, "Target data directory (missing or empty)")
      ->required();
  add_system_id_option(restore, o->system_id);
  restore
      ->add_option("--tablespace-mapping,-T", o->tablespace_mapping,
                   "Restore the tablespace at OLDDIR (or with OID) into NEWDIR; repeatable")
      ->type_name("OLDDIR=NEWDIR")
      ->check(CLI::Validator(check_mapping, "OLDDIR=NEWDIR"));
  return {restore, [o] { return run_restore(*o); }};
}

int run_restore(const RestoreCliOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  BackupSelector physical;
  physical.kind = "physical";
  const BackupMeta meta = choose_backup(repo, o.backup, o.system_id, physical, std::cout,
                                        "pgvault restore restores physical backups only");
  if (meta.kind != "physical") {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; pgvault restore restores physical backups only (restore a logical "
                    "backup with pg_restore, or from SQL with vault.restore_logical())");
  }

  RestoreOptions ro;
  ro.pgdata = o.pgdata;
  ro.decryptor = o.repo.decryptor(meta);
  for (const auto& m : o.tablespace_mapping) {
    const auto eq = m.find('=');  // validated by the option's check
    ro.tablespace_mapping[m.substr(0, eq)] = m.substr(eq + 1);
  }

  std::cout << "restoring backup \"" << meta.name << "\" " << describe_backup(meta) << " from "
            << storage->url() << " into " << o.pgdata << "\n";
  const RestoreReport report = restore_physical(repo, meta, ro, [](std::string_view line) {
    std::cout << "  " << line << "\n" << std::flush;
  });
  std::cout << "restored " << report.files << " files (" << human_size(report.bytes) << ") from "
            << report.objects << " objects; the data directory is consistent at LSN "
            << or_dash(meta.stop_lsn) << " (timeline " << meta.timeline << ")\n";
  if (geteuid() == 0) {
    // PostgreSQL refuses a data directory it does not own.
    std::cout << "note: the restored files belong to root; give them to the server's OS user "
                 "before starting it: chown -R postgres: "
              << o.pgdata << "\n";
  }
  std::cout << "start it with: pg_ctl -D " << o.pgdata << " start\n";
  return 0;
}

}  // namespace pgvault::cli
