#include "info_command.hpp"

#include "usage.hpp"

#include "backup_choice.hpp"
#include "common_options.hpp"
#include "text_output.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/backup_info.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_read.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

namespace pgvault::cli {
namespace {

// The archived WAL a point-in-time recovery from meta replays: from its
// stop_lsn along the newest timeline's path.
BackupWalInfo::Archive archived_wal_after(Storage& storage, const InfoOptions& o,
                                          const BackupMeta& meta,
                                          const std::vector<BackupMeta>& backups) {
  BackupWalInfo::Archive a;
  try {
    const WalCatalog catalog = read_wal_catalog(storage, meta.system_identifier, backups,
                                                restore_key_provider(o.repo.encryption()));
    a.any = !catalog.empty();
    if (!a.any || meta.stop_lsn.empty()) return a;
    const WalContinuity c =
        catalog.continuity(meta.timeline, parse_lsn(meta.stop_lsn), *catalog.latest_timeline());
    a.continuous_to = format_lsn(c.end);
    a.to_timeline = c.end_timeline;
    if (c.first_missing) a.first_missing = c.first_missing->name();
    a.problem = c.problem;
  } catch (const Error& e) {
    a.problem = std::string("the archived WAL could not be read: ") + e.what();
  }
  return a;
}

BackupInfo gather(Repository& repo, const InfoOptions& o, const BackupMeta& meta) {
  BackupInfo info;
  info.meta = meta;
  if (meta.kind == "incremental") {
    try {
      for (const BackupMeta& b : resolve_chain(repo, meta).backups) info.chain.push_back(b.name);
    } catch (const Error& e) {
      info.chain_error = e.what();
    }
  }
  const VerificationListing records = read_verification_records(repo, meta.system_identifier);
  if (const VerificationRecord* v = records.find(meta.system_identifier, meta.name))
    info.verification = *v;
  for (const UnreadableVerification& u : records.unreadable)
    if (u.backup == meta.name) info.verification_error = u.error;
  if (meta.is_physical()) {
    const std::vector<BackupMeta> backups = repo.list_backups(meta.system_identifier);
    const std::uint64_t segment_size = meta.wal_segment_size != 0
                                           ? meta.wal_segment_size
                                           : wal_segment_size_of(backups, meta.system_identifier);
    info.wal = backup_wal_segments(meta, segment_size);
    info.wal->archive = archived_wal_after(repo.storage(), o, meta, backups);
  }
  return info;
}

std::string ratio_text(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ratio);
  return buf;
}

void print_text(std::ostream& out, const BackupInfo& info) {
  const BackupMeta& m = info.meta;
  auto row = [&](std::string_view key, const std::string& value) {
    std::string k(key);
    k.resize(std::max<std::size_t>(k.size() + 1, 14), ' ');
    out << k << value << "\n";
  };
  out << "backup \"" << m.name << "\" " << describe_backup(m) << "\n";
  if (m.kind == "incremental")
    row("kind", "incremental, parent \"" + m.parent + "\"");
  else if (m.kind == "physical")
    row("kind", "physical (full)");
  else
    row("kind", m.kind);
  if (m.kind == "logical") row("database", or_dash(m.database));
  row("label", or_dash(m.label));
  row("trigger", or_dash(m.trigger) + (m.initiated_by.empty() ? "" : ", by " + m.initiated_by));
  row("started", or_dash(m.started_at));
  const auto duration = backup_duration_seconds(m);
  row("completed",
      or_dash(m.completed_at) + (duration ? " (took " + format_seconds(*duration) + ")" : ""));
  if (m.is_physical()) {
    row("timeline", std::to_string(m.timeline));
    row("LSN", or_dash(m.start_lsn) + " to " + or_dash(m.stop_lsn));
  }
  const auto ratio = compression_ratio(m);
  row("size", human_size(m.source_bytes) +
                  (m.kind == "logical" ? " dumped" : " of database files") + ", " +
                  human_size(m.stored_bytes) + " stored" +
                  (ratio ? " (ratio " + ratio_text(*ratio) + ")" : ""));
  row("compression", m.compression == "none"
                         ? std::string("none")
                         : m.compression + " level " + std::to_string(m.compression_level) +
                               (m.compressed_by == "none" || m.compressed_by.empty()
                                    ? ""
                                    : " (by the " + m.compressed_by + ")"));
  row("encryption", m.encryption == "none"
                        ? std::string("none")
                        : m.encryption + ", key fingerprint " + or_dash(m.key_fingerprint) +
                              (m.key_derivation.empty() ? "" : " (" + m.key_derivation + ")"));
  row("checksum", m.digest() + " (SHA-256 of its objects' sha256sum lines)");
  if (m.kind == "incremental") {
    if (!info.chain_error.empty()) {
      row("chain", "BROKEN: " + info.chain_error);
    } else {
      std::string names;
      for (auto it = info.chain.rbegin(); it != info.chain.rend(); ++it)
        names += (names.empty() ? "" : " <- ") + *it;
      row("chain", std::to_string(info.chain.size()) + " backups, the full one first: " + names);
    }
  }
  if (info.verification) {
    const VerificationRecord& v = *info.verification;
    row("verified", (v.passed ? "passed " : "FAILED ") + v.verified_at + " (" + v.verified_by +
                        (v.restore_test ? ", with a restore test" : "") + ")" +
                        (v.passed ? "" : ": " + v.error));
  } else if (!info.verification_error.empty()) {
    row("verified", "record unreadable: " + info.verification_error);
  } else {
    row("verified", "never (pgvault verify " + m.name + " checks it)");
  }
  if (info.wal) {
    const BackupWalInfo& w = *info.wal;
    if (!w.first_segment.empty())
      row("WAL", w.first_segment +
                     (w.last_segment == w.first_segment ? "" : ".." + w.last_segment) +
                     " (in the backup: it restores without an archive)");
    if (w.archive) {
      const BackupWalInfo::Archive& a = *w.archive;
      std::string text;
      if (!a.any)
        text = "none archived: the backup restores to its end only";
      else if (!a.problem.empty())
        text = a.problem;
      else
        text = "continuous from " + m.stop_lsn + " to " + a.continuous_to + " (timeline " +
               std::to_string(a.to_timeline) + ")" +
               (a.first_missing.empty() ? "" : "; " + a.first_missing + " is missing");
      row("archived WAL", text);
    }
  }
  out << "objects (" << m.objects.size() << "):\n";
  std::size_t name_width = 4, size_width = 4;
  for (const ObjectEntry& obj : m.objects) {
    name_width = std::max(name_width, obj.name.size());
    size_width = std::max(size_width, human_size(obj.size).size());
  }
  auto object_row = [&](const std::string& name, const std::string& size, const std::string& sum) {
    out << "  " << name << std::string(name_width - name.size() + 2, ' ') << size
        << std::string(size_width - size.size() + 2, ' ') << sum << "\n";
  };
  object_row("NAME", "SIZE", "SHA-256");
  for (const ObjectEntry& obj : m.objects) object_row(obj.name, human_size(obj.size), obj.sha256);
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  auto* info = app.add_subcommand("info", "Show one backup in detail, as pgBackRest's info does");
  info->footer(
      "Kind, times, LSNs, sizes, compression, encryption and key fingerprint, objects with "
      "their SHA-256, the last verification, an incremental's chain and the WAL it needs.\n" +
      help_example({"pgvault info --repo file:///var/lib/postgresql/15/pgvault latest",
                    "pgvault info --config /etc/postgresql/15/main/postgresql.conf --json "
                    "20261205T010000Z-physical"}));
  o->repo.add_to(info);
  info->add_option("backup", o->backup,
                   "Backup name, or \"latest\": the newest complete backup of any kind")
      ->required()
      ->type_name("NAME|latest");
  add_system_id_option(info, o->system_id);
  add_json_flag(info, o->json, "the backup as a JSON object");
  return {info, [o] { return run_info(*o); }};
}

int run_info(const InfoOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const BackupMeta meta =
      choose_backup(repo, o.backup, o.system_id, BackupSelector{}, o.json ? std::cerr : std::cout);
  const BackupInfo info = gather(repo, o, meta);
  if (o.json)
    std::cout << backup_info_json(info) << "\n";
  else
    print_text(std::cout, info);
  return 0;
}

}  // namespace pgvault::cli
