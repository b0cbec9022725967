// A child process whose stdout is read as a stream (pg_dump into the
// pipeline, pg_restore fed on stdin) or collected whole (run_to_end: the
// CLI's pg_ctl and psql), and whose stderr is kept for the error message.
// PG-free: the server glue passes an interrupt check.
#pragma once
#include "pgvault/pg_free.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pgvault {

struct ChildProcessOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path
  // Look a program name without '/' up in $PATH (else argv[0] is a path).
  bool search_path = false;
  // Inherited variables whose names begin with one of these are not passed
  // on (e.g. "PG": the caller's PGHOST must not steer a scratch server).
  std::vector<std::string> drop_env_prefixes;
  // Added to (or replacing in) the inherited environment, after
  // drop_env_prefixes.
  std::vector<std::pair<std::string, std::string>> env;
  bool pipe_stdin = false;           // else stdin is /dev/null
  std::size_t stderr_limit = 16384;  // keep the last this many bytes of stderr
};

class ChildProcess {
 public:
  // Starts the program; throws Error(io) when it cannot be started (missing
  // file, not executable), naming the program.
  explicit ChildProcess(ChildProcessOptions options);
  // Kills (SIGKILL) and reaps a child still running: never leaves one behind.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads up to buf.size() bytes of stdout, waiting at most `wait` for some;
  // stderr is drained meanwhile. Returns the count (0 also on a timeout) and
  // sets eof once stdout is closed.
  std::size_t read_stdout(std::span<std::byte> buf, std::chrono::milliseconds wait, bool& eof);
  // Writes all of data to stdin (pipe_stdin; the pipe is non-blocking, so a
  // child that stops reading never blocks us inside write()). stderr is
  // drained meanwhile; stdout is not (the caller reads it if the child writes
  // any). `interrupted` (may throw) is called about every 100 ms while the
  // pipe is full.
  void write_stdin(std::span<const std::byte> data, const std::function<void()>& interrupted);
  void close_stdin();

  // Waits for the exit, draining stderr, calling `interrupted` (may throw)
  // about every 100 ms. Returns the exit status (0-255) or 128+signal.
  int wait(const std::function<void()>& interrupted);

  // The tail of what the child wrote to stderr, trimmed.
  std::string stderr_text() const;
  // "exited with status 1" / "was killed by signal 9", after wait().
  std::string describe_exit() const;
  int pid() const { return pid_; }

 private:
  void drain_stderr(int timeout_ms);
  void append_stderr(const char* data, std::size_t n);

  ChildProcessOptions options_;
  int pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  bool signaled_ = false;
  std::string stderr_;
};

// What a program that ran to its end left behind.
struct ProgramOutput {
  int status = 0;           // as ChildProcess::wait() returns it
  std::string stdout_text;  // all of it, as written
  std::string stderr_text;  // ChildProcess::stderr_text()
  std::string exit;         // ChildProcess::describe_exit()
  // stdout without the line ends and spaces it ends with.
  std::string trimmed_stdout() const;
  // stdout and stderr trimmed, joined by a newline when both have text: what
  // the program said, for an error message.
  std::string said() const;
};

// Runs a program whose output is small (a version, a query's result, an
// error) to its end, collecting stdout whole. `interrupted` (may throw) is
// called about every 100 ms; when it throws, the child is killed and reaped.
ProgramOutput run_to_end(ChildProcessOptions options, const std::function<void()>& interrupted);

}  // namespace pgvault
