// The pgvault command: works on a repository with no running database.
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

#include "backup_choice.hpp"
#include "get_command.hpp"
#include "repository_options.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#ifndef PGVAULT_VERSION
#define PGVAULT_VERSION "0.1.0"
#endif

namespace {

using namespace pgvault;
using pgvault::cli::RepositoryOptions;

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

struct ListOptions {
  RepositoryOptions repo;
  std::string system_id;
  bool json = false;
};

// Damaged backups (a backup.json that cannot be used) are listed with the
// reason, never left out: they are not restorable, but their data may be
// worth saving, and an operator must see them.
int run_list(const ListOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  const RepositoryListing listing = repo.list_all(o.system_id);
  const std::vector<BackupMeta>& backups = listing.complete;

  if (o.json) {
    // ordered_json keeps backup.json's own field order.
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& b : backups) arr.push_back(nlohmann::ordered_json::parse(b.to_json()));
    for (const auto& d : listing.unreadable) {
      arr.push_back({{"name", d.name},
                     {"system_identifier", d.system_identifier},
                     {"damaged", true},
                     {"error", d.error}});
    }
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  if (backups.empty() && listing.unreadable.empty()) {
    if (o.system_id.empty()) {
      std::cout << "no backups in " << storage->url() << "\n";
    } else {
      std::set<std::string> others;
      for (const auto& b : repo.list_backups()) others.insert(b.system_identifier);
      std::string held;
      for (const auto& id : others) held += (held.empty() ? "" : ", ") + id;
      std::cout << "no backups of system " << o.system_id << " in " << storage->url()
                << (held.empty() ? ""
                                 : " (it holds backups of system" +
                                       std::string(others.size() == 1 ? " " : "s ") + held + ")")
                << "\n";
    }
    return 0;
  }

  const std::vector<std::string> head = {"NAME",   "KIND",        "STARTED",  "COMPLETED", "STORED",
                                         "SOURCE", "COMPRESSION", "STOP LSN", "SYSTEM ID"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : backups) {
    rows.push_back({b.name, or_dash(b.kind), or_dash(b.started_at), or_dash(b.completed_at),
                    human_size(b.stored_bytes), human_size(b.source_bytes), or_dash(b.compression),
                    or_dash(b.stop_lsn), or_dash(b.system_identifier)});
  }
  for (const auto& d : listing.unreadable) {
    rows.push_back({d.name, "DAMAGED", "-", "-", "-", "-", "-", "-", d.system_identifier});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(head);
  for (const auto& r : rows) print_row(r);
  if (!listing.unreadable.empty()) {
    std::cout << "\n"
              << listing.unreadable.size() << " damaged backup"
              << (listing.unreadable.size() == 1 ? "" : "s")
              << " (backup.json unusable: not restorable, never removed by cleanup):\n";
    for (const auto& d : listing.unreadable) std::cout << "  " << d.error << "\n";
  }
  return 0;
}

struct RestoreCliOptions {
  RepositoryOptions repo;
  std::string backup;
  std::string pgdata;
  std::string system_id;
  std::vector<std::string> tablespace_mapping;
};

int run_restore(const RestoreCliOptions& o) {
  auto storage = o.repo.open();
  Repository repo(*storage);
  BackupSelector physical;
  physical.kind = "physical";
  const BackupMeta meta =
      pgvault::cli::choose_backup(repo, o.backup, o.system_id, physical, std::cout,
                                  "pgvault restore restores physical backups only");
  if (meta.kind != "physical") {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; pgvault restore restores physical backups only (restore a logical "
                    "backup with pg_restore, or from SQL with vault.restore_logical())");
  }

  RestoreOptions ro;
  ro.pgdata = o.pgdata;
  ro.decryptor = o.repo.decryptor(meta);
  for (const auto& m : o.tablespace_mapping) {
    const auto eq = m.find('=');  // validated by the option's check
    ro.tablespace_mapping[m.substr(0, eq)] = m.substr(eq + 1);
  }

  std::cout << "restoring backup \"" << meta.name << "\" (physical, PostgreSQL "
            << meta.pg_version / 10000 << "." << meta.pg_version % 100 << ", system "
            << meta.system_identifier << ", completed " << or_dash(meta.completed_at) << ") from "
            << storage->url() << " into " << o.pgdata << "\n";
  const RestoreReport report = restore_physical(repo, meta, ro, [](std::string_view line) {
    std::cout << "  " << line << "\n" << std::flush;
  });
  std::cout << "restored " << report.files << " files (" << human_size(report.bytes) << ") from "
            << report.objects << " objects; the data directory is consistent at LSN "
            << or_dash(meta.stop_lsn) << " (timeline " << meta.timeline << ")\n";
  if (geteuid() == 0) {
    // PostgreSQL refuses a data directory it does not own.
    std::cout << "note: the restored files belong to root; give them to the server's OS user "
                 "before starting it: chown -R postgres: "
              << o.pgdata << "\n";
  }
  std::cout << "start it with: pg_ctl -D " << o.pgdata << " start\n";
  return 0;
}

// ---- pgvault verify ----------------------------------------------------------

struct VerifyCliOptions {
  RepositoryOptions repo;
  std::string backup;
  std::string system_id;
  std::string kind;      // of "latest"; empty = physical unless database is given
  std::string database;  // "latest" = the newest dump of this database
  bool restore_test = false;
  bool json = false;
};

// Set by SIGINT/SIGTERM/SIGHUP during a restore test, so the scratch server
// is stopped and the scratch directory removed before pgvault exits.
volatile std::sig_atomic_t g_interrupted = 0;

void note_interrupt(int) {
  g_interrupted = 1;
}

void throw_if_interrupted() {
  if (g_interrupted) {
    throw Error(ErrorKind::cancelled, "interrupted; the restore test was abandoned");
  }
}

// Catches the signals for the lifetime of a restore test. SA_RESETHAND: a
// second Ctrl-C kills pgvault at once, for someone who cannot wait.
class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction sa {};
    sa.sa_handler = note_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // no SA_RESTART: blocking calls return EINTR
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~InterruptGuard() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
};

struct CommandResult {
  int status = -1;     // exit status, or 128 + signal number
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (a path, or a name looked up in PATH) with the environment
// minus libpq's PG* variables (a PGHOST or PGOPTIONS of the caller must not
// steer the scratch server or psql), plus extra_env. No shell is involved.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "PG", 2) != 0) env_store.emplace_back(*e);
  }
  env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_store = argv;
  std::vector<char*> args;
  for (auto& a : args_store) args.push_back(a.data());
  args.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_os_error("could not create a pipe", errno);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw_os_error("could not start " + argv[0], err);
  }
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    // Our signal handlers are not the child's business.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    ::execvpe(args[0], args.data(), envp.data());
    const std::string msg = "could not run " + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(fds[1]);
  CommandResult result;
  char buf[4096];
  bool signalled = false;
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      if (g_interrupted && !signalled) {
        ::kill(pid, SIGTERM);
        signalled = true;
      }
      continue;
    }
    break;
  }
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return result;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// "postgres (PostgreSQL) 15.5 (Debian ...)" -> 15; 0 when unreadable.
int postgres_major_version(const std::string& bindir) {
  const CommandResult r = run_command({bindir + "/postgres", "--version"});
  if (r.status != 0) return 0;
  const std::size_t at = r.output.find(") ");
  return at == std::string::npos ? 0 : std::atoi(r.output.c_str() + at + 2);
}

