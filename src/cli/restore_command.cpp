#include "restore_command.hpp"

#include "backup_choice.hpp"
#include "command_progress.hpp"
#include "common_options.hpp"
#include "restore_recording.hpp"
#include "usage.hpp"
#include "text_output.hpp"
#include "wal_fetch_command.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/point_in_time.hpp"
#include "pgvault/restore/restored_copy.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <climits>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

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

// The --target* options as typed; turned into RecoveryTargetOptions after parsing.
struct TargetArguments {
  std::string target, time, lsn, xid, name, action, timeline;
  CLI::Option *target_opt, *time_opt, *lsn_opt, *xid_opt, *name_opt, *action_opt, *timeline_opt;

  RecoveryTargetOptions options(bool exclusive) const {
    auto given = [](const CLI::Option* opt, const std::string& value) {
      return opt->count() > 0 ? std::optional<std::string>(value) : std::nullopt;
    };
    RecoveryTargetOptions o;
    o.target = given(target_opt, target);
    o.time = given(time_opt, time);
    o.lsn = given(lsn_opt, lsn);
    o.xid = given(xid_opt, xid);
    o.name = given(name_opt, name);
    o.action = given(action_opt, action);
    o.timeline = given(timeline_opt, timeline);
    o.exclusive = exclusive;
    return o;
  }
};

DecryptorFactory wal_decryptor(const RepositoryOptions& repo) {
  const EncryptionSettings e = repo.encryption();
  if (!e.enabled()) return {};
  return [keys = restore_key_provider(e)](const std::string&, Sink& next) {
    return make_decryptor(keys, next);
  };
}

struct TargetPlan {
  RepositoryListing listing;  // the system's backups, read once
  PointInTimeChoice choice;
  std::string archive_note;         // how the archived WAL reaches the target
  std::vector<std::string> broken;  // incrementals passed over: "NAME: why"
};

// Full and incremental backups: what pgvault restore restores.
BackupSelector restorable() {
  BackupSelector physical;
  physical.kind = "physical";
  return physical;
}

// The backups of one system a restore can start from: physical ones whose
// chain is complete (an incremental with a broken one is passed over, with
// why, into `broken`).
std::vector<BackupMeta> restorable_backups(const RepositoryListing& listing,
                                           const std::string& system_identifier,
                                           std::vector<std::string>& broken) {
  std::vector<BackupMeta> out;
  for (const BackupMeta& b : listing.complete) {
    if (b.system_identifier != system_identifier || !restorable().matches(b)) continue;
    try {
      (void)resolve_chain(listing, b);
      out.push_back(b);
    } catch (const Error& e) {
      broken.push_back(b.name + ": " + e.what());
    }
  }
  return out;
}

// The backup to start from for a recovery target, checked against the
// archived WAL (one listing of <sysid>/wal/).
TargetPlan plan_for_target(Repository& repo, const RestoreCliOptions& o,
                           const RecoveryTarget& target) {
  const BackupSelector physical = restorable();
  std::optional<BackupMeta> named;
  std::string system_identifier;
  if (o.backup != "latest") {
    named = repo.resolve(o.backup, o.system_id);
    if (!named->is_physical())
      throw Error(ErrorKind::unsupported,
                  "backup \"" + named->name + "\" is a " + named->kind +
                      " backup; a point-in-time restore starts from a physical backup");
    system_identifier = named->system_identifier;
  } else {
    // The newest physical backup names the system (and the error says what
    // exists when there is none).
    try {
      system_identifier = repo.resolve("latest", o.system_id, physical).system_identifier;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
      throw Error(e.kind(),
                  std::string(e.what()) + "; pgvault restore restores physical backups only");
    }
  }
  TargetPlan plan;
  plan.listing = repo.list_all(system_identifier);
  const RepositoryListing& listing = plan.listing;
  const std::vector<BackupMeta> backups =
      restorable_backups(listing, system_identifier, plan.broken);

  const DecryptorFactory decryptor = wal_decryptor(o.repo);
  Storage& storage = repo.storage();
  const WalHistoryReader read_history = [&storage, decryptor](const std::string& key) {
    return read_wal_history_object(storage, key, decryptor);
  };
  const WalCatalog catalog =
      build_wal_catalog(storage.list(wal_root(system_identifier)), system_identifier,
                        wal_segment_size_of(backups, system_identifier), read_history);
  TimelineHistories histories(catalog_history_reader(catalog, read_history));
  plan.choice = named ? check_backup_for_target(*named, target, histories)
                      : choose_backup_for_target(backups, target, histories);
  plan.archive_note = check_target_in_archive(catalog, backups, plan.choice, target);
  return plan;
}

