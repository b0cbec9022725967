#include "get_command.hpp"

#include "backup_choice.hpp"
#include "command_progress.hpp"
#include "common_options.hpp"
#include "usage.hpp"
#include "output_file.hpp"
#include "text_output.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/text.hpp"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <unistd.h>

namespace pgvault::cli {
namespace {

// Writes to a file descriptor; the caller owns it.
class FdSink final : public Sink {
 public:
  FdSink(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  void write(std::span<const std::byte> data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_os_error("could not write " + what_, errno);
      }
      data = data.subspan(static_cast<std::size_t>(n));
      bytes_ += static_cast<std::uint64_t>(n);
    }
  }
  void finish() override {}
  std::uint64_t bytes() const { return bytes_; }

 private:
  int fd_;
  std::string what_;
  std::uint64_t bytes_ = 0;
};

}  // namespace

Command add_get_command(CLI::App& app) {
  auto o = std::make_shared<GetOptions>();
  auto* get = app.add_subcommand(
      "get", "Write a logical backup's pg_dump archive (decrypted, decompressed) for pg_restore");
  get->footer(help_example(
      {"pgvault get --repo file:///var/lib/postgresql/15/pgvault --backup latest --database shop "
       "-o shop.pgdump",
       "pgvault get --config /etc/postgresql/15/main/postgresql.conf --backup NAME -o - | "
       "pg_restore -l"}));
  o->repo.add_to(get);
  add_backup_option(get, o->backup,
                    "the newest complete logical backup (of --database when given), not counting "
                    "pre_restore backups");
  add_database_option(get, o->database,
                      "\"latest\" is the newest logical backup of this database (with a backup "
                      "name: check that it is one)");
  get->add_flag("--include-pre-restore", o->include_pre_restore,
                "\"latest\" may also be a pre_restore backup (the dump vault.restore_logical() "
                "takes of a database before replacing it)");
  get->add_option("--output,-o", o->output, "Output file, or - for standard output")->required();
  add_system_id_option(get, o->system_id);
  get->add_flag("--force", o->force, "Overwrite the output file if it exists");
  o->progress.add_to(get);
  return {get, [o] { return run_get(*o); }};
}

int run_get(const GetOptions& o) {
  (void)o.progress.max_rate_bytes();  // checked before the repository is read
  // Standard error: standard output may be the dump itself.
  std::ostream& say = o.progress.quiet ? null_stream() : std::cerr;
  const QuietWarnings no_warnings(o.progress.quiet);
  auto storage = o.repo.open();
  Repository repo(*storage);
  BackupSelector logical;
  logical.kind = "logical";
  logical.database = o.database;
  logical.skip_pre_restore = !o.include_pre_restore;
  const BackupMeta meta = choose_backup(repo, o.backup, o.system_id, logical, say,
                                        "pgvault list shows what the repository holds");
  if (meta.kind != "logical" || meta.objects.size() != 1)
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; pgvault get writes logical backups (restore a physical one with "
                    "pgvault restore)");
  if (!o.database.empty() && meta.database != o.database)
    throw Error(ErrorKind::invalid_argument, "backup \"" + meta.name +
                                                 "\" is a dump of database \"" + meta.database +
                                                 "\", not of \"" + o.database + "\" (--database)");
  const ObjectEntry& object = meta.objects.front();
  const bool to_stdout = o.output == "-";
  if (!to_stdout && !o.force && std::filesystem::exists(o.output))
    throw Error(ErrorKind::already_exists,
                o.output + " exists; choose another file or pass --force to overwrite it");

  std::unique_ptr<OutputFile> file;
  if (!to_stdout) file = std::make_unique<OutputFile>(o.output);
  FdSink out(to_stdout ? STDOUT_FILENO : file->fd(), to_stdout ? "standard output" : o.output);
  backup_reading::DecodeChain decode(object.name, out, o.repo.decryptor(meta));
  CommandProgress progress(o.progress, object.size);
  backup_reading::read_object(*storage, meta, object, decode.input(),
                              [&progress](std::uint64_t n) { progress.on_read(n); });
  if (file) file->commit();
  const std::string read = progress.finish();
  say << "backup \"" << meta.name << "\" (logical, database " << meta.database
      << "): " << human_size(out.bytes()) << " pg_dump archive written to "
      << (to_stdout ? "standard output" : o.output) << " (" << read
      << "); restore it with pg_restore -d DB " << (to_stdout ? "" : o.output) << "\n";
  return 0;
}

}  // namespace pgvault::cli
