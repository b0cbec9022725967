#include "wal_fetch_command.hpp"

#include "text_output.hpp"
#include "usage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_fetch.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace pgvault::cli {

namespace {

constexpr const char* kControlFile = "global/pg_control";
constexpr const char* kPostmasterPidFile = "postmaster.pid";
// How long an answer waits for a segment the background fetcher is writing
// before fetching it itself.
constexpr auto kWaitForPrefetch = std::chrono::seconds(60);

bool working_directory_is_data_directory() {
  struct stat st {};
  return ::stat(kControlFile, &st) == 0 && S_ISREG(st.st_mode);
}

std::string working_directory() {
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  return ec ? std::string("?") : cwd.string();
}

// The system identifier of the data directory restore_command runs in (its
// working directory): the first field of ControlFileData, a uint64 in the
// host's byte order, read as little-endian like the WAL page header
// (wal_page_header.hpp: x86-64 and arm64 only).
std::string system_identifier_of_working_directory() {
  const int fd = ::open(kControlFile, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(ErrorKind::invalid_argument,
                "no --system-id given, and the working directory " +
                    pgvault::quoted(working_directory()) + " has no readable " + kControlFile +
                    " (" + std::strerror(err) +
                    "): restore_command runs in the data directory; elsewhere pass --system-id ID "
                    "(pg_controldata's \"Database system identifier\")");
  }
  unsigned char bytes[8];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::read(fd, bytes + got, sizeof bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != sizeof bytes)
    throw Error(ErrorKind::corrupt,
                std::string(kControlFile) + " is too short to hold a system identifier");
  std::uint64_t id = 0;
  for (int i = 7; i >= 0; --i) id = (id << 8) | bytes[i];
  return std::to_string(id);
}

DecryptorFactory decryptor_of(const RepositoryOptions& repo) {
  const EncryptionSettings encryption = repo.encryption();
  validate_encryption_settings(encryption);
  return encryption.enabled() ? wal_decryptor(restore_key_provider(encryption))
                              : DecryptorFactory();
}

std::string absolute_path(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

// The running server of the working directory: its postmaster.pid's first
// line (the PID) and third (the start time), e.g. "4711 1733390000"; empty
// outside a running server's data directory.
std::string server_start_of_working_directory() {
  std::ifstream pid_file(kPostmasterPidFile);
  std::string pid, data_directory, started;
  if (!std::getline(pid_file, pid) || !std::getline(pid_file, data_directory) ||
      !std::getline(pid_file, started))
    return "";
  return pid + " " + started;
}

// Which recovery a spool belongs to: the server start and every option that
// decides what is fetched. A spool recorded for anything else is stale.
std::string spool_session(const WalFetchOptions& o, const std::string& sysid) {
  const std::string server = server_start_of_working_directory();
  return std::string("pgvault wal-fetch spool\n") + "system " + sysid + "\n" + "repository " +
         o.repo.repo + "\n" + "config " + absolute_path(o.repo.config) + "\n" + "key " +
         absolute_path(o.repo.encryption_key_file) + "\n" + "server " +
         (server.empty() ? "none" : server) + "\n";
}

// The server PID a session names, 0 for none.
pid_t session_server_pid(const std::string& session) {
  const auto at = session.find("\nserver ");
  if (at == std::string::npos) return 0;
  try {
    return static_cast<pid_t>(std::stol(session.substr(at + 8)));
  } catch (const std::exception&) {
    return 0;
  }
}

bool process_alive(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

// The spool of this recovery: --spool-dir, else beside the data directory.
// An explicit directory that cannot be used is an error; the default one
// only turns prefetching off (with a warning).
std::optional<WalSpool> open_spool(const WalFetchOptions& o) {
  if (o.prefetch == 0) return std::nullopt;
  const bool in_data_directory = working_directory_is_data_directory();
  const std::string data_directory = in_data_directory ? working_directory() : "";
  if (!o.spool_dir.empty()) return WalSpool(o.spool_dir, data_directory);
  if (!in_data_directory) return std::nullopt;  // by hand: no spool unless asked for
  try {
    return WalSpool(default_wal_spool_dir(data_directory), data_directory);
  } catch (const std::exception& e) {
    warn(std::string("not prefetching WAL: ") + e.what() +
         " (pass --spool-dir DIR or --prefetch 0)");
    return std::nullopt;
  }
}

// The lock the background fetcher holds for as long as it runs; the file
// holds its PID meanwhile (so that it can be stopped).
class SpoolLock {
 public:
  explicit SpoolLock(const WalSpool& spool) {
    const std::string path = spool.own_file(WalSpool::kLockFile);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) throw_os_error("cannot open " + pgvault::quoted(path), errno);
  }
  ~SpoolLock() { ::close(fd_); }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  bool try_lock() {
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) return false;
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      // Not fatal: the fetcher can then only be stopped by the server's end.
    }
    return true;
  }
  void unlock() {
    if (::ftruncate(fd_, 0) != 0) {
      // The PID left is harmless: the holder check comes first.
    }
    ::flock(fd_, LOCK_UN);
  }
  // Whether another process holds the lock now.
  bool held_elsewhere() {
    if (::flock(fd_, LOCK_SH | LOCK_NB) != 0) return true;
    ::flock(fd_, LOCK_UN);
    return false;
  }
  pid_t holder() {
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    return n > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
  }