void say_carry_over(const RestoredCopyPolicy& policy, const std::string& url) {
  if (policy.archive_mode == CarryOver::off)
    std::cout << "archive_mode = 'off' (--archive-mode off): this copy does not archive WAL into "
              << url
              << ", the repository it came from. For a cluster that replaces the original, "
                 "restore with --archive-mode preserve (or later: ALTER SYSTEM RESET "
                 "archive_mode; and restart)\n";
  else
    std::cout << "archive_mode kept as the backup had it (--archive-mode preserve): with "
                 "archive_library = 'pgvault' this cluster archives into its repository, on the "
                 "new timeline recovery starts\n";
  std::string names;
  for (std::string_view s : kScheduleSettings)
    names += (names.empty() ? "" : ", ") + std::string(s);
  if (policy.schedule == CarryOver::off)
    std::cout << names << " = '' (--schedule off): this copy takes no scheduled backups into "
              << url
              << ". To schedule again: ALTER SYSTEM RESET each of them; SELECT pg_reload_conf(); "
                 "(or restore with --schedule preserve)\n";
  else
    std::cout << names << " kept as the backup had them (--schedule preserve)\n";
}

// The original server may still run on this machine, on the port the
// backup has: a copy started there fails ("lock file ... already exists" or
// "could not bind"). --port moves the copy; without it, say so first.
void say_how_to_start(const std::string& pgdata, const std::optional<unsigned>& port) {
  const std::string start = "pg_ctl -D " + shell_quote(pgdata) + " start";
  if (port) {
    std::cout << "port = " << *port << " (--port) in postgresql.auto.conf: the copy listens on "
              << "port " << *port << ", so it can run beside the original server\n"
              << "start it with: " << start << "\n"
              << "connect with: psql -p " << *port << "\n";
    return;
  }
  std::cout << "the copy listens on the port the backup has (5432 unless its configuration "
               "sets port): if the original server still runs on this machine, the copy would "
               "fail to start on that port; restore with --port N (written into "
               "postgresql.auto.conf) or set port there before starting it\n"
            << "start it with: " << start << "\n";
}

}  // namespace

