#include "pgvault/logical/logical_backup.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/storage/storage.hpp"

#include <chrono>
#include <optional>
#include <vector>

namespace pgvault {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr const char* kDumpStem = "dump.pgdump";  // + the compression's suffix

}  // namespace

std::string logical_dump_object(Compression c) {
  return kDumpStem + std::string(compression_suffix(c));
}

std::string conninfo_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

void validate_logical_options(const LogicalOptions& o) {
  if (o.schema_only && o.data_only)
    throw Error(ErrorKind::invalid_argument,
                "schema_only and data_only cannot both be true (a dump with neither schema nor "
                "data would be empty)");
  auto check = [](const std::vector<std::string>& patterns, const char* what) {
    for (const auto& p : patterns)
      if (p.empty() || p.find('\0') != std::string::npos)
        throw Error(ErrorKind::invalid_argument,
                    std::string(what) +
                        " holds an empty table pattern; use names such as "
                        "'public.orders' or patterns such as 'sales.*'");
  };
  check(o.include_tables, "include_tables");
  check(o.exclude_tables, "exclude_tables");
}

std::vector<std::string> pg_dump_arguments(const BackupRequest& req) {
  // --compress=0: the pipeline compresses (one codec and level for every
  // backup, and the stored object's suffix says which).
  std::vector<std::string> argv = {
      req.pg_dump, "--format=custom", "--compress=0", "--no-password",
      "--dbname=" + req.conninfo + " dbname=" + conninfo_quote(req.origin.database)};
  if (req.lock_wait_timeout_ms > 0)
    argv.push_back("--lock-wait-timeout=" + std::to_string(req.lock_wait_timeout_ms));
  if (req.logical.schema_only) argv.push_back("--schema-only");
  if (req.logical.data_only) argv.push_back("--data-only");
  for (const auto& t : req.logical.include_tables) argv.push_back("--table=" + t);
  for (const auto& t : req.logical.exclude_tables) argv.push_back("--exclude-table=" + t);
  return argv;
}

BackupMeta run_logical_backup(Repository& repo, const BackupRequest& req,
                              const std::function<void(const BackupProgress&)>& progress,
                              const std::function<void()>& check_interrupts) {
  validate_logical_options(req.logical);
  BackupMeta meta = begin_backup(repo, req);
  EncodeOptions encoding;
  encoding.compression = req.compression.algorithm;
  encoding.compression_level = meta.compression_level;
  encoding.encryption_key = req.encryption_key;
  std::optional<std::string> committed;  // the dump's path once its object is stored
  try {
    EncodeChain dump(repo.storage(),
                     Repository::backup_dir(req.origin.system_identifier, req.origin.name),
                     kDumpStem, encoding);
    ChildProcessOptions opts;
    opts.argv = pg_dump_arguments(req);
    opts.env = {{"PGAPPNAME", "pgvault logical backup"}};
    ChildProcess pg_dump(std::move(opts));
    std::vector<std::byte> buf(kReadChunk);
    BackupProgress state;
    state.phase = "dumping";
    bool eof = false;
    while (!eof) {
      const std::size_t n = pg_dump.read_stdout(buf, std::chrono::milliseconds(200), eof);
      if (n > 0) {
        dump.input().write(std::span<const std::byte>(buf.data(), n));
        state.done += n;
        state.stored = dump.stored_bytes();
        check_stored_size(req, state.stored);
        progress(state);
      }
      check_interrupts();
    }
    if (pg_dump.wait(check_interrupts) != 0) {
      std::string err = pg_dump.stderr_text();
      throw Error(ErrorKind::storage, "pg_dump " + pg_dump.describe_exit() +
                                          (err.empty() ? std::string() : ": " + err));
    }
    meta.objects = {dump.finish()};
    committed = dump.path();
    meta.source_bytes = state.done;
    meta.stored_bytes = meta.objects[0].size;
    check_stored_size(req, meta.stored_bytes);
    meta.completed_at = utc_timestamp_now();
    repo.write_meta(meta);  // last: from here on the backup is restorable
  } catch (...) {
    if (committed) {
      try {
        repo.storage().remove(*committed);
      } catch (...) {
        // the caller's cleanup of the backup's directory retries this
      }
    }
    throw;
  }
  return meta;
}

}  // namespace pgvault
