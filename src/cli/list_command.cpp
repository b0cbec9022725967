#include "list_command.hpp"

#include "common_options.hpp"
#include "usage.hpp"
#include "text_output.hpp"
#include "wal_report.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_read.hpp"
#include "pgvault/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <vector>

namespace pgvault::cli {

Command add_list_command(CLI::App& app) {
  auto o = std::make_shared<ListOptions>();
  auto* list = app.add_subcommand("list", "List the backups of a repository and its archived WAL");
  list->footer(
      help_example({"pgvault list --repo file:///var/lib/postgresql/15/pgvault",
                    "pgvault list --config /etc/postgresql/15/main/postgresql.conf --json"}));
  o->repo.add_to(list);
  add_system_id_filter(list, o->system_id);
  add_json_flag(list, o->json,
                "a JSON array of the backups' backup.json; a physical backup's element also "
                "has \"wal\": its system's archived WAL and recoverable windows");
  return {list, [o] { return run_list(*o); }};
}

// Damaged backups (a backup.json that cannot be used) are listed with the
// reason, never left out: they are not restorable, but their data may be
// worth saving, and an operator must see them.
//
// The archived WAL (issue 15) follows the backups, per system: it is read
// from "<sysid>/wal/" of each system listed (or of --system-id), so a
// system with WAL but no backup shows its WAL too. The JSON stays an array
// of backups; the WAL summary is the "wal" member of each physical backup.
int run_list(const ListOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const RepositoryListing listing = repo.list_all(o.system_id);
  const std::vector<BackupMeta>& backups = listing.complete;
  // The outcome of each backup's last verification, as `pgvault verify`,
  // vault.verify_backup() and the scheduled verification recorded it.
  VerificationListing verifications;
  {
    std::set<std::string> systems;
    for (const auto& b : backups) systems.insert(b.system_identifier);
    for (const auto& id : systems) {
      VerificationListing records = read_verification_records(repo, id);
      verifications.records.merge(records.records);
      for (auto& u : records.unreadable) verifications.unreadable.push_back(std::move(u));
    }
  }

  std::vector<WalCatalog> wal;
  {
    std::set<std::string> systems;
    if (!o.system_id.empty()) {
      systems.insert(o.system_id);
    } else {
      for (const auto& id : repo.system_identifiers()) systems.insert(id);
    }
    for (const auto& id : systems) {
      try {
        validate_wal_system_identifier(id);
      } catch (const Error&) {
        continue;  // not a system's directory: nothing of pgvault's WAL there
      }
      WalCatalog catalog =
          read_wal_catalog(*storage, id, backups, restore_key_provider(o.repo.encryption()));
      if (!catalog.empty() || catalog.foreign_count > 0) wal.push_back(std::move(catalog));
    }
  }
  // Each incremental's chain, from the listing (nothing more is read): its
  // backups newest first, or why it cannot be restored.
  struct ChainState {
    std::vector<std::string> names;
    std::string error;
  };
  std::map<std::string, ChainState> chains;  // by system/name
  for (const auto& b : backups) {
    if (b.kind != "incremental") continue;
    ChainState& c = chains[b.system_identifier + "/" + b.name];
    try {
      for (const BackupMeta& m : resolve_chain(listing, b).backups) c.names.push_back(m.name);
    } catch (const Error& e) {
      c.error = e.what();
    }
  }
  auto chain_of = [&](const BackupMeta& b) -> const ChainState* {
    auto it = chains.find(b.system_identifier + "/" + b.name);
    return it == chains.end() ? nullptr : &it->second;
  };

  auto wal_of = [&](const std::string& system_identifier) -> const WalCatalog* {
    for (const auto& c : wal)
      if (c.system_identifier == system_identifier) return &c;
    return nullptr;
  };

  if (o.json) {
    // ordered_json keeps backup.json's own field order.
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& b : backups) {
      arr.push_back(nlohmann::ordered_json::parse(b.to_json()));
      if (const ChainState* c = chain_of(b)) {
        // The backups a restore reads, newest first; or why it cannot.
        arr.back()["restorable"] = c->error.empty();
        if (c->error.empty())
          arr.back()["chain"] = c->names;
        else
          arr.back()["chain_error"] = c->error;
      }
      if (const VerificationRecord* v = verifications.find(b.system_identifier, b.name))
        arr.back()["verification"] = nlohmann::ordered_json::parse(v->to_json());
      const WalCatalog* catalog = b.is_physical() ? wal_of(b.system_identifier) : nullptr;
      if (catalog != nullptr) arr.back()["wal"] = wal_json(*catalog, backups);
    }
    for (const auto& d : listing.unreadable) {
      arr.push_back({{"name", d.name},
                     {"system_identifier", d.system_identifier},
                     {"damaged", true},
                     {"error", d.error}});
    }
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  auto print_wal = [&] {
    for (const WalCatalog& catalog : wal) {
      std::cout << "\n";
      print_wal_text(std::cout, catalog, backups);
    }
  };
  if (backups.empty() && listing.unreadable.empty()) {
    if (o.system_id.empty()) {
      std::cout << "no backups in " << storage->url() << "\n";
    } else {
      std::set<std::string> others;
      for (const auto& b : repo.list_backups()) others.insert(b.system_identifier);
      std::string held;
      for (const auto& id : others) held += (held.empty() ? "" : ", ") + id;
      std::cout << "no backups of system " << o.system_id << " in " << storage->url()
                << (held.empty() ? ""
                                 : " (it holds backups of system" +
                                       std::string(others.size() == 1 ? " " : "s ") + held + ")")
                << "\n";
    }
    print_wal();
    return 0;
  }

  // What a DBA scans for first, left to right; `pgvault info NAME` has the rest.
  const std::vector<std::string> head = {"NAME",     "KIND",        "DATABASE",   "PARENT",
                                         "CHAIN",    "STARTED",     "COMPLETED",  "SOURCE",
                                         "STORED",   "COMPRESSION", "ENCRYPTION", "STOP LSN",
                                         "VERIFIED", "TRIGGER",     "LABEL",      "SYSTEM ID"};
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> broken;
  std::uint64_t total_stored = 0, total_source = 0;
  for (const auto& b : backups) {
    std::string chain = "-";
    if (const ChainState* c = chain_of(b)) {
      chain = c->error.empty() ? std::to_string(c->names.size()) + " backups" : "BROKEN";
      if (!c->error.empty()) broken.push_back(c->error);
    }
    std::string verified = "-";
    if (const VerificationRecord* v = verifications.find(b.system_identifier, b.name))
      verified = (v->passed ? "passed " : "FAILED ") + v->verified_at;
    total_stored += b.stored_bytes;
    total_source += b.source_bytes;
    // A physical backup is of the whole cluster: the database it connected
    // to is not what it holds.
    rows.push_back({b.name, or_dash(b.kind), b.kind == "logical" ? or_dash(b.database) : "-",
                    or_dash(b.parent), chain, or_dash(b.started_at), or_dash(b.completed_at),
                    human_size(b.source_bytes), human_size(b.stored_bytes), or_dash(b.compression),
                    or_dash(b.encryption), or_dash(b.stop_lsn), verified, or_dash(b.trigger),
                    or_dash(b.label), or_dash(b.system_identifier)});
  }
  for (const auto& d : listing.unreadable) {
    std::vector<std::string> row(head.size(), "-");
    row.front() = d.name;
    row[1] = "DAMAGED";
    row.back() = d.system_identifier;
    rows.push_back(std::move(row));
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
  std::cout << "total: " << backups.size() << " backup" << (backups.size() == 1 ? "" : "s") << ", "
            << human_size(total_stored) << " stored (" << human_size(total_source)
            << " of database files and dumps)\n";
  if (!listing.unreadable.empty()) {
    std::cout << "\n"
              << listing.unreadable.size() << " damaged backup"
              << (listing.unreadable.size() == 1 ? "" : "s")
              << " (backup.json unusable: not restorable, never removed by cleanup):\n";
    for (const auto& d : listing.unreadable) std::cout << "  " << d.error << "\n";
  }
  std::vector<std::string> failed;
  for (const auto& b : backups) {
    const VerificationRecord* v = verifications.find(b.system_identifier, b.name);
    if (v != nullptr && !v->passed) failed.push_back(b.name + ": " + v->error);
  }
  if (!failed.empty()) {
    std::cout << "\n"
              << failed.size() << " backup" << (failed.size() == 1 ? "" : "s") << " failed "
              << (failed.size() == 1 ? "its" : "their") << " last verification:\n";
    for (const auto& e : failed) std::cout << "  " << e << "\n";
  }
  if (!verifications.unreadable.empty()) {
    std::cout << "\n"
              << verifications.unreadable.size() << " verification record"
              << (verifications.unreadable.size() == 1 ? "" : "s") << " cannot be read:\n";
    for (const auto& u : verifications.unreadable) std::cout << "  " << u.error << "\n";
  }
  if (!broken.empty()) {
    std::cout << "\n"
              << broken.size() << " incremental backup" << (broken.size() == 1 ? "" : "s")
              << " with a broken chain (not restorable):\n";
    for (const auto& e : broken) std::cout << "  " << e << "\n";
  }
  print_wal();
  return 0;
}

}  // namespace pgvault::cli