Command add_restore_command(CLI::App& app) {
  auto o = std::make_shared<RestoreCliOptions>();
  auto t = std::make_shared<TargetArguments>();
  auto exclusive = std::make_shared<bool>(false);
  auto* restore = app.add_subcommand(
      "restore",
      "Restore a physical backup into a new data directory, optionally to a point in time");
  restore->footer(
      "A full backup, or an incremental one through its chain; --delta re-syncs an existing "
      "data directory instead.\n" +
      help_example({"sudo -u postgres pgvault restore --config "
                    "/etc/postgresql/15/main/postgresql.conf \\",
                    "     --backup latest -D /var/lib/postgresql/15/restored --port 5433",
                    "pgvault restore --repo file:///var/lib/postgresql/15/pgvault --backup latest "
                    "\\",
                    "     -D /srv/pitr --target-time '2026-12-05 04:00:00+01'"}));
  o->repo.add_to(restore);
  add_backup_option(restore, o->backup,
                    "the newest complete physical backup (full, or incremental with a complete "
                    "chain); with a --target*, the newest one that ends before the target and "
                    "can reach its timeline");
  restore->add_option("--pgdata,-D", o->pgdata, "Target data directory (missing or empty)")
      ->required();
  restore->add_flag(
      "--delta", o->delta,
      "Re-sync an existing data directory (stopped: a postmaster.pid is refused): files equal "
      "to the backup's (size and SHA-256) are kept, the others rewritten, files not in the "
      "backup removed");
  add_system_id_option(restore, o->system_id);
  restore
      ->add_option("--tablespace-mapping,-T", o->tablespace_mapping,
                   "Relocate the tablespace in directory OLDDIR (or with OID OLDDIR) to NEWDIR, "
                   "as pg_basebackup -T does; repeat the option for each tablespace")
      ->type_name("OLDDIR=NEWDIR")
      ->allow_extra_args(false)  // one mapping per -T, as pg_basebackup
      ->check(CLI::Validator(check_mapping, ""));
  auto* group = restore->add_option_group(
      "Point-in-time recovery",
      "Replay archived WAL (pgvault wal-fetch) after the backup, up to a target");
  t->target_opt = group->add_option(
      "--target", t->target,
      "immediate: stop as soon as the backup is consistent; latest: replay all archived WAL");
  t->time_opt = group->add_option(
      "--target-time", t->time,
      "Stop at this commit time: ISO 8601 with a zone, e.g. '2026-12-05 04:00:00+01'");
  t->lsn_opt = group->add_option("--target-lsn", t->lsn, "Stop at this WAL position (X/Y)");
  t->xid_opt = group->add_option("--target-xid", t->xid, "Stop at the commit of this transaction");
  t->name_opt = group->add_option("--target-name", t->name,
                                  "Stop at this restore point (pg_create_restore_point)");
  t->action_opt = group->add_option("--target-action", t->action,
                                    "At the target: promote (default), pause or shutdown");
  t->timeline_opt = group->add_option(
      "--target-timeline", t->timeline,
      "Recover along this timeline: latest (default), current (the backup's) or an ID");
  group->add_flag("--target-exclusive", *exclusive,
                  "Stop just before the target (time, LSN, transaction) instead of after it");
  restore
      ->add_option("--archive-mode", o->archive_mode,
                   "off (default): the copy does not archive WAL (archive_mode = 'off' in "
                   "postgresql.auto.conf); preserve: keep the backup's archiving (the cluster "
                   "that replaces a lost one)")
      ->type_name("off|preserve");
  restore
      ->add_option("--schedule", o->schedule,
                   "off (default): the copy takes no scheduled backups (pgvault.schedule and "
                   "pgvault.logical_schedule = ''); preserve: keep the backup's schedule")
      ->type_name("off|preserve");
  restore
      ->add_option("--port", o->port,
                   "Port the restored copy listens on (port = N in its postgresql.auto.conf), so "
                   "that it can start beside the original server, which may still run on the "
                   "port the backup has (default: the backup's port)")
      ->type_name("N")
      ->check(CLI::Range(1u, 65535u).description(""));
  o->progress.add_to(restore);
  return {restore, [o, t, exclusive] {
            o->target = t->options(*exclusive);
            return run_restore(*o);
          }};
}

