// What a restored data directory carries over from the cluster it came from,
// and how it fetches archived WAL: the settings `pgvault restore` writes into
// the restored postgresql.auto.conf besides the recovery target
// (wal/recovery_target.hpp).
//
// Contract:
//  - A restored copy must never harm the repository it came from (issue 15
//    item 6): by default (CarryOver::off) it neither archives WAL
//    (archive_mode = 'off') nor takes scheduled backups (every setting of
//    kScheduleSettings = ''), each block preceded by a comment that says why
//    and how to turn it back on. CarryOver::preserve leaves what the backup
//    had: the cluster that replaces a lost one keeps both.
//  - render_restored_copy_settings is text in, text out, like
//    render_recovery_auto_conf: with off it drops every earlier line setting
//    that parameter (case-insensitive names; reported in `removed`) and its
//    own earlier comment, then appends its block; with preserve it changes
//    nothing for that parameter. Running it twice gives the same text.
//  - wal_fetch_restore_command is the restore_command PostgreSQL runs through
//    /bin/sh: the absolute path of the pgvault program, `wal-fetch`, the
//    repository options the restore itself used, `%f %p`. Every word is
//    shell-quoted when it needs to be ('...' with ' as '\''), and every '%'
//    of a fixed word is doubled, since PostgreSQL replaces %f, %p, %r and %%
//    in restore_command. Paths must be absolute (the server runs it in its
//    data directory); anything else is Error(invalid_argument).
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/wal/recovery_target.hpp"  // AutoConfEdit

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

enum class CarryOver { off, preserve };

// "off" or "preserve"; anything else is Error(invalid_argument) naming the
// option ("--archive-mode") and the allowed values.
CarryOver parse_carry_over(std::string_view option, std::string_view value);
std::string_view carry_over_name(CarryOver mode);

struct RestoredCopyPolicy {
  CarryOver archive_mode = CarryOver::off;
  CarryOver schedule = CarryOver::off;
  // --port: the copy listens here (port = N), so that it can start beside
  // the original, which may still run on the port the backup has.
  std::optional<unsigned> port{};
};

// The settings that make pgvault's scheduler take backups into the repository.
// (pgvault.verify_schedule only reads the repository: it is left alone.)
inline constexpr std::array<std::string_view, 3> kScheduleSettings = {
    "pgvault.schedule", "pgvault.incremental_schedule", "pgvault.logical_schedule"};

// The comment lines of the two blocks start with these.
inline constexpr std::string_view kArchiveOffComment = "# pgvault restore --archive-mode off:";
inline constexpr std::string_view kScheduleOffComment = "# pgvault restore --schedule off:";
inline constexpr std::string_view kPortComment = "# pgvault restore --port:";

AutoConfEdit render_restored_copy_settings(std::string_view existing,
                                           const RestoredCopyPolicy& policy);

// One word for /bin/sh: as it is when it holds only [A-Za-z0-9_@%+=:,./-]
// (and is not empty), else between single quotes with ' written as '\''.
std::string shell_quote(std::string_view word);

struct WalFetchInvocation {
  std::string program{};              // absolute path of the pgvault executable
  std::string config_file{};          // --config, absolute; empty = not given
  std::string repository_url{};       // --repo; empty = not given
  std::string encryption_key_file{};  // --encryption-key-file, absolute; empty = not given
  std::string system_identifier{};    // --system-id, always given
};

// The wal-fetch command line options, as `pgvault wal-fetch` spells them.
inline constexpr std::string_view kWalFetchCommand = "wal-fetch";
inline constexpr std::string_view kWalFetchConfigOption = "--config";
inline constexpr std::string_view kWalFetchRepositoryOption = "--repo";
inline constexpr std::string_view kWalFetchKeyFileOption = "--encryption-key-file";
inline constexpr std::string_view kWalFetchSystemOption = "--system-id";

std::string wal_fetch_restore_command(const WalFetchInvocation& invocation);
// recovery_end_command: `<program> wal-fetch --cleanup`, which stops the
// prefetcher and removes the spool restore_command used (the default one
// beside the data directory). Quoted as restore_command is.
inline constexpr std::string_view kWalFetchCleanupOption = "--cleanup";
std::string wal_fetch_cleanup_command(const WalFetchInvocation& invocation);

// Everything pgvault restore writes into a restored data directory after its
// files: postgresql.auto.conf through render_restored_copy_settings and, with
// a target, render_recovery_auto_conf (restore_command required), and then
// recovery.signal. The file is replaced atomically (a temporary file, fsync,
// rename, fsync of the directory) keeping its mode (0600 when it was
// missing). Errors are Error(io) naming the file.
struct RestoredSettings {
  RestoredCopyPolicy policy;
  std::optional<RecoveryTarget> target;
  std::string restore_command;
  std::string recovery_end_command;  // empty: none
};
struct RestoredSettingsReport {
  std::vector<std::string> removed;   // setting lines dropped, as they were
  std::vector<std::string> warnings;  // e.g. include directives left alone
  std::vector<std::string> written;   // the setting lines pgvault added (no comments)
  bool recovery_signal = false;
};
RestoredSettingsReport write_restored_settings(const std::string& pgdata,
                                               const RestoredSettings& settings);

}  // namespace pgvault