 private:
  int fd_ = -1;
};

// Whether pid is this spool's background fetcher (its command line says so).
bool is_fetcher_of(pid_t pid, const WalSpool& spool) {
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  const std::string args((std::istreambuf_iterator<char>(cmdline)),
                         std::istreambuf_iterator<char>());
  return args.find(std::string("--prefetch-worker") + '\0') != std::string::npos &&
         args.find(std::string("--spool-dir") + '\0' + spool.dir() + '\0') != std::string::npos;
}

// Stops the spool's background fetcher, if one runs: SIGTERM (what it was
// writing stays a .pgvault-partial file), SIGKILL if it is still there 10 s
// later. Returns when no fetcher holds the lock.
void stop_fetcher(const WalSpool& spool) {
  SpoolLock lock(spool);
  auto wait_free = [&](std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (lock.held_elsewhere()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  };
  if (!lock.held_elsewhere()) return;
  const pid_t pid = lock.holder();
  if (pid > 0 && is_fetcher_of(pid, spool)) {
    ::kill(pid, SIGTERM);
    if (wait_free(std::chrono::seconds(10))) return;
    ::kill(pid, SIGKILL);
  }
  // A fetcher that has the lock but has not written its PID yet, or is exiting.
  if (!wait_free(std::chrono::seconds(5)))
    throw Error(ErrorKind::io, "the WAL prefetcher of spool " + pgvault::quoted(spool.dir()) +
                                   " (PID " + std::to_string(pid) + ") does not stop");
}

unsigned prefetch_threads(const WalFetchOptions& o) {
  unsigned threads = o.prefetch_threads;
  if (threads == 0)
    threads = std::clamp(std::thread::hardware_concurrency(), 2u, kMaxWalPrefetchThreads);
  return std::min({threads, o.prefetch, kMaxWalPrefetchThreads});
}

// Starts the background fetcher as a detached process (its own session,
// standard streams on /dev/null, not a child of the shell PostgreSQL waits
// for): this very program with --prefetch-worker. Between fork and exec only
// async-signal-safe calls.
void start_prefetch_worker(const WalFetchOptions& o, const std::string& sysid,
                           const WalSpool& spool) {
  std::vector<std::string> args = {"pgvault", "wal-fetch"};
  auto add = [&](const char* option, const std::string& value) {
    if (value.empty()) return;
    args.push_back(option);
    args.push_back(value);
  };
  add("--repo", o.repo.repo);
  add("--config", absolute_path(o.repo.config));
  add("--encryption-key-file", absolute_path(o.repo.encryption_key_file));
  add("--system-id", sysid);
  add("--spool-dir", spool.dir());
  add("--prefetch", std::to_string(o.prefetch));
  add("--prefetch-threads", std::to_string(prefetch_threads(o)));
  args.push_back("--prefetch-worker");
  args.push_back(o.file_name);
  args.push_back("-");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const char* self = "/proc/self/exe";

  const pid_t child = ::fork();
  if (child < 0) throw_os_error("cannot start the WAL prefetcher (fork)", errno);
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::close_range(3, ~0U, 0);  // nothing of PostgreSQL's or the caller's stays open
    ::execv(self, argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
}

// Starts the background fetcher unless one runs.
void ensure_prefetch_worker(const WalFetchOptions& o, const std::string& sysid,
                            const WalSpool& spool) {
  SpoolLock lock(spool);
  if (!lock.held_elsewhere()) start_prefetch_worker(o, sysid, spool);
}

// What the fetcher has done, for whoever looks (replaced whole, never half written).
void write_status(const WalSpool& spool, const WalPrefetcherReport& r) {
  const std::string path = spool.own_file(WalSpool::kStatusFile);
  {
    std::ofstream status(path + ".tmp", std::ios::trunc);
    status << "after " << (r.wanted ? r.wanted->name() : std::string("-")) << ": fetched "
           << r.fetched
           << (r.end_of_archive ? ", end of the archive at " + r.end_of_archive->name() : "")
           << "\n";
    for (const std::string& e : r.errors) status << "failed: " << e << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(path + ".tmp", path, ec);
}

// The background fetcher: one per spool (the lock), for as long as this
// recovery asks for segments (see run_wal_prefetcher): it stops when the
// spool is gone or belongs to another session, when the server it was
// started for is gone, or after 30 s without a new request. The re-check
// after unlocking catches a request written while it was about to stop.
int run_prefetch_worker(const WalFetchOptions& o) {
  WalSpool spool(o.spool_dir, "", WalSpool::Open::existing);
  SpoolLock lock(spool);
  const std::string session = spool.session();
  const pid_t server = session_server_pid(session);
  struct stat spool_stat {};
  if (::stat(spool.dir().c_str(), &spool_stat) != 0) return 0;
  const auto keep_running = [&] {
    struct stat st {};
    if (::stat(spool.dir().c_str(), &st) != 0 || st.st_ino != spool_stat.st_ino ||
        st.st_dev != spool_stat.st_dev)
      return false;
    if (server > 0 && !process_alive(server)) return false;
    return spool.session() == session;
  };
  WalPrefetcherOptions options;
  options.system_identifier = o.system_id;
  options.decryptor = decryptor_of(o.repo);
  options.depth = o.prefetch;
  // A spool tied to a server start is dropped after a crash (a new session).
  options.durable = server == 0;
  std::vector<std::unique_ptr<Storage>> storages;
  std::vector<Storage*> pointers;
  for (;;) {
    if (!lock.try_lock()) return 0;  // another fetcher works; it re-checks "wanted"
    if (storages.empty()) {
      for (unsigned t = 0; t < prefetch_threads(o); ++t) storages.push_back(o.repo.open());
      for (auto& s : storages) pointers.push_back(s.get());
    }
    const WalPrefetcherReport r = run_wal_prefetcher(
        pointers, spool, options, keep_running,
        [&](const WalPrefetcherReport& progress) { write_status(spool, progress); });
    lock.unlock();
    const auto wanted = spool.wanted();
    if (!keep_running() || !wanted || (r.wanted && wanted->file == *r.wanted)) return 0;
  }
}

// A finished copy from the spool, waiting for one the fetcher is writing.
bool take_from_spool(WalSpool& spool, const WalFileName& file, const std::string& sysid,
                     const std::string& destination, std::uint64_t& segment_size) {
  if (!spool.has(file) && spool.is_being_written(file)) {
    SpoolLock lock(spool);
    const auto deadline = std::chrono::steady_clock::now() + kWaitForPrefetch;
    while (!spool.has(file) && spool.is_being_written(file) && lock.held_elsewhere() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  std::string why_not;
  if (spool.take(file, destination, sysid, why_not, segment_size)) return true;
  if (spool.has(file) || why_not.find("failed its check") != std::string::npos)
    warn("WAL file " + file.name() + " from spool " + spool.dir() + ": " + why_not +
         "; fetching it from the repository");
  return false;
}

// pgvault wal-fetch --cleanup: removes this recovery's spool (recovery_end_command).
int run_cleanup(const WalFetchOptions& o) {
  const bool in_data_directory = working_directory_is_data_directory();
  const std::string data_directory = in_data_directory ? working_directory() : "";
  std::string dir = o.spool_dir;
  if (dir.empty()) {
    if (!in_data_directory)
      throw Error(ErrorKind::invalid_argument,
                  "wal-fetch --cleanup without --spool-dir runs in the data directory (as "
                  "recovery_end_command does); " +
                      pgvault::quoted(working_directory()) + " is not one");
    dir = default_wal_spool_dir(data_directory);
  }
  std::optional<WalSpool> spool;
  try {
    spool.emplace(dir, data_directory, WalSpool::Open::existing);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    std::cout << "pgvault: no WAL prefetch spool at " << dir << "\n";
    return 0;
  }
  // A directory holding files a spool never writes is refused before
  // anything is touched (remove_all() says why), unless it has a spool's
  // lock: then its fetcher may be writing such a file for an instant, and
  // removing while it runs raced with it (the spool, its lock included, went
  // before the fetcher was stopped). So the fetcher stops first, and
  // remove_all() checks again.
  if (!spool->foreign_entries().empty() &&
      !std::filesystem::exists(spool->own_file(WalSpool::kLockFile)))
    spool->remove_all();  // refuses, saying why
  stop_fetcher(*spool);
  spool->remove_all();
  std::cout << "pgvault: removed WAL prefetch spool " << spool->dir() << "\n";
  return 0;
}

}  // namespace

std::string default_wal_spool_dir(const std::string& data_directory) {
  std::string dir = std::filesystem::absolute(data_directory).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".pgvault-spool";
}

Command add_wal_fetch_command(CLI::App& app) {
  auto o = std::make_shared<WalFetchOptions>();
  auto* cmd = app.add_subcommand("wal-fetch",
                                 "restore_command for recovery: write archived WAL file %f to %p");
  cmd->footer(
      "The file is verified (SHA-256, page header, timeline history syntax), decrypted and "
      "decompressed, with the next segments fetched ahead into a spool by one background "
      "fetcher. Exit status: 0 fetched; 1 not in the repository (PostgreSQL then looks in "
      "pg_wal or ends recovery); 128 for every other failure (damaged or conflicting object, "
      "wrong or missing key, unreachable store, bad options), which PostgreSQL treats as "
      "fatal: recovery stops instead of promoting early. With --cleanup (recovery_end_command, "
      "no %f %p): stop the fetcher and remove the spool; exit 0, or 1 when refused. pgvault "
      "restore --target* writes both commands.\n" +
      help_example({"restore_command = 'pgvault wal-fetch --config "
                    "/etc/postgresql/15/main/postgresql.conf %f %p'",
                    "recovery_end_command = 'pgvault wal-fetch --cleanup'"}));
  o->repo.add_to(cmd);
  cmd->add_option("--system-id,--system-identifier", o->system_id,
                  "Database system identifier whose WAL is fetched (default: the one in "
                  "global/pg_control of the working directory, the data directory "
                  "restore_command runs in)");
  cmd->add_option("--spool-dir", o->spool_dir,
                  "Directory for segments fetched ahead (default: the data directory's path "
                  "followed by .pgvault-spool, beside it; created 0700; never inside the data "
                  "directory)");
  cmd->add_option("--prefetch", o->prefetch,
                  "Segments kept fetched ahead of the one recovery asks for (default 8, i.e. "
                  "128 MB of 16 MB segments in the spool at most; 0: no prefetching)")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_option("--prefetch-threads", o->prefetch_threads,
                  "Segments fetched at once by the background fetcher, each on its own "
                  "connection (default: the number of CPU cores, at least 2, at most 8 and at "
                  "most --prefetch)")
      ->check(CLI::Range(1u, kMaxWalPrefetchThreads));
  cmd->add_flag("--cleanup", o->cleanup,
                "Stop the background fetcher and remove the spool (the default one beside the "
                "working directory, a data directory, or --spool-dir); refuses a directory "
                "holding anything the spool never writes. pgvault restore writes it as "
                "recovery_end_command");
  cmd->add_flag("--prefetch-worker", o->prefetch_worker)->group("");  // internal
  cmd->add_option("file", o->file_name, "%f: the WAL file name recovery asks for");
  cmd->add_option("path", o->path, "%p: where to write it (relative to the working directory)");
  return {cmd, [o] { return run_wal_fetch(*o); }};
}

int run_wal_fetch(const WalFetchOptions& o) {
  if (o.prefetch_worker) {
    try {
      return run_prefetch_worker(o);
    } catch (const std::exception&) {
      return kWalFetchHardError;  // nobody waits for it; the foreground fetch reports
    }
  }
  if (o.cleanup) {
    // As recovery_end_command, a status above 125 would stop the server (FATAL).
    try {
      if (!o.file_name.empty())
        throw Error(ErrorKind::invalid_argument, "--cleanup takes no file name and path");
      return run_cleanup(o);
    } catch (const std::exception& e) {
      std::cerr << "pgvault: error: wal-fetch --cleanup: " << e.what() << "\n";
      return kWalFetchCleanupFailed;
    }
  }
  std::string where = "the repository";
  // The settings line ("settings from …") once per recovery: on the call
  // that starts the spool's session, by hand, and with every error.
  RepositoryOptions repo = o.repo;
  const bool in_data_directory = working_directory_is_data_directory();
  repo.say_settings = !in_data_directory;
  try {
    if (o.file_name.empty() || o.path.empty())
      throw Error(ErrorKind::invalid_argument,
                  "wal-fetch needs the file name and the path (restore_command's %f %p)");
    const std::string sysid =
        o.system_id.empty() ? system_identifier_of_working_directory() : o.system_id;
    validate_wal_system_identifier(sysid);
    const WalFileName file = parse_wal_file_name(o.file_name);
    const bool segment = file.kind() == WalFileKind::segment;
    std::optional<WalSpool> spool = segment ? open_spool(o) : std::nullopt;
    if (spool) {
      const std::string session = spool_session(o, sysid);
      if (spool->session() != session) {
        // Left by another recovery (or another repository or key): emptied first.
        stop_fetcher(*spool);
        spool->start_session(session);
        repo.say_settings = true;
      }
    }
    std::uint64_t segment_size = 0;
    // Recorded before the spool is looked at, so that the fetcher never
    // fetches again what is taken now, and works on the segments after this
    // one while this one is fetched (the size is the cluster's, known from
    // the first segment on).
    std::optional<WalSpool::Wanted> previous;
    if (spool && (previous = spool->wanted())) spool->set_wanted(file, previous->segment_size);
    bool fetched = spool && take_from_spool(*spool, file, sysid, o.path, segment_size);
    if (!fetched) {
      if (previous) ensure_prefetch_worker(o, sysid, *spool);
      auto storage = repo.open();
      where = storage->url();
      WalFetchRequest request;
      request.system_identifier = sysid;
      request.file_name = o.file_name;
      request.destination = o.path;
      request.decryptor = decryptor_of(repo);
      // In a data directory (restore_command) PostgreSQL syncs what it keeps.
      request.durable = !in_data_directory;
      const WalFetchResult r = fetch_wal_file(*storage, request);
      if (r.outcome == WalFetchOutcome::not_found) {
        std::cerr << "pgvault: WAL file " << quote_untrusted(o.file_name) << " of system " << sysid
                  << " is not in repository " << where << "\n";
        return kWalFetchNotFound;
      }
      segment_size = r.segment_size;
    }
    if (spool) {
      // Best effort: the answer is given; a failing prefetcher costs speed only.
      try {
        if (!previous || previous->segment_size != segment_size)
          spool->set_wanted(file, segment_size);
        ensure_prefetch_worker(o, sysid, *spool);
      } catch (const std::exception& e) {
        warn(std::string("WAL prefetch not started: ") + e.what());
      }
    }
    return 0;
  } catch (const std::exception& e) {
    if (!repo.say_settings) repo.say_what_was_read();
    std::cerr << "pgvault: error: cannot fetch WAL file " << quote_untrusted(o.file_name)
              << " from " << where << ": " << e.what() << "\n";
    return kWalFetchHardError;
  }
}

}  // namespace pgvault::cli