// pg_ctl, postgres and psql of the backup's major version: $PGVAULT_PG_BINDIR
// when set (and then nothing else), else `pg_config --bindir`, else Debian's
// /usr/lib/postgresql/<major>/bin. A server of another major version cannot
// start the restored files, so the version is checked.
std::string find_pg_bindir(int major) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PGVAULT_PG_BINDIR"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  } else {
    try {
      const CommandResult r = run_command({"pg_config", "--bindir"});
      if (r.status == 0 && !trim(r.output).empty()) candidates.push_back(trim(r.output));
    } catch (const Error&) {
      // no pg_config: try the fixed location
    }
    candidates.push_back("/usr/lib/postgresql/" + std::to_string(major) + "/bin");
  }
  std::string tried;
  for (const auto& dir : candidates) {
    const bool present = ::access((dir + "/pg_ctl").c_str(), X_OK) == 0 &&
                         ::access((dir + "/psql").c_str(), X_OK) == 0;
    const int found = present ? postgres_major_version(dir) : 0;
    if (found == major) return dir;
    tried += (tried.empty() ? "" : ", ") + dir +
             (present ? " (PostgreSQL " + std::to_string(found) + ")" : " (no pg_ctl and psql)");
  }
  throw Error(ErrorKind::not_found,
              "--restore-test needs pg_ctl, postgres and psql of PostgreSQL " +
                  std::to_string(major) + ", the backup's version; tried " + tried +
                  ". Set PGVAULT_PG_BINDIR to their directory");
}

