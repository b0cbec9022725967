#include "wal_fetch_command.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_fetch.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
constexpr const char* kSpoolSuffix = ".pgvault-spool";
constexpr const char* kLockFile = "lock";
constexpr const char* kStatusFile = "prefetch.status";
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
    return WalSpool(data_directory + kSpoolSuffix, data_directory);
  } catch (const std::exception& e) {
    std::cerr << "pgvault: warning: not prefetching WAL: " << e.what()
              << " (pass --spool-dir DIR or --prefetch 0)\n";
    return std::nullopt;
  }
}

// The lock the background fetcher holds while it works.
class SpoolLock {
 public:
  explicit SpoolLock(const WalSpool& spool) {
    const std::string path = spool.dir() + "/" + kLockFile;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) throw_os_error("cannot open " + pgvault::quoted(path), errno);
  }
  ~SpoolLock() { ::close(fd_); }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  bool try_lock() { return ::flock(fd_, LOCK_EX | LOCK_NB) == 0; }
  void unlock() { ::flock(fd_, LOCK_UN); }
  // Whether another process holds the lock now.
  bool held_elsewhere() {
    if (::flock(fd_, LOCK_SH | LOCK_NB) != 0) return true;
    ::flock(fd_, LOCK_UN);
    return false;
  }

 private:
  int fd_ = -1;
};

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
  add("--config", o.repo.config);
  add("--encryption-key-file", o.repo.encryption_key_file);
  add("--system-id", sysid);
  add("--spool-dir", spool.dir());
  add("--prefetch", std::to_string(o.prefetch));
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

// What the last round did, for whoever looks (replaced whole, never half written).
void write_status(const WalSpool& spool, const WalSpool::Wanted& wanted,
                  const WalPrefetchResult& r) {
  const std::string path = spool.dir() + "/" + kStatusFile;
  {
    std::ofstream status(path + ".tmp", std::ios::trunc);
    status << "after " << wanted.file.name() << ": fetched " << r.fetched << ", already "
           << r.already << (r.end_of_archive ? ", end of the archive" : "") << "\n";
    for (const std::string& e : r.errors) status << "failed: " << e << "\n";
  }
  std::filesystem::rename(path + ".tmp", path);
}

// The background fetcher: while recovery asks for new segments ("wanted"),
// fetch the next ones into the spool. One at a time per spool (the lock);
// the re-check after unlocking catches a request written while the lock
// was held by a fetcher about to finish.
int run_prefetch_worker(const WalFetchOptions& o) {
  WalSpool spool(o.spool_dir, "");
  SpoolLock lock(spool);
  const DecryptorFactory decryptor = decryptor_of(o.repo);
  std::vector<std::unique_ptr<Storage>> storages;
  std::string done;
  for (;;) {
    if (!lock.try_lock()) return 0;  // another fetcher works; it re-checks "wanted"
    for (;;) {
      const auto wanted = spool.wanted();
      if (!wanted || wanted->file.name() == done) break;
      spool.remove_stale(wanted->file);
      if (storages.empty()) {
        const unsigned threads = std::min(o.prefetch, kMaxWalPrefetchThreads);
        for (unsigned t = 0; t < threads; ++t) storages.push_back(o.repo.open());
      }
      std::vector<Storage*> pointers;
      for (auto& s : storages) pointers.push_back(s.get());
      WalPrefetchRequest request;
      request.system_identifier = o.system_id;
      request.decryptor = decryptor;
      request.after = wanted->file;
      request.segment_size = wanted->segment_size;
      request.count = o.prefetch;
      const WalPrefetchResult r = prefetch_wal_segments(pointers, spool, request);
      write_status(spool, *wanted, r);
      done = wanted->file.name();
    }
    lock.unlock();
    const auto wanted = spool.wanted();
    if (!wanted || wanted->file.name() == done) return 0;
  }
}

// A finished copy from the spool, waiting a while for one being written.
bool take_from_spool(WalSpool& spool, const WalFileName& file, const std::string& sysid,
                     const std::string& destination, std::uint64_t& segment_size) {
  SpoolLock lock(spool);
  const auto deadline = std::chrono::steady_clock::now() + kWaitForPrefetch;
  while (!spool.has(file) && spool.is_being_written(file) && lock.held_elsewhere() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string why_not;
  if (spool.take(file, destination, sysid, why_not, segment_size)) return true;
  if (spool.has(file) || why_not.find("failed its check") != std::string::npos)
    std::cerr << "pgvault: warning: WAL file " << file.name() << " from spool " << spool.dir()
              << ": " << why_not << "; fetching it from the repository\n";
  return false;
}

}  // namespace

Command add_wal_fetch_command(CLI::App& app) {
  auto o = std::make_shared<WalFetchOptions>();
  auto* cmd = app.add_subcommand(
      "wal-fetch",
      "restore_command for recovery: write archived WAL file %f to %p, verified (SHA-256, "
      "page header, timeline history syntax), decrypted and decompressed, and fetch the next "
      "segments ahead into a spool. Exit status: 0 fetched; 1 not in the repository "
      "(PostgreSQL then looks in pg_wal or ends recovery); 128 for every other failure "
      "(damaged or conflicting object, wrong or missing key, unreachable store, bad options), "
      "which PostgreSQL treats as fatal: recovery stops instead of promoting early. Example: "
      "restore_command = 'pgvault wal-fetch --config /etc/postgresql/15/main/postgresql.conf "
      "%f %p'");
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
                  "Segments to fetch ahead in the background, on up to 8 threads (default 8; 0: "
                  "none)")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_flag("--prefetch-worker", o->prefetch_worker)->group("");  // internal
  cmd->add_option("file", o->file_name, "%f: the WAL file name recovery asks for")->required();
  cmd->add_option("path", o->path, "%p: where to write it (relative to the working directory)")
      ->required();
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
  std::string where = "the repository";
  try {
    const std::string sysid =
        o.system_id.empty() ? system_identifier_of_working_directory() : o.system_id;
    validate_wal_system_identifier(sysid);
    const WalFileName file = parse_wal_file_name(o.file_name);
    const bool segment = file.kind() == WalFileKind::segment;
    std::optional<WalSpool> spool = segment ? open_spool(o) : std::nullopt;
    std::uint64_t segment_size = 0;
    bool fetched = spool && take_from_spool(*spool, file, sysid, o.path, segment_size);
    if (!fetched) {
      auto storage = o.repo.open();
      where = storage->url();
      WalFetchRequest request;
      request.system_identifier = sysid;
      request.file_name = o.file_name;
      request.destination = o.path;
      request.decryptor = decryptor_of(o.repo);
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
        spool->set_wanted(file, segment_size);
        start_prefetch_worker(o, sysid, *spool);
      } catch (const std::exception& e) {
        std::cerr << "pgvault: warning: WAL prefetch not started: " << e.what() << "\n";
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pgvault: error: cannot fetch WAL file " << quote_untrusted(o.file_name)
              << " from " << where << ": " << e.what() << "\n";
    return kWalFetchHardError;
  }
}

}  // namespace pgvault::cli
