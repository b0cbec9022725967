#include "verify_command.hpp"

#include "backup_choice.hpp"
#include "command_progress.hpp"
#include "common_options.hpp"
#include "usage.hpp"
#include "restore_recording.hpp"
#include "scratch_server.hpp"
#include "text_output.hpp"
#include "wal_report.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/catalog/verification_record.hpp"
#include "pgvault/error.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_read.hpp"
#include "pgvault/wal/wal_verify.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>

#include <unistd.h>

namespace pgvault::cli {

Command add_verify_command(CLI::App& app) {
  auto o = std::make_shared<VerifyCliOptions>();
  auto* verify =
      app.add_subcommand("verify", "Read a backup back and check every object and file in it");
  verify->footer(
      "Every object's size and SHA-256, decryption, decompression and, for physical backups, "
      "every file against backup_manifest; the outcome is recorded in the repository.\n" +
      help_example({"pgvault verify --repo file:///var/lib/postgresql/15/pgvault --backup latest "
                    "--wal",
                    "sudo -u postgres pgvault verify --config "
                    "/etc/postgresql/15/main/postgresql.conf --backup latest --restore-test"}));
  o->repo.add_to(verify);
  add_backup_option(verify, o->backup,
                    "the newest complete physical backup (with --kind logical or --database: the "
                    "newest logical one, not pre_restore)");
  add_system_id_option(verify, o->system_id);
  verify->add_option("--kind", o->kind, "What \"latest\" means: physical (default) or logical")
      ->check(CLI::IsMember({"physical", "logical"}));
  add_database_option(verify, o->database,
                      "\"latest\" is the newest logical backup of this database");
  verify->add_flag("--restore-test", o->restore_test,
                   "Physical backups: also restore into a scratch directory under $TMPDIR, start "
                   "a server there (pg_ctl of $PGVAULT_PG_BINDIR, pg_config --bindir or "
                   "/usr/lib/postgresql/<version>/bin) on a private Unix socket, run a query "
                   "(as $PGUSER, the OS user or postgres), stop it and remove everything. Not as "
                   "root");
  verify->add_flag("--wal", o->wal,
                   "Physical backups: also check the archived WAL from the backup's start to the "
                   "newest archived segment of the newest timeline its path reaches: no gap, a "
                   "history file for every timeline switch, and every object's SHA-256 after "
                   "decrypting and decompressing it; with --restore-test the scratch server "
                   "also replays the archive to its end through pgvault wal-fetch");
  verify->add_flag("--stored-only", o->stored_only,
                   "Check only the stored bytes: each object's size and SHA-256 against "
                   "backup.json (an incremental: every backup of its chain), with no "
                   "decryption, decompression or manifest check; the check pgbackrest verify "
                   "makes of its backup files. Proves the repository still holds what the "
                   "backup wrote, not that it decodes, so a pass is not recorded as a "
                   "verification (a failure is). Not with --restore-test");
  add_json_flag(verify, o->json, "the outcome as a JSON object");
  o->progress.add_to(verify);
  return {verify, [o] { return run_verify(*o); }};
}

int run_verify(const VerifyCliOptions& o) {
  (void)o.progress.max_rate_bytes();  // checked before the repository is read
  // --json: the JSON stays, whatever --quiet says.
  const QuietStdout quiet(o.progress.quiet && !o.json);
  const QuietWarnings no_warnings(o.progress.quiet);
  // Before anything is read: PostgreSQL will not start as root.
  if (o.restore_test && ::geteuid() == 0) {
    throw Error(ErrorKind::invalid_argument,
                "--restore-test starts a PostgreSQL server, which refuses to run as root; run it "
                "as the database's OS user, e.g. sudo -u postgres pgvault verify --restore-test "
                "...");
  }
  // "latest" is the backup a disaster needs, the newest physical one, unless
  // asked for dumps (pre_restore ones never: they hold what was replaced).
  BackupSelector latest_of;
  latest_of.kind = !o.kind.empty() ? o.kind : o.database.empty() ? "physical" : "logical";
  latest_of.database = o.database;
  latest_of.skip_pre_restore = latest_of.kind == "logical";
  if (latest_of.kind == "physical" && !o.database.empty())
    throw Error(ErrorKind::invalid_argument,
                "--database selects logical backups (dumps of one database); it does not go "
                "with --kind physical");
  if (o.restore_test && o.stored_only)
    throw Error(ErrorKind::invalid_argument,
                "--stored-only checks the stored bytes without decoding them; --restore-test "
                "decodes and restores everything: pass one of them");
  if (o.restore_test && latest_of.kind != "physical")
    throw Error(ErrorKind::invalid_argument,
                "--restore-test restores physical backups only; it does not go with --kind "
                "logical or --database");
  auto storage = o.repo.open();
  Repository repo(*storage);
  const BackupMeta meta = choose_backup(
      repo, o.backup, o.system_id, latest_of,
      o.progress.quiet ? null_stream()
      : o.json         ? std::cerr
                       : std::cout,
      o.kind.empty() && o.database.empty()
          ? "pass --kind logical (and --database DB) to verify the newest logical backup"
          : std::string());
  if (!o.kind.empty() && meta.kind != o.kind && !(o.kind == "physical" && meta.is_physical()))
    throw Error(ErrorKind::invalid_argument, "backup \"" + meta.name + "\" is a " + meta.kind +
                                                 " backup, not " + o.kind + " (--kind)");
  if (!o.database.empty() && (meta.kind != "logical" || meta.database != o.database))
    throw Error(ErrorKind::invalid_argument, "backup \"" + meta.name +
                                                 "\" is not a logical backup of database \"" +
                                                 o.database + "\" (--database)");
  if (o.wal && !meta.is_physical()) {
    throw Error(ErrorKind::invalid_argument,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; --wal checks the archived WAL of physical backups only");
  }
  if (o.restore_test && !meta.is_physical()) {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; --restore-test restores physical backups only (verify it without "
                    "--restore-test, or restore it with pg_restore)");
  }

  // The total is the verifier's (what it will read), given as it reads.
  CommandProgress progress(o.progress, 0);
  auto say = [&](const std::string& line) {
    if (!o.json) progress.say(std::cout, line);
  };
  say("verifying backup \"" + meta.name + "\" " + describe_backup(meta) + " in " + storage->url());

  nlohmann::ordered_json out;
  out["backup"] = meta.name;
  out["system_identifier"] = meta.system_identifier;
  out["kind"] = meta.kind;
  out["repository"] = storage->url();
  // The outcome goes into the repository too, so that `pgvault metrics` and
  // `pgvault list` see it with no database; a store that refuses the write
  // (read-only credentials) costs a warning, not the verification.
  VerificationRecord record;
  record.backup = meta.name;
  record.system_identifier = meta.system_identifier;
  record.kind = meta.kind;
  record.verified_by = "pgvault verify";
  record.restore_test = o.restore_test;
  if (o.stored_only) record.verified_by = "pgvault verify --stored-only";
  auto keep_record = [&](bool passed, const std::string& error) {
    // The record says a backup was proven readable (pgvault list, the audit
    // report); a pass of the stored bytes alone does not prove it, a failure
    // of them disproves it.
    if (passed && o.stored_only) return;
    record.verified_at = utc_timestamp_now();
    record.passed = passed;
    record.error = error;
    if (auto warning = record_verification(repo, record)) warn(*warning);
  };
  try {
    VerifyReport report;
    std::optional<RestoreTestResult> test;
    if (o.restore_test) {
      report.backup = meta.name;
      report.kind = meta.kind;
      report.extra_objects = unlisted_objects(repo, meta);
      for (const auto& name : report.extra_objects) {
        report.warnings.push_back(unlisted_object_warning(meta, name));
      }
      RestoreReport restored;
      // A restore test is a restore an auditor asks about: recorded whatever its outcome.
      RestoreRecording recording(repo, meta, "restore test", "scratch directory",
                                 o.wal ? "archived WAL replayed (--wal)" : std::string());
      try {
        test = restore_test(
            repo, meta, [&](const BackupMeta& b) { return o.repo.decryptor(b); }, restored, say,
            progress,
            o.wal ? wal_fetch_restore_command(o.repo.wal_fetch_invocation(meta.system_identifier))
                  : std::string());
      } catch (const std::exception& e) {
        recording.finish(false, e.what(), restored.bytes);
        throw;
      }
      recording.finish(true, "", restored.bytes);
      report.objects = restored.objects;
      report.bytes_read = restored.bytes_read;
      report.files = restored.files;
      report.manifest_files = restored.manifest_files;
      report.files += restored.reconstructed_files;
      for (const ChainBackupReport& step : restored.chain)
        if (restored.chain.size() > 1) report.chain.push_back(step.name);
    } else {
      VerifyOptions vo;
      if (o.stored_only) {
        vo.depth = VerifyDepth::stored;  // no key needed: nothing is decrypted
      } else {
        vo.decryptor = o.repo.decryptor(meta);
        vo.decryptor_of = [&](const BackupMeta& b) { return o.repo.decryptor(b); };
      }
      vo.on_progress = [&](std::uint64_t done, std::uint64_t total) {
        progress.on_read(done, total);
      };
      report = verify_backup(repo, meta, vo,
                             [&](std::string_view line) { say("  " + std::string(line)); });
    }
    // --restore-test: the scratch restore's read, before the server started.
    const std::string read = o.restore_test ? test->read : progress.finish();
    for (const auto& w : report.warnings) {
      if (!o.json) warn(w);
    }
    std::optional<WalVerifyReport> wal;
    if (o.wal) {
      say("checking the archived WAL of backup \"" + meta.name + "\"");
      const WalCatalog catalog = read_wal_catalog(*storage, meta.system_identifier,
                                                  repo.list_backups(meta.system_identifier),
                                                  restore_key_provider(o.repo.encryption()));
      wal = verify_backup_wal(*storage, catalog, meta, restore_key_provider(o.repo.encryption()),
                              [&](std::string_view line) { say("  " + std::string(line)); });
    }
    record.objects = report.objects;
    record.bytes_read = report.bytes_read;
    keep_record(true, "");
    if (o.json) {
      out["verified"] = true;
      out["objects"] = report.objects;
      out["files"] = report.files;
      out["manifest_files"] = report.manifest_files;
      out["bytes_read"] = report.bytes_read;
      if (!report.chain.empty()) out["chain"] = report.chain;  // newest first
      if (!o.restore_test) out["decoded_bytes"] = report.decoded_bytes;
      out["depth"] = verify_depth_name(o.stored_only ? VerifyDepth::stored : VerifyDepth::decoded);
      out["extra_objects"] = report.extra_objects;
      out["warnings"] = report.warnings;
      if (wal) out["wal"] = wal_report_json(*wal);
      if (test) {
        out["restore_test"] = {{"passed", true},
                               {"role", test->user},
                               {"server_version", test->server_version},
                               {"databases", std::atoll(test->databases.c_str())},
                               {"in_recovery", test->in_recovery},
                               {"replayed_to", test->replayed_to},
                               {"seconds", test->seconds}};
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (o.stored_only) {
      std::cout << "backup " << meta.name << ": the stored bytes of " << report.objects
                << " objects match backup.json, " << report.bytes_read << " bytes ("
                << human_size(report.bytes_read) << (read.empty() ? "" : "; " + read)
                << "); contents not decoded, not recorded as a verification\n";
    } else {
      std::cout << "backup " << meta.name << " verified: " << report.objects << " objects, "
                << report.files << " files, " << report.bytes_read << " bytes ("
                << human_size(report.bytes_read) << (read.empty() ? "" : "; " + read) << ")"
                << (test ? "; restore test passed in " + format_seconds(test->seconds) : "")
                << "\n";
    }
    if (!report.chain.empty()) {
      std::string names;
      for (auto it = report.chain.rbegin(); it != report.chain.rend(); ++it)
        names += (names.empty() ? "" : " <- ") + *it;
      std::cout << "its chain of " << report.chain.size()
                << " backups was read and checked: " << names << "\n";
    }
    if (wal) {
      std::cout << "archived WAL of backup " << meta.name << " verified: "
                << (wal->first_segment.empty()
                        ? ""
                        : wal->first_segment + ".." + wal->last_segment + ", ")
                << wal->objects << " objects, continuous from " << format_lsn(wal->from) << " to "
                << format_lsn(wal->to) << " on timeline " << wal->to_timeline << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    const auto* error = dynamic_cast<const Error*>(&e);
    if (!record.passed && !(error != nullptr && error->kind() == ErrorKind::cancelled))
      keep_record(false, e.what());
    if (o.json) {
      out["verified"] = false;
      out["error"] = e.what();
      std::cout << out.dump(2) << "\n";
    }
    throw;
  }
}

}  // namespace pgvault::cli