// A TCP port nobody listens on right now. The scratch server listens on no
// TCP address at all (listen_addresses = ''); the port only names its Unix
// socket, but a free one keeps tools that look at port numbers unconfused.
int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_os_error("could not create a socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw_os_error("could not find a free local port", err);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A postgresql.conf string literal.
std::string conf_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  return out + "'";
}

void append_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
  out.close();
  if (!out) throw_os_error("could not write \"" + path + "\"", errno);
}

std::string tail_lines(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += "\n    " + l;
  return out;
}

// The scratch directory: created with mkdtemp (0700, so its Unix socket is
// ours alone), removed with everything in it when the test ends, however it
// ends. Under $TMPDIR unless that is too long for a Unix socket path (108
// bytes on Linux) or needs quoting, then under /tmp.
class ScratchDir {
 public:
  ScratchDir() {
    std::string base = "/tmp";
    if (const char* t = std::getenv("TMPDIR"); t != nullptr && usable_base(t)) base = t;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    std::string tmpl = base + "/pgvault-restore-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw_os_error("could not create a scratch directory under " + base, errno);
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) {
      std::cerr << "pgvault: warning: could not remove scratch directory " << path_ << ": "
                << ec.message() << "\n";
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  // Absolute, short enough for the socket path, and only characters that
  // need no quoting in a shell or a configuration file.
  static bool usable_base(std::string_view dir) {
    return !dir.empty() && dir.front() == '/' &&
           dir.size() + std::strlen("/pgvault-restore-test-XXXXXX/.s.PGSQL.65535") < 100 &&
           std::all_of(dir.begin(), dir.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' ||
                    c == '_' || c == '-';
           });
  }
  std::string path_;
};

// A server started from the scratch data directory. Never left running: the
// destructor stops it (fast, then immediate, then SIGKILL) whenever pg_ctl
// start was attempted, since a timed-out start may still leave a postmaster.
class ScratchServer {
 public:
  ScratchServer(std::string bindir, std::string pgdata, std::string logfile)
      : bindir_(std::move(bindir)), pgdata_(std::move(pgdata)), logfile_(std::move(logfile)) {}
  ~ScratchServer() {
    if (attempted_) stop_quietly();
  }
  ScratchServer(const ScratchServer&) = delete;
  ScratchServer& operator=(const ScratchServer&) = delete;

  void start() {
    attempted_ = true;
    // A data_directory in the backup's postgresql.conf would otherwise win
    // over -D and point the server at the source's directory; the command
    // line beats every file. pg_ctl hands -o to a shell: the scratch path
    // holds no character a shell treats specially (see ScratchDir).
    const CommandResult r =
        run_command({bindir_ + "/pg_ctl", "-D", pgdata_, "-o", "-c data_directory=" + pgdata_, "-l",
                     logfile_, "-w", "-t", "120", "-s", "start"});
    throw_if_interrupted();
    if (r.status != 0) {
      throw Error(ErrorKind::corrupt,
                  "the restored data directory did not start: pg_ctl said \"" + trim(r.output) +
                      "\"; last lines of the server log:" + tail_lines(logfile_, 20));
    }
  }

