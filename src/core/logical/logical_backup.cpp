#include "pgvault/logical/logical_backup.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/storage/storage.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace pgvault {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

}  // namespace

std::string logical_dump_object(Compression c) {
  return "dump.pgdump" + std::string(compression_suffix(c));
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

std::vector<std::string> pg_dump_arguments(const LogicalBackupRequest& req) {
  // --compress=0: the pipeline compresses (one codec and level for every
  // backup, and the stored object's suffix says which).
  std::vector<std::string> argv = {
      req.pg_dump, "--format=custom", "--compress=0", "--no-password",
      "--dbname=" + req.conninfo + " dbname=" + conninfo_quote(req.origin.database)};
  if (req.lock_wait_timeout_ms > 0)
    argv.push_back("--lock-wait-timeout=" + std::to_string(req.lock_wait_timeout_ms));
  if (req.options.schema_only) argv.push_back("--schema-only");
  if (req.options.data_only) argv.push_back("--data-only");
  for (const auto& t : req.options.include_tables) argv.push_back("--table=" + t);
  for (const auto& t : req.options.exclude_tables) argv.push_back("--exclude-table=" + t);
  return argv;
}

BackupMeta run_logical_backup(Repository& repo, const LogicalBackupRequest& req,
                              const std::function<void(const LogicalProgress&)>& progress,
                              const std::function<void()>& check_interrupts) {
  validate_logical_options(req.options);
  const int level = effective_compression_level(req.compression, req.compression_level);
  BackupMeta meta = begin_backup_meta(req.origin, "logical");
  meta.compression = std::string(compression_name(req.compression));
  meta.compression_level = level;
  meta.compressed_by = req.compression == Compression::none ? "none" : "client";
  meta.logical = req.options;
  record_encryption(meta, req.encryption_key);

  const std::string object = logical_dump_object(req.compression);
  const std::string path =
      Repository::object_path(req.origin.system_identifier, req.origin.name, object);
  bool committed = false;
  try {
    auto writer = repo.storage().open_write(path);
    ObjectSink stored(*writer);
    DigestSink digest(stored);
    std::unique_ptr<Sink> encryptor, compressor;
    Sink* head = &digest;
    if (req.encryption_key) {
      encryptor = make_encryptor(*req.encryption_key, *head);
      head = encryptor.get();
    }
    if (req.compression != Compression::none) {
      compressor = make_compressor(req.compression, level, *head);
      head = compressor.get();
    }

    ChildProcessOptions opts;
    opts.argv = pg_dump_arguments(req);
    opts.env = {{"PGAPPNAME", "pgvault logical backup"}};
    ChildProcess pg_dump(std::move(opts));
    std::vector<std::byte> buf(kReadChunk);
    LogicalProgress state;
    bool eof = false;
    while (!eof) {
      const std::size_t n = pg_dump.read_stdout(buf, std::chrono::milliseconds(200), eof);
      if (n > 0) {
        head->write(std::span<const std::byte>(buf.data(), n));
        state.dumped += n;
        state.stored = digest.bytes();
        progress(state);
      }
      check_interrupts();
    }
    if (pg_dump.wait(check_interrupts) != 0) {
      std::string err = pg_dump.stderr_text();
      throw Error(ErrorKind::storage, "pg_dump " + pg_dump.describe_exit() +
                                          (err.empty() ? std::string() : ": " + err));
    }
    head->finish();  // commits the object
    committed = true;
    meta.objects = {{object, digest.bytes(), digest.sha256()}};
    meta.source_bytes = state.dumped;
    meta.stored_bytes = digest.bytes();
    meta.completed_at = utc_timestamp_now();
    repo.write_meta(meta);  // last: from here on the backup is restorable
  } catch (...) {
    if (committed) {
      try {
        repo.storage().remove(path);
      } catch (...) {
        // the caller's cleanup of the backup's directory retries this
      }
    }
    throw;
  }
  return meta;
}

}  // namespace pgvault
