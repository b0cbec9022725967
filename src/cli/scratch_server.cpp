#include "scratch_server.hpp"

#include "text_output.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/wal/recovery_target.hpp"  // quote_conf_value

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace pgvault::cli {
namespace {

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

// Runs a program of the restore test (argv[0] a path, or a name looked up
// in PATH; no shell) to its end, with the environment minus libpq's PG*
// variables (a PGHOST or PGOPTIONS of the caller must not steer the scratch
// server or psql), plus extra_env. `interrupted` (throw_if_interrupted, or
// nullptr for what must finish, such as stopping the server) is checked
// while it runs; when it throws, the program is killed.
ProgramOutput run_program(std::vector<std::string> argv, const std::function<void()>& interrupted,
                          std::vector<std::pair<std::string, std::string>> extra_env = {}) {
  ChildProcessOptions options;
  options.argv = std::move(argv);
  options.search_path = true;
  options.drop_env_prefixes = {"PG"};
  options.env = std::move(extra_env);
  return run_to_end(std::move(options), interrupted);
}

// "pg_ctl exited with status 1: <what it said>", for an error message.
std::string program_failed(const std::string& program, const ProgramOutput& r) {
  const std::string said = r.said();
  return program + " " + r.exit + (said.empty() ? "" : ": \"" + said + "\"");
}

// "postgres (PostgreSQL) 15.5 (Debian ...)" -> 15; 0 when unreadable. (Run
// before the restore test catches signals, as is find_pg_bindir.)
int postgres_major_version(const std::string& bindir) {
  ProgramOutput r;
  try {
    r = run_program({bindir + "/postgres", "--version"}, nullptr);
  } catch (const Error&) {
    return 0;  // no postgres there
  }
  if (r.status != 0) return 0;
  const std::size_t at = r.stdout_text.find(") ");
  return at == std::string::npos ? 0 : std::atoi(r.stdout_text.c_str() + at + 2);
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
      const ProgramOutput r = run_program({"pg_config", "--bindir"}, nullptr);
      if (r.status == 0 && !r.trimmed_stdout().empty()) candidates.push_back(r.trimmed_stdout());
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
      warn("could not remove scratch directory " + path_ + ": " + ec.message());
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
    const ProgramOutput r =
        run_program({bindir_ + "/pg_ctl", "-D", pgdata_, "-o", "-c data_directory=" + pgdata_, "-l",
                     logfile_, "-w", "-t", "120", "-s", "start"},
                    throw_if_interrupted);
    if (r.status != 0) {
      throw Error(ErrorKind::corrupt,
                  "the restored data directory did not start: " + program_failed("pg_ctl", r) +
                      "; last lines of the server log:" + tail_lines(logfile_, 20));
    }
  }

  // Stops the server; throws when it would not stop.
  void stop() {
    const ProgramOutput r = run_program(
        {bindir_ + "/pg_ctl", "-D", pgdata_, "-m", "fast", "-w", "-t", "60", "-s", "stop"},
        nullptr);
    if (r.status != 0 && running()) {
      stop_quietly();
      throw Error(ErrorKind::internal,
                  "the scratch server did not stop cleanly: " + program_failed("pg_ctl", r));
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
        run_program(
            {bindir_ + "/pg_ctl", "-D", pgdata_, "-m", mode, "-w", "-t", "30", "-s", "stop"},
            nullptr);
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
      warn("could not stop the scratch server of " + pgdata_);
    }
  }

  std::string bindir_;
  std::string pgdata_;
  std::string logfile_;
  bool attempted_ = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string os_user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr) return pw->pw_name;
  return {};
}

