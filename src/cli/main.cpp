// The pgvault command: works on a repository with no running database.
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/restore/restore.hpp"
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef PGVAULT_VERSION
#define PGVAULT_VERSION "0.1.0"
#endif

namespace {

using namespace pgvault;

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

// Where the repository is and how to reach it: --repo (or $PGVAULT_REPOSITORY)
// and the pgvault.* settings of --config FILE (or $PGVAULT_CONFIG), a
// postgresql.conf-syntax file such as the server's own; the environment
// (AWS_*, AZURE_STORAGE_*, PGVAULT_*) fills what the file leaves unset.
struct RepositoryOptions {
  std::string repo;
  std::string config;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--repo", repo,
                    "Repository URL: file:///path, s3://bucket[/prefix], "
                    "azure://container[/prefix] or gs://bucket[/prefix] (default: "
                    "pgvault.repository of --config)")
        ->envname("PGVAULT_REPOSITORY");
    cmd->add_option("--config", config,
                    "postgresql.conf-syntax file with the pgvault.* settings (the server's "
                    "postgresql.conf works); includes are followed")
        ->envname("PGVAULT_CONFIG")
        ->check(CLI::ExistingFile);
  }

  std::unique_ptr<Storage> open() const {
    StorageSettings settings;
    if (!config.empty()) settings = read_config_file(config);
    apply_environment(settings);
    std::string url = repo;
    if (url.empty()) {
      auto it = settings.find("repository");
      if (it != settings.end()) url = it->second;
    }
    if (url.empty())
      throw Error(ErrorKind::invalid_argument,
                  "no repository: pass --repo URL, set PGVAULT_REPOSITORY, or give --config FILE "
                  "with pgvault.repository set" +
                      (config.empty() ? std::string() : " (" + config + " does not set it)"));
    return open_storage_with(url, settings);
  }
};

struct ListOptions {
  RepositoryOptions repo;
  std::string system_id;
  bool json = false;
};

int run_list(const ListOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const std::vector<BackupMeta> backups = repo.list_backups(o.system_id);

  if (o.json) {
    // ordered_json keeps backup.json's own field order.
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& b : backups) arr.push_back(nlohmann::ordered_json::parse(b.to_json()));
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  if (backups.empty()) {
    if (o.system_id.empty()) {
      std::cout << "no backups in " << storage->url() << "\n";
    } else {
      std::cout << "no backups of system " << o.system_id << " in " << storage->url() << "\n";
    }
    return 0;
  }

  const std::vector<std::string> head = {"NAME",   "KIND",        "STARTED",  "COMPLETED", "STORED",
                                         "SOURCE", "COMPRESSION", "STOP LSN", "SYSTEM ID"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : backups) {
    rows.push_back({b.name, or_dash(b.kind), or_dash(b.started_at), or_dash(b.completed_at),
                    human_size(b.stored_bytes), human_size(b.source_bytes), or_dash(b.compression),
                    or_dash(b.stop_lsn), or_dash(b.system_identifier)});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(head);
  for (const auto& r : rows) print_row(r);
  return 0;
}

struct RestoreCliOptions {
  RepositoryOptions repo;
  std::string backup;
  std::string pgdata;
  std::string system_id;
  std::vector<std::string> tablespace_mapping;
};

int run_restore(const RestoreCliOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const BackupMeta meta = repo.resolve(o.backup, o.system_id);
  if (meta.kind != "physical") {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; pgvault restore restores physical backups only (restore a logical "
                    "backup with pg_restore, or from SQL with vault.restore_logical())");
  }

  RestoreOptions ro;
  ro.pgdata = o.pgdata;
  for (const auto& m : o.tablespace_mapping) {
    const auto eq = m.find('=');  // validated by the option's check
    ro.tablespace_mapping[m.substr(0, eq)] = m.substr(eq + 1);
  }

  std::cout << "restoring backup \"" << meta.name << "\" (physical, PostgreSQL "
            << meta.pg_version / 10000 << "." << meta.pg_version % 100 << ", system "
            << meta.system_identifier << ", completed " << or_dash(meta.completed_at) << ") from "
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

int main(int argc, char** argv) {
  CLI::App app{"pgvault: list and restore PostgreSQL backups in a pgvault repository", "pgvault"};
  app.set_version_flag("--version", "pgvault " PGVAULT_VERSION);
  app.require_subcommand(1);

  ListOptions lo;
  auto* list = app.add_subcommand("list", "List the restorable backups of a repository");
  lo.repo.add_to(list);
  list->add_option("--system-id", lo.system_id, "Only backups of this database system identifier");
  list->add_flag("--json", lo.json, "Print a JSON array of the backups' backup.json");

  RestoreCliOptions ro;
  auto* restore =
      app.add_subcommand("restore", "Restore a physical backup into a new data directory");
  ro.repo.add_to(restore);
  restore->add_option("--backup", ro.backup, "Backup name, or \"latest\"")->required();
  restore->add_option("--pgdata,-D", ro.pgdata, "Target data directory (missing or empty)")
      ->required();
  restore->add_option("--system-id", ro.system_id,
                      "Database system identifier (needed when the repository holds several)");
  restore
      ->add_option("--tablespace-mapping,-T", ro.tablespace_mapping,
                   "Restore the tablespace at OLDDIR (or with OID) into NEWDIR; repeatable")
      ->type_name("OLDDIR=NEWDIR")
      ->check(CLI::Validator(check_mapping, "OLDDIR=NEWDIR"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*list) return run_list(lo);
    if (*restore) return run_restore(ro);
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "pgvault: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "pgvault: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