  // Stops the server; throws when it would not stop.
  void stop() {
    const CommandResult r = run_command(
        {bindir_ + "/pg_ctl", "-D", pgdata_, "-m", "fast", "-w", "-t", "60", "-s", "stop"});
    if (r.status != 0 && running()) {
      stop_quietly();
      throw Error(ErrorKind::internal,
                  "the scratch server did not stop cleanly: " + trim(r.output));
    }
    attempted_ = false;
  }

  bool running() const { return postmaster_pid() > 0; }

 private:
  pid_t postmaster_pid() const {
    std::ifstream in(pgdata_ + "/postmaster.pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return 0;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return 0;
    return static_cast<pid_t>(pid);
  }

  void stop_quietly() noexcept {
    try {
      for (const char* mode : {"fast", "immediate"}) {
        if (!running()) return;
        run_command(
            {bindir_ + "/pg_ctl", "-D", pgdata_, "-m", mode, "-w", "-t", "30", "-s", "stop"});
      }
      if (const pid_t pid = postmaster_pid(); pid > 0) {
        ::kill(pid, SIGKILL);
        for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    } catch (...) {
      // best effort in a destructor; the message below names what may be left
    }
    if (running()) {
      std::cerr << "pgvault: warning: could not stop the scratch server of " << pgdata_ << "\n";
    }
  }

  std::string bindir_;
  std::string pgdata_;
  std::string logfile_;
  bool attempted_ = false;
};

struct RestoreTestResult {
  std::string user;
  std::string server_version;
  std::string databases;
  bool in_recovery = false;
  double seconds = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string os_user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr) return pw->pw_name;
  return {};
}

// Restores meta into a scratch directory, starts a server on it, waits until
// it answers a query, stops it and removes everything. The restore performs
// every check verify does (the same code reads, decodes and checks against
// backup_manifest), so the backup is read once.
RestoreTestResult restore_test(Repository& repo, const BackupMeta& meta,
                               const DecryptorFactory& decryptor, RestoreReport& restored,
                               const std::function<void(const std::string&)>& say) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string bindir = find_pg_bindir(meta.pg_version / 10000);
  InterruptGuard interrupts;
  ScratchDir scratch;
  const std::string pgdata = scratch.path() + "/data";
  say("restore test: restoring into scratch directory " + scratch.path());

  RestoreOptions ro;
  ro.pgdata = pgdata;
  ro.decryptor = decryptor;
  // Tablespaces go into the scratch directory too, never to their original
  // locations (which belong to the source server).
  for (const auto& archive : backup_reading::physical_archives(meta)) {
    if (!archive.oid.empty()) {
      ro.tablespace_mapping[archive.oid] = scratch.path() + "/tablespaces/" + archive.oid;
    }
  }
  ro.on_read = [](std::uint64_t) { throw_if_interrupted(); };
  ro.sync_to_disk = false;  // a throwaway copy; the server fsyncs what it needs itself
  restored = restore_physical(repo, meta, ro, [&](std::string_view line) {
    throw_if_interrupted();
    say("  " + std::string(line));
  });
  const double restore_seconds = seconds_since(t0);

