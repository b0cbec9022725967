#include "pgvault/process/child_process.hpp"

#include "pgvault/error.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <string_view>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pgvault {
namespace {

struct Pipe {
  int read = -1, write = -1;
};

Pipe make_pipe(const std::string& program) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_os_error("could not create a pipe for " + program, errno);
  return {fds[0], fds[1]};
}

// Without the line ends and spaces a program's output ends with.
std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

bool starts_with_any(std::string_view name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.starts_with(p); });
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// write() that turns a child gone into EPIPE, never into a SIGPIPE that
// kills the caller: the server ignores SIGPIPE, a test or a tool may not.
// SIGPIPE is blocked around the call and one it raised is consumed (as
// libpq does for its sockets).
ssize_t write_without_sigpipe(int fd, const void* data, std::size_t size) {
  sigset_t sigpipe, old_mask, pending;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, &old_mask);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  const ssize_t n = ::write(fd, data, size);
  const int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !was_pending) {
    const timespec no_wait{0, 0};
    while (sigtimedwait(&sigpipe, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved_errno;
  return n;
}

// posix_spawn's resources, released whatever happens.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

ChildProcess::ChildProcess(ChildProcessOptions options) : options_(std::move(options)) {
  if (options_.argv.empty()) throw Error(ErrorKind::internal, "ChildProcess: no program given");
  const std::string& program = options_.argv[0];
  Pipe out = make_pipe(program), err = make_pipe(program), in;
  if (options_.pipe_stdin) in = make_pipe(program);

  SpawnSetup setup;
  if (options_.pipe_stdin) {
    posix_spawn_file_actions_adddup2(&setup.actions, in.read, STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&setup.actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err.write, STDERR_FILENO);
  // The server's processes block, catch and ignore signals (SIGPIPE among
  // them); the child starts with none of that.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    if (!starts_with_any(name, options_.drop_env_prefixes)) env_map[name] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options_.env) env_map[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : options_.argv) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = options_.search_path ? posix_spawnp(&pid, program.c_str(), &setup.actions,
                                                     &setup.attr, argv.data(), envp.data())
                                      : posix_spawn(&pid, program.c_str(), &setup.actions,
                                                    &setup.attr, argv.data(), envp.data());
  close_fd(out.write);
  close_fd(err.write);
  close_fd(in.read);
  if (rc != 0) {
    close_fd(out.read);
    close_fd(err.read);
    close_fd(in.write);
    throw_os_error("could not run " + program, rc);
  }
  pid_ = pid;
  stdout_fd_ = out.read;
  stderr_fd_ = err.read;
  stdin_fd_ = in.write;
  // Non-blocking: write_stdin() hands over whole buffers and still never
  // waits inside write() for a child that has stopped reading (it polls,
  // checking interrupts, instead).
  if (stdin_fd_ >= 0) ::fcntl(stdin_fd_, F_SETFL, ::fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
}

ChildProcess::~ChildProcess() {
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void ChildProcess::append_stderr(const char* data, std::size_t n) {
  stderr_.append(data, n);
  if (stderr_.size() > 2 * options_.stderr_limit)
    stderr_.erase(0, stderr_.size() - options_.stderr_limit);
}

void ChildProcess::drain_stderr(int timeout_ms) {
  if (stderr_fd_ < 0) return;
  pollfd p{stderr_fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return;
  char buf[4096];
  const ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
  if (n > 0) {
    append_stderr(buf, static_cast<std::size_t>(n));
  } else if (n == 0) {
    close_fd(stderr_fd_);
  }
}

std::size_t ChildProcess::read_stdout(std::span<std::byte> buf, std::chrono::milliseconds wait,
                                      bool& eof) {
  eof = false;
  if (stdout_fd_ < 0) {
    eof = true;
    return 0;
  }
  pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
  const int nfds = stderr_fd_ >= 0 ? 2 : 1;
  const int ready = ::poll(fds, static_cast<nfds_t>(nfds), static_cast<int>(wait.count()));
  if (ready < 0) {
    if (errno == EINTR) return 0;
    throw_os_error("poll on the output of " + options_.argv[0], errno);
  }
  if (nfds == 2 && fds[1].revents != 0) drain_stderr(0);
  if (fds[0].revents == 0) return 0;
  const ssize_t n = ::read(stdout_fd_, buf.data(), buf.size());
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    throw_os_error("read from " + options_.argv[0], errno);
  }
  if (n == 0) {
    close_fd(stdout_fd_);
    eof = true;
  }
  return static_cast<std::size_t>(n);
}

void ChildProcess::write_stdin(std::span<const std::byte> data,
                               const std::function<void()>& interrupted) {
  if (stdin_fd_ < 0) throw Error(ErrorKind::internal, "ChildProcess: stdin is not a pipe");
  while (!data.empty()) {
    pollfd p{stdin_fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, 100);
    drain_stderr(0);
    if (interrupted) interrupted();
    if (ready <= 0) continue;
    const ssize_t n = write_without_sigpipe(stdin_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == EPIPE)
        throw Error(ErrorKind::io, options_.argv[0] + " stopped reading its input");
      throw_os_error("write to " + options_.argv[0], errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

void ChildProcess::close_stdin() {
  close_fd(stdin_fd_);
}

int ChildProcess::wait(const std::function<void()>& interrupted) {
  if (reaped_) return status_;
  close_fd(stdin_fd_);
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      while (stderr_fd_ >= 0) drain_stderr(100);  // what it wrote last
      signaled_ = !WIFEXITED(status);
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (r < 0 && errno != EINTR) throw_os_error("waitpid for " + options_.argv[0], errno);
    if (stderr_fd_ >= 0) {
      drain_stderr(100);
    } else {
      ::usleep(20000);
    }
    if (stdout_fd_ >= 0) {
      // Output nobody reads any more must not block the child's exit.
      char sink[4096];
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0 && ::read(stdout_fd_, sink, sizeof sink) == 0) close_fd(stdout_fd_);
    }
    if (interrupted) interrupted();
  }
}

std::string ChildProcess::stderr_text() const {
  std::string s = stderr_;
  if (s.size() > options_.stderr_limit) s.erase(0, s.size() - options_.stderr_limit);
  return trim_end(std::move(s));
}

std::string ChildProcess::describe_exit() const {
  if (signaled_) return "was killed by signal " + std::to_string(status_ - 128);
  return "exited with status " + std::to_string(status_);
}

std::string ProgramOutput::trimmed_stdout() const {
  return trim_end(stdout_text);
}

std::string ProgramOutput::said() const {
  const std::string out = trimmed_stdout();
  if (out.empty() || stderr_text.empty()) return out + stderr_text;
  return out + "\n" + stderr_text;
}

ProgramOutput run_to_end(ChildProcessOptions options, const std::function<void()>& interrupted) {
  ChildProcess child(std::move(options));
  ProgramOutput result;
  std::vector<std::byte> buf(16384);
  for (bool eof = false; !eof;) {
    const std::size_t n = child.read_stdout(buf, std::chrono::milliseconds(100), eof);
    result.stdout_text.append(reinterpret_cast<const char*>(buf.data()), n);
    if (interrupted) interrupted();
  }
  result.status = child.wait(interrupted);
  result.stderr_text = child.stderr_text();
  result.exit = child.describe_exit();
  return result;
}

}  // namespace pgvault