// Archive recovery runs until the archive ends (pgvault wal-fetch exits 1),
// then the server promotes; a hard error of wal-fetch stops the server
// instead, which ends the wait with its log.
void wait_for_promotion(const std::string& bindir, const std::string& socket_dir, int port,
                        RestoreTestResult& result,
                        const std::function<void(const std::string&)>& say) {
  say("restore test: replaying the archived WAL (pgvault wal-fetch) until the archive ends");
  while (true) {
    throw_if_interrupted();
    const ProgramOutput r =
        run_program({bindir + "/psql", "-X", "-A", "-t", "-q", "-h", socket_dir, "-p",
                     std::to_string(port), "-U", result.user, "-d", "postgres", "-c",
                     "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()"},
                    throw_if_interrupted, {{"PGCONNECT_TIMEOUT", "10"}});
    if (r.status != 0) {
      throw Error(ErrorKind::corrupt,
                  "the scratch server stopped while replaying the archived WAL (" +
                      program_failed("psql", r) + "); last lines of the server log:" +
                      tail_lines(socket_dir + "/server.log", 20));
    }
    const std::string out = r.trimmed_stdout();
    if (out.rfind("f|", 0) == 0) {
      result.in_recovery = false;
      result.replayed_to = out.substr(2);
      say("restore test: replayed the archived WAL to " + result.replayed_to + " and promoted");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

RestoreTestResult restore_test(
    Repository& repo, const BackupMeta& meta,
    const std::function<DecryptorFactory(const BackupMeta&)>& decryptor_of, RestoreReport& restored,
    const std::function<void(const std::string&)>& say, CommandProgress& progress,
    const std::string& restore_command) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string bindir = find_pg_bindir(meta.pg_version / 10000);
  InterruptGuard interrupts;
  ScratchDir scratch;
  const std::string pgdata = scratch.path() + "/data";
  say("restore test: restoring into scratch directory " + scratch.path());

  RestoreOptions ro;
  ro.pgdata = pgdata;
  ro.decryptor_of = decryptor_of;  // each backup of an incremental's chain its own
  // Tablespaces go into the scratch directory too, never to their original
  // locations (which belong to the source server).
  for (const auto& archive : backup_reading::physical_archives(meta)) {
    if (!archive.oid.empty()) {
      ro.tablespace_mapping[archive.oid] = scratch.path() + "/tablespaces/" + archive.oid;
    }
  }
  ro.on_read = [](std::uint64_t) { throw_if_interrupted(); };
  BackupChain chain = resolve_chain(repo, meta);
  progress.on_read(0, chain.stored_bytes());
  ro.on_read_total = [&progress](std::uint64_t n) { progress.on_read(n); };
  ro.on_unread = [&progress](std::uint64_t n) { progress.reduce_total(n); };
  ro.sync_to_disk = false;  // a throwaway copy; the server fsyncs what it needs itself
  restored = restore_physical(repo, std::move(chain), ro, [&](std::string_view line) {
    throw_if_interrupted();
    say("  " + std::string(line));
  });
  const double restore_seconds = seconds_since(t0);
  const std::string read_summary = progress.finish();

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
  // restore_command stays empty unless asked for: the backup carries the
  // WAL it needs.
  std::vector<std::pair<std::string, std::string>> settings = {
      {"port", std::to_string(port)},
      {"listen_addresses", "''"},
      {"unix_socket_directories", quote_conf_value(scratch.path())},
      {"hba_file", quote_conf_value(scratch.path() + "/pg_hba.conf")},
      {"ident_file", quote_conf_value(scratch.path() + "/pg_ident.conf")},
      {"external_pid_file", "''"},
      {"logging_collector", "off"},
      {"log_destination", "'stderr'"},
      {"archive_mode", "off"},
      {"shared_preload_libraries", "''"},
      {"session_preload_libraries", "''"},
      {"local_preload_libraries", "''"},
      {"restore_command", restore_command.empty() ? "''" : quote_conf_value(restore_command)},
      {"primary_conninfo", "''"},
      {"primary_slot_name", "''"},
      {"ssl", "off"},
      {"huge_pages", "try"},
      {"cluster_name", "'pgvault-restore-test'"},
  };
  if (!restore_command.empty()) {
    // Archive recovery to the end of the archive, then promotion.
    settings.emplace_back("recovery_target_timeline", "'latest'");
    append_file(pgdata + "/recovery.signal", "");
  }
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
  result.read = read_summary;
  std::string last_error;
  bool answered = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    bool only_missing_names = true;
    for (const auto& user : users) {
      for (const auto& db : databases) {
        throw_if_interrupted();
        const ProgramOutput r = run_program(
            {bindir + "/psql", "-X", "-A", "-t", "-q", "-h", scratch.path(), "-p",
             std::to_string(port), "-U", user, "-d", "dbname=" + conninfo_quote(db), "-c",
             "SELECT current_setting('server_version'), (SELECT count(*) FROM pg_database), "
             "pg_is_in_recovery()"},
            throw_if_interrupted, {{"PGCONNECT_TIMEOUT", "10"}});
        if (r.status == 0) {
          std::istringstream fields(r.trimmed_stdout());
          std::getline(fields, result.server_version, '|');
          std::getline(fields, result.databases, '|');
          std::string recovery;
          std::getline(fields, recovery, '|');
          result.in_recovery = recovery == "t";
          result.user = user;
          answered = true;
          break;
        }
        last_error = program_failed("psql -U " + user + " -d " + db, r);
        if (r.said().find("does not exist") == std::string::npos) only_missing_names = false;
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
    // A server that has stopped will not answer: say why now, not after 60 s.
    // With a restore_command this is wal-fetch's hard error stopping recovery,
    // which can come before the first query gets in (hot standby opens
    // connections once recovery is consistent).
    if (!server.running()) {
      throw Error(ErrorKind::corrupt,
                  std::string(restore_command.empty()
                                  ? "the scratch server stopped before it answered a query ("
                                  : "the scratch server stopped while replaying the archived "
                                    "WAL (") +
                      last_error + "); last lines of the server log:" +
                      tail_lines(scratch.path() + "/server.log", 20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!answered) {
    throw Error(
        ErrorKind::corrupt,
        "the scratch server started but did not answer a query within 60 s (" + last_error +
            "); last lines of the server log:" + tail_lines(scratch.path() + "/server.log", 20));
  }
  if (!restore_command.empty()) wait_for_promotion(bindir, scratch.path(), port, result, say);
  say("restore test: the server answered as role \"" + result.user + "\": PostgreSQL " +
      result.server_version + ", " + result.databases + " databases, " +
      (result.in_recovery ? "still in recovery" : "recovery finished"));

  server.stop();
  throw_if_interrupted();  // a Ctrl-C while it stopped still abandons the test
  say("restore test: stopped the scratch server; removing " + scratch.path());
  result.seconds = seconds_since(t0);
  say("restore test: restore " + format_seconds(restore_seconds) + ", server start " +
      format_seconds(start_seconds) + ", total " + format_seconds(result.seconds));
  return result;
}

}  // namespace pgvault::cli