  // Debian keeps postgresql.conf and pg_hba.conf outside the data directory:
  // the server needs one, even empty.
  if (!std::filesystem::exists(pgdata + "/postgresql.conf"))
    append_file(pgdata + "/postgresql.conf", "");
  // Our own authentication rules: trust on the Unix socket, which lives in
  // the 0700 scratch directory, so only this OS user (and root) can reach it.
  append_file(scratch.path() + "/pg_hba.conf", "local all all trust\n");
  append_file(scratch.path() + "/pg_ident.conf", "");
  const int port = free_local_port();
  // postgresql.auto.conf is read last, so these win over the backup's own
  // settings. Together they keep the copy from touching anything of the
  // cluster it came from: no TCP listener, a private socket, no WAL
  // archiving into the real repository, no external pid file or log
  // directory of the source, no replication connection. shared_preload_libraries
  // is emptied so pgvault's scheduler does not start in the copy and take
  // (scheduled or catch-up) backups of it into the real repository.
  // restore_command stays empty: the backup carries the WAL it needs.
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"port", std::to_string(port)},
      {"listen_addresses", "''"},
      {"unix_socket_directories", conf_quote(scratch.path())},
      {"hba_file", conf_quote(scratch.path() + "/pg_hba.conf")},
      {"ident_file", conf_quote(scratch.path() + "/pg_ident.conf")},
      {"external_pid_file", "''"},
      {"logging_collector", "off"},
      {"log_destination", "'stderr'"},
      {"archive_mode", "off"},
      {"shared_preload_libraries", "''"},
      {"session_preload_libraries", "''"},
      {"local_preload_libraries", "''"},
      {"restore_command", "''"},
      {"primary_conninfo", "''"},
      {"primary_slot_name", "''"},
      {"ssl", "off"},
      {"huge_pages", "try"},
      {"cluster_name", "'pgvault-restore-test'"},
  };
  std::string conf = "\n# pgvault verify --restore-test: a harmless throwaway copy\n";
  for (const auto& [name, value] : settings) conf += name + " = " + value + "\n";
  append_file(pgdata + "/postgresql.auto.conf", conf);

  say("restore test: starting a scratch server (" + bindir + "/pg_ctl) on port " +
      std::to_string(port) + ", Unix socket only, in " + scratch.path());
  const auto t_start = std::chrono::steady_clock::now();
  ScratchServer server(bindir, pgdata, scratch.path() + "/server.log");
  server.start();
  const double start_seconds = seconds_since(t_start);

  // Which role to connect as: the restored cluster's roles cannot be read
  // offline, so try, in order, $PGUSER, the OS user (libpq's default and
  // initdb's bootstrap superuser when the server ran as it), "postgres"
  // (Debian's), and the role that took the backup. The socket's trust rule
  // admits any existing role; the query needs no privilege.
  std::vector<std::string> users;
  for (const std::string& u : {std::string(std::getenv("PGUSER") ? std::getenv("PGUSER") : ""),
                               os_user_name(), std::string("postgres"), meta.initiated_by}) {
    if (!u.empty() && std::find(users.begin(), users.end(), u) == users.end()) users.push_back(u);
  }
  std::vector<std::string> databases = {"postgres"};
  if (!meta.database.empty() && meta.database != "postgres") databases.push_back(meta.database);
  databases.push_back("template1");

  RestoreTestResult result;
  std::string last_error;
  bool answered = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    bool only_missing_names = true;
    for (const auto& user : users) {
      for (const auto& db : databases) {
        throw_if_interrupted();
        const CommandResult r = run_command(
            {bindir + "/psql", "-X", "-A", "-t", "-q", "-h", scratch.path(), "-p",
             std::to_string(port), "-U", user, "-d", "dbname=" + conninfo_quote(db), "-c",
             "SELECT current_setting('server_version'), (SELECT count(*) FROM pg_database), "
             "pg_is_in_recovery()"},
            {"PGCONNECT_TIMEOUT=10"});
        if (r.status == 0) {
          std::istringstream fields(trim(r.output));
          std::getline(fields, result.server_version, '|');
          std::getline(fields, result.databases, '|');
          std::string recovery;
          std::getline(fields, recovery, '|');
          result.in_recovery = recovery == "t";
          result.user = user;
          answered = true;
          break;
        }
        last_error = "psql -U " + user + " -d " + db + ": " + trim(r.output);
        if (r.output.find("does not exist") == std::string::npos) only_missing_names = false;
      }
      if (answered) break;
    }
    if (answered) break;
    if (only_missing_names) {
      std::string tried;
      for (const auto& u : users) tried += (tried.empty() ? "" : ", ") + u;
      throw Error(ErrorKind::not_found,
                  "the scratch server runs, but no role tried (" + tried +
                      ") could connect to any of its databases; set PGUSER to a role of the "
                      "backed-up cluster (last error: " +
                      last_error + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!answered) {
    throw Error(
        ErrorKind::corrupt,
        "the scratch server started but did not answer a query within 60 s (" + last_error +
            "); last lines of the server log:" + tail_lines(scratch.path() + "/server.log", 20));
  }
  say("restore test: the server answered as role \"" + result.user + "\": PostgreSQL " +
      result.server_version + ", " + result.databases + " databases, " +
      (result.in_recovery ? "still in recovery" : "recovery finished"));

  server.stop();
  say("restore test: stopped the scratch server; removing " + scratch.path());
  result.seconds = seconds_since(t0);
  say("restore test: restore " + format_seconds(restore_seconds) + ", server start " +
      format_seconds(start_seconds) + ", total " + format_seconds(result.seconds));
  return result;
}