int run_restore(const RestoreCliOptions& o) {
  // Every option is checked before the repository is read.
  (void)o.progress.max_rate_bytes();
  const QuietStdout quiet(o.progress.quiet);
  const QuietWarnings no_warnings(o.progress.quiet);
  const std::optional<RecoveryTarget> target = parse_recovery_target(o.target);
  const RestoredCopyPolicy policy{parse_carry_over("--archive-mode", o.archive_mode),
                                  parse_carry_over("--schedule", o.schedule),
                                  o.port == 0 ? std::nullopt : std::optional<unsigned>(o.port)};
  WalFetchInvocation fetch;
  // Before the repository is read: a program path that cannot be found fails first.
  if (target) fetch = o.repo.wal_fetch_invocation("");

  auto storage = o.repo.open();
  Repository repo(*storage);
  BackupMeta meta;
  // The system's backups when a choice listed them: the chain comes from
  // there, not from a read of each parent's backup.json.
  std::optional<RepositoryListing> listed;
  if (target) {
    std::cout << "recovery target: " << target->describe() << ", then "
              << (target->type == RecoveryTargetType::latest
                      ? std::string_view("promote")
                      : recovery_target_action_name(target->action))
              << " (--target-timeline " << recovery_timeline_text(target->timeline) << ")\n";
    TargetPlan plan = plan_for_target(repo, o, *target);
    meta = plan.choice.backup;
    std::cout << "backup \"" << meta.name << "\" " << describe_backup(meta) << ": "
              << plan.choice.why << "\n";
    for (const std::string& s : plan.choice.skipped) std::cout << "  passed over " << s << "\n";
    for (const std::string& s : plan.broken) std::cout << "  passed over " << s << "\n";
    std::cout << "archived WAL: " << plan.archive_note << "\n" << std::flush;
    fetch.system_identifier = meta.system_identifier;
    listed = std::move(plan.listing);
  } else if (o.backup == "latest") {
    // The newest backup whose chain is complete; newer ones with a broken
    // chain are named, not silently skipped.
    listed = repo.list_all(o.system_id);
    const BackupMeta newest = choose_latest(repo, *listed, o.system_id, restorable(), std::cout,
                                            "pgvault restore restores physical backups only");
    std::vector<std::string> broken;
    const std::vector<BackupMeta> usable =
        restorable_backups(*listed, newest.system_identifier, broken);
    for (const std::string& s : broken) std::cout << "  passed over " << s << "\n";
    if (usable.empty())
      throw Error(ErrorKind::not_found, "no backup of system " + newest.system_identifier +
                                            " can be restored: every incremental's chain is "
                                            "broken and there is no full physical backup");
    meta = usable.back();
    if (meta.name != newest.name)
      std::cout << "--backup latest: \"" << meta.name
                << "\", the newest backup whose chain is complete\n";
  } else {
    meta = repo.resolve(o.backup, o.system_id);
  }
  if (!meta.is_physical()) {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; pgvault restore restores physical backups only (restore a logical "
                    "backup with pg_restore, or from SQL with vault.restore_logical())");
  }
  RestoredSettings settings;
  settings.policy = policy;
  settings.target = target;
  // Built before the restore, so that a path restore_command cannot hold
  // fails before anything is written.
  if (target) {
    settings.restore_command = wal_fetch_restore_command(fetch);
    settings.recovery_end_command = wal_fetch_cleanup_command(fetch);
  }

  // The chain, checked (and every backup's key) before anything is written.
  const BackupChain chain = listed ? resolve_chain(*listed, meta) : resolve_chain(repo, meta);
  std::map<std::string, DecryptorFactory> decryptors;
  for (const BackupMeta& b : chain.backups) decryptors[b.name] = o.repo.decryptor(b);
  RestoreOptions ro;
  ro.pgdata = o.pgdata;
  ro.delta = o.delta;
  ro.decryptor = decryptors.at(meta.name);
  ro.decryptor_of = [&decryptors](const BackupMeta& b) { return decryptors.at(b.name); };
  for (const auto& m : o.tablespace_mapping) {
    const auto eq = m.find('=');  // validated by the option's check
    ro.tablespace_mapping[m.substr(0, eq)] = m.substr(eq + 1);
  }

  std::cout << (o.delta ? "delta-restoring backup \"" : "restoring backup \"") << meta.name << "\" "
            << describe_backup(meta) << " from " << storage->url() << " into " << o.pgdata << "\n";
  if (chain.backups.size() > 1)
    std::cout << "incremental backup: restoring its chain of " << chain.backups.size()
              << " backups, " << chain.describe() << " (the full backup first)\n";
  // Progress against every object of the chain; the restore says which it
  // passes over.
  CommandProgress progress(o.progress, chain.stored_bytes());
  ro.on_read_total = [&progress](std::uint64_t n) { progress.on_read(n); };
  ro.on_unread = [&progress](std::uint64_t n) { progress.reduce_total(n); };
  // The restore is recorded in the repository, whatever its outcome.
  RestoreRecording recording(repo, meta, o.delta ? "restore --delta" : "restore", o.pgdata,
                             target ? target->describe() : std::string());
  RestoreReport report;
  try {
    report = restore_physical(repo, chain, ro, [&progress](std::string_view line) {
      progress.say(std::cout, "  " + std::string(line));
    });
  } catch (const std::exception& e) {
    std::cout << std::flush;
    recording.finish(false, e.what(), 0);
    throw;
  }
  const std::string read = progress.finish();
  std::cout << "restored " << report.files + report.reconstructed_files << " files ("
            << human_size(report.bytes) << ") from " << report.objects << " objects"
            << (report.reconstructed_files > 0 ? ", " + std::to_string(report.reconstructed_files) +
                                                     " of them rebuilt from the chain"
                                               : "")
            << " (" << read << "); the data directory is consistent at LSN "
            << or_dash(meta.stop_lsn) << " (timeline " << meta.timeline << ")\n";
  if (chain.backups.size() > 1)
    for (const ChainBackupReport& step : report.chain)
      std::cout << "  " << step.name << " (" << step.kind << "): " << step.pages << " pages, "
                << step.files << " whole files, " << human_size(step.bytes_read) << " read from "
                << step.objects << " objects\n";
  if (o.delta)
    std::cout << "delta: " << report.kept_files
              << " files already matched the backup and were kept, " << report.removed_files
              << " files not in the backup removed"
              << (report.reconstructed_files > 0 ? ", " + std::to_string(report.pages_unchanged) +
                                                       " pages of rebuilt files already right"
                                                 : "")
              << "\n";

  RestoredSettingsReport written;
  try {
    written = write_restored_settings(o.pgdata, settings);
  } catch (const std::exception& e) {
    recording.finish(false, e.what(), report.bytes);
    throw;
  }
  recording.finish(true, "", report.bytes);
  for (const std::string& line : written.removed)
    std::cout << "postgresql.auto.conf: removed " << line << "\n";
  for (const std::string& w : written.warnings) warn(w);
  say_carry_over(policy, storage->url());
  if (target) {
    std::cout << "recovery.signal written; postgresql.auto.conf now has:\n";
    for (const std::string& line : written.written)
      if (line.starts_with("restore_command") || line.starts_with("recovery_"))
        std::cout << "  " << line << "\n";
    const std::vector<std::string> env = o.repo.environment_variables_used();
    if (!env.empty()) {
      std::string names;
      for (const std::string& e : env) names += (names.empty() ? "" : ", ") + e;
      warn(names +
           " came from this command's environment; the server runs restore_command with its "
           "own environment, which normally does not have " +
           (env.size() == 1 ? "it" : "them") +
           ": put the settings in a file (pgvault.* lines, readable only by the server's OS "
           "user) and restore with --config FILE");
    }
  } else {
    std::cout << "the backup alone was restored (no --target*): the server recovers to the "
                 "backup's end and opens on timeline "
              << meta.timeline
              << "; to replay WAL archived after it too, restore with --target latest (or "
                 "--target-time/-lsn/-xid/-name)\n";
  }
  if (geteuid() == 0) {
    // PostgreSQL refuses a data directory it does not own.
    std::cout << "note: the restored files belong to root; give them to the server's OS user "
                 "before starting it: chown -R postgres: "
              << o.pgdata << "\n";
  }
  say_how_to_start(o.pgdata, policy.port);
  if (target)
    std::cout << "when recovery ends, recovery_end_command (pgvault wal-fetch --cleanup) stops "
                 "wal-fetch's background fetcher and removes its spool "
              << default_wal_spool_dir(o.pgdata)
              << " (with --target-action shutdown it stays until the next start's recovery "
                 "ends; a spool left by another recovery is never used)\n";
  return 0;
}

}  // namespace pgvault::cli
