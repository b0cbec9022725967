#include "pgvault/logical/logical_restore.hpp"

#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/storage/storage.hpp"

#include <chrono>
#include <exception>
#include <span>
#include <utility>

namespace pgvault {

namespace {

// The decoded dump, written into pg_restore's stdin. Remembers the first
// error (pg_restore stopped reading, or an interrupt while the pipe was full).
class PgRestoreInput final : public Sink {
 public:
  PgRestoreInput(ChildProcess& child, const std::function<void()>& check_interrupts)
      : child_(child), check_interrupts_(check_interrupts) {}
  void write(std::span<const std::byte> data) override {
    // The pipe is non-blocking: a pg_restore busy for an hour (building an
    // index) cannot keep the caller from seeing an interrupt.
    try {
      child_.write_stdin(data, check_interrupts_);
      bytes_ += data.size();
    } catch (...) {
      if (!error_) error_ = std::current_exception();
      throw;
    }
  }
  void finish() override { child_.close_stdin(); }
  const std::exception_ptr& error() const { return error_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  ChildProcess& child_;
  const std::function<void()>& check_interrupts_;
  std::exception_ptr error_;
  std::uint64_t bytes_ = 0;
};

}  // namespace

const ObjectEntry& logical_dump_entry(const BackupMeta& meta) {
  for (const auto& o : meta.objects)
    if (o.name.rfind("dump.pgdump", 0) == 0) return o;
  throw Error(ErrorKind::corrupt, "backup \"" + meta.name +
                                      "\" is a logical backup without a dump.pgdump object; it "
                                      "is not restorable");
}

std::vector<std::string> pg_restore_arguments(const LogicalRestoreRequest& req) {
  return {req.pg_restore, "--exit-on-error", "--no-password",
          "--dbname=" + req.conninfo + " dbname=" + conninfo_quote(req.database)};
}

void check_logical_dump(Storage& storage, const BackupMeta& meta,
                        const std::function<void()>& check_interrupts) {
  NullSink discard;
  (void)backup_reading::read_object(storage, meta, logical_dump_entry(meta), discard,
                                    [&](std::uint64_t) { check_interrupts(); });
}

LogicalRestoreResult run_logical_restore(Storage& storage, const BackupMeta& meta,
                                         const LogicalRestoreRequest& req,
                                         const std::function<void()>& check_interrupts) {
  const ObjectEntry& entry = logical_dump_entry(meta);
  // An interrupt ends the restore at once; only a broken pipe waits for
  // pg_restore's own word.
  bool interrupted = false;
  const std::function<void()> checked = [&] {
    try {
      check_interrupts();
    } catch (...) {
      interrupted = true;
      throw;
    }
  };
  ChildProcessOptions opts;
  opts.argv = pg_restore_arguments(req);
  opts.env = {{"PGAPPNAME", "pgvault restore"}};
  opts.pipe_stdin = true;
  ChildProcess child(std::move(opts));
  PgRestoreInput input(child, checked);
  backup_reading::DecodeChain chain(entry.name, input, req.decryptor);
  bool pipe_broke = false;
  try {
    std::vector<std::byte> out(4096);
    backup_reading::read_object(storage, meta, entry, chain.input(), [&](std::uint64_t) {
      // Stop reading at once when pg_restore is gone.
      if (input.error()) std::rethrow_exception(input.error());
      bool eof = false;
      (void)child.read_stdout(out, std::chrono::milliseconds(0), eof);  // (it writes none)
      checked();
    });
  } catch (...) {
    // The repository or decoding failed, or an interrupt: that is the error
    // (the child is killed on the way out).
    if (interrupted || !input.error()) throw;
    pipe_broke = true;
  }
  const int status = child.wait(checked);
  if (status != 0) {
    const std::string err = child.stderr_text();
    throw Error(ErrorKind::storage,
                "pg_restore " + child.describe_exit() + (err.empty() ? "" : ": " + err));
  }
  return {input.bytes(), pipe_broke};
}

}  // namespace pgvault