int run_verify(const VerifyCliOptions& o) {
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
  if (o.restore_test && latest_of.kind != "physical")
    throw Error(ErrorKind::invalid_argument,
                "--restore-test restores physical backups only; it does not go with --kind "
                "logical or --database");
  auto storage = o.repo.open();
  Repository repo(*storage);
  const BackupMeta meta = pgvault::cli::choose_backup(
      repo, o.backup, o.system_id, latest_of, o.json ? std::cerr : std::cout,
      o.kind.empty() && o.database.empty()
          ? "pass --kind logical (and --database DB) to verify the newest logical backup"
          : std::string());
  if (!o.kind.empty() && meta.kind != o.kind)
    throw Error(ErrorKind::invalid_argument, "backup \"" + meta.name + "\" is a " + meta.kind +
                                                 " backup, not " + o.kind + " (--kind)");
  if (!o.database.empty() && (meta.kind != "logical" || meta.database != o.database))
    throw Error(ErrorKind::invalid_argument, "backup \"" + meta.name +
                                                 "\" is not a logical backup of database \"" +
                                                 o.database + "\" (--database)");
  if (o.restore_test && meta.kind != "physical") {
    throw Error(ErrorKind::unsupported,
                "backup \"" + meta.name + "\" is a " + meta.kind +
                    " backup; --restore-test restores physical backups only (verify it without "
                    "--restore-test, or restore it with pg_restore)");
  }

  auto say = [&](const std::string& line) {
    if (!o.json) std::cout << line << "\n" << std::flush;
  };
  say("verifying backup \"" + meta.name + "\" (" + meta.kind + ", PostgreSQL " +
      std::to_string(meta.pg_version / 10000) + "." + std::to_string(meta.pg_version % 100) +
      ", system " + meta.system_identifier + ", completed " + or_dash(meta.completed_at) + ") in " +
      storage->url());

  nlohmann::ordered_json out;
  out["backup"] = meta.name;
  out["system_identifier"] = meta.system_identifier;
  out["kind"] = meta.kind;
  out["repository"] = storage->url();
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
      test = restore_test(repo, meta, o.repo.decryptor(meta), restored, say);
      report.objects = restored.objects;
      report.bytes_read = restored.bytes_read;
      report.files = restored.files;
      report.manifest_files = restored.manifest_files;
    } else {
      VerifyOptions vo;
      vo.decryptor = o.repo.decryptor(meta);
      report = verify_backup(repo, meta, vo,
                             [&](std::string_view line) { say("  " + std::string(line)); });
    }
    for (const auto& w : report.warnings) {
      if (!o.json) std::cerr << "pgvault: warning: " << w << "\n";
    }
    if (o.json) {
      out["verified"] = true;
      out["objects"] = report.objects;
      out["files"] = report.files;
      out["manifest_files"] = report.manifest_files;
      out["bytes_read"] = report.bytes_read;
      if (!o.restore_test) out["decoded_bytes"] = report.decoded_bytes;
      out["extra_objects"] = report.extra_objects;
      out["warnings"] = report.warnings;
      if (test) {
        out["restore_test"] = {{"passed", true},
                               {"role", test->user},
                               {"server_version", test->server_version},
                               {"databases", std::atoll(test->databases.c_str())},
                               {"in_recovery", test->in_recovery},
                               {"seconds", test->seconds}};
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    std::cout << "backup " << meta.name << " verified: " << report.objects << " objects, "
              << report.files << " files, " << report.bytes_read << " bytes ("
              << human_size(report.bytes_read) << ")"
              << (test ? "; restore test passed in " + format_seconds(test->seconds) : "") << "\n";
    return 0;
  } catch (const std::exception& e) {
    if (o.json) {
      out["verified"] = false;
      out["error"] = e.what();
      std::cout << out.dump(2) << "\n";
    }
    throw;
  }
}

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgvault: list and restore PostgreSQL backups in a pgvault repository", "pgvault"};
  app.set_version_flag("--version", "pgvault " PGVAULT_VERSION);
  app.require_subcommand(1);

  ListOptions lo;
  auto* list = app.add_subcommand("list", "List the restorable backups of a repository");
  lo.repo.add_to(list);
  list->add_option("--system-id", lo.system_id, "Only backups of this database system identifier");
  list->add_flag("--json", lo.json, "Print a JSON array of the backups' backup.json");

  RestoreCliOptions ro;
  auto* restore =
      app.add_subcommand("restore", "Restore a physical backup into a new data directory");
  ro.repo.add_to(restore);
  restore
      ->add_option("--backup", ro.backup,
                   "Backup name, or \"latest\": the newest complete physical backup")
      ->required();
  restore->add_option("--pgdata,-D", ro.pgdata, "Target data directory (missing or empty)")
      ->required();
  restore->add_option("--system-id", ro.system_id,
                      "Database system identifier (needed when the repository holds several)");
  restore
      ->add_option("--tablespace-mapping,-T", ro.tablespace_mapping,
                   "Restore the tablespace at OLDDIR (or with OID) into NEWDIR; repeatable")
      ->type_name("OLDDIR=NEWDIR")
      ->check(CLI::Validator(check_mapping, "OLDDIR=NEWDIR"));

  VerifyCliOptions vo;
  auto* verify = app.add_subcommand(
      "verify",
      "Read a backup back from the repository and check every object (size, SHA-256, "
      "decompression) and, for physical backups, every file against backup_manifest");
  vo.repo.add_to(verify);
  verify
      ->add_option("--backup", vo.backup,
                   "Backup name, or \"latest\": the newest complete physical backup (with "
                   "--kind logical or --database: the newest logical one, not pre_restore)")
      ->required();
  verify->add_option("--system-id", vo.system_id,
                     "Database system identifier (needed when the repository holds several)");
  verify->add_option("--kind", vo.kind, "What \"latest\" means: physical (default) or logical")
      ->check(CLI::IsMember({"physical", "logical"}));
  verify->add_option("--database", vo.database,
                     "\"latest\" is the newest logical backup of this database");
  verify->add_flag("--restore-test", vo.restore_test,
                   "Physical backups: also restore into a scratch directory under $TMPDIR, start "
                   "a server there (pg_ctl of $PGVAULT_PG_BINDIR, pg_config --bindir or "
                   "/usr/lib/postgresql/<version>/bin) on a private Unix socket, run a query "
                   "(as $PGUSER, the OS user or postgres), stop it and remove everything. Not as "
                   "root");
  verify->add_flag("--json", vo.json, "Print the outcome as a JSON object");

  pgvault::cli::GetOptions go;
  auto* get = pgvault::cli::add_get_command(app, go);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*list) return run_list(lo);
    if (*restore) return run_restore(ro);
    if (*verify) return run_verify(vo);
    if (*get) return pgvault::cli::run_get(go);
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "pgvault: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "pgvault: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
