// Fetching one archived WAL file (include/pgvault/wal/wal_fetch.hpp).
#include "pgvault/wal/wal_fetch.hpp"

#include "pgvault/error.hpp"
#include "pgvault/file_replacement.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/wal/timeline_history.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_page_header.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <cerrno>
#include <span>
#include <vector>

namespace pgvault {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
// History and .backup files are a few hundred bytes; more than this is not one.
constexpr std::uint64_t kMaxHistoryBytes = 16 * 1024 * 1024;

bool has_page_header(const WalFileName& file) {
  return file.kind() == WalFileKind::segment || file.kind() == WalFileKind::partial;
}

// A file that appears under its final name only once complete (and, when
// durable, synced): written as "<path>.pgvault-partial" in the same directory
// (so rename is atomic), removed when anything fails before commit().
class AtomicLocalFile {
 public:
  explicit AtomicLocalFile(std::string path, bool durable = true)
      : path_(std::move(path)), temp_(path_ + ".pgvault-partial"), durable_(durable) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) throw_os_error("could not create " + pgvault::quoted(temp_), errno);
  }
  ~AtomicLocalFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  AtomicLocalFile(const AtomicLocalFile&) = delete;
  AtomicLocalFile& operator=(const AtomicLocalFile&) = delete;

  void write(std::span<const std::byte> data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_os_error("could not write " + pgvault::quoted(temp_), errno);
      }
      data = data.subspan(static_cast<std::size_t>(n));
    }
  }
  void commit() {
    if (durable_ && ::fsync(fd_) != 0)
      throw_os_error("could not fsync " + pgvault::quoted(temp_), errno);
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw_os_error("could not close " + pgvault::quoted(temp_), errno);
    if (::rename(temp_.c_str(), path_.c_str()) != 0)
      throw_os_error("could not rename " + pgvault::quoted(temp_) + " to " + pgvault::quoted(path_),
                     errno);
    committed_ = true;
    if (durable_) fsync_directory(directory_of(path_));
  }

 private:
  std::string path_;
  std::string temp_;
  bool durable_;
  int fd_ = -1;
  bool committed_ = false;
};

// The last stage of the decode chain: hashes the decoded bytes, checks a
// segment's page header as soon as it has arrived, refuses more bytes than
// the file can have, and writes them to the temporary file (or, for a
// history file, keeps them to parse).
class CheckedOutput final : public Sink {
 public:
  CheckedOutput(const WalFileName& file, std::uint64_t system_identifier, AtomicLocalFile& out,
                std::string what)
      : file_(file), sysid_(system_identifier), out_(out), what_(std::move(what)) {}

  void write(std::span<const std::byte> data) override {
    if (data.empty()) return;
    hash_.update(data);
    bytes_ += data.size();
    if (has_page_header(file_)) {
      if (!header_checked_) {
        const std::size_t want = kWalLongPageHeaderSize - head_.size();
        head_.insert(head_.end(), data.begin(), data.begin() + std::min(want, data.size()));
        if (head_.size() == kWalLongPageHeaderSize) check_header();
      }
      if (header_checked_ && bytes_ > segment_size_) too_long(segment_size_);
    } else {
      if (bytes_ > kMaxHistoryBytes) too_long(kMaxHistoryBytes);
      if (file_.kind() == WalFileKind::history)
        history_.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    out_.write(data);
  }
  void finish() override {}

  // After the stream ended: what only the whole file can tell.
  std::string check_complete() {
    if (has_page_header(file_)) {
      if (!header_checked_) {
        // Fewer bytes than a page header: validate says so.
        validate_wal_segment_header(file_, head_, expectation(kDefaultWalSegmentSize), bytes_);
      }
      if (bytes_ != segment_size_) {
        throw Error(ErrorKind::corrupt, what_ + " is " + std::to_string(bytes_) +
                                            " bytes long, but its page header says segments are " +
                                            std::to_string(segment_size_) + " bytes");
      }
    } else if (file_.kind() == WalFileKind::history) {
      TimelineHistory::parse(file_.timeline(), history_);
    }
    return hash_.final_hex();
  }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t segment_size() const { return segment_size_; }

 private:
  WalSegmentExpectation expectation(std::uint64_t segment_size) const {
    WalSegmentExpectation e;
    e.system_identifier = sysid_;
    e.segment_size = segment_size;
    return e;
  }
  void check_header() {
    // The segment size is the cluster's (initdb --wal-segsize); the header
    // says it, and validate checks it is one PostgreSQL allows and that the
    // page address is the segment's start at that size.
    const WalLongPageHeader h = read_wal_long_page_header(head_);
    try {
      validate_wal_segment_size(h.segment_size);
    } catch (const Error&) {
      throw Error(ErrorKind::corrupt, what_ + " says its segment size is " +
                                          std::to_string(h.segment_size) +
                                          " bytes, which is not a WAL segment size (a power of "
                                          "two from 1 MB to 1 GB)");
    }
    validate_wal_segment_header(file_, head_, expectation(h.segment_size));
    segment_size_ = h.segment_size;
    header_checked_ = true;
  }
  [[noreturn]] void too_long(std::uint64_t limit) {
    throw Error(ErrorKind::corrupt,
                what_ + " decodes to more than " + std::to_string(limit) + " bytes, more than a " +
                    std::string(wal_file_kind_name(file_.kind())) + " file can hold");
  }

  const WalFileName& file_;
  std::uint64_t sysid_;
  AtomicLocalFile& out_;
  std::string what_;
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
  std::vector<std::byte> head_;
  bool header_checked_ = false;
  std::uint64_t segment_size_ = 0;
  std::string history_;
};

struct FoundObject {
  std::string key;
  WalObjectKey parsed;
};

std::string describe_keys(const std::vector<FoundObject>& found) {
  std::string text;
  for (const FoundObject& f : found) {
    text += (text.empty() ? "" : ", ") + pgvault::quoted(f.key);
  }
  return text;
}

// The stored copy of `file`, if any; Error(conflict) when the listing holds
// copies with different content (keys shown in full: they parsed, so they
// hold only the characters a key may).
std::optional<FoundObject> find_object(Storage& storage, const std::string& system_identifier,
                                       const WalFileName& file) {
  std::vector<FoundObject> found;
  for (const ObjectInfo& object : storage.list(wal_object_prefix(system_identifier, file))) {
    WalObjectKey parsed;
    try {
      parsed = parse_wal_object_key(object.path);
    } catch (const Error&) {
      continue;  // not an archived WAL object (e.g. a store's temporary file)
    }
    if (parsed.file != file || parsed.system_identifier != system_identifier) continue;
    found.push_back({object.path, parsed});
  }
  if (found.empty()) return std::nullopt;
  const bool same_content = file.kind() != WalFileKind::history &&
                            std::all_of(found.begin(), found.end(), [&](const FoundObject& f) {
                              return f.parsed.sha256 == found.front().parsed.sha256;
                            });
  if (found.size() > 1 && !same_content) {
    throw Error(ErrorKind::conflict,
                "WAL file " + pgvault::quoted(file.name()) + " is archived " +
                    std::to_string(found.size()) + " times with different content in repository " +
                    storage.url() + ": " + describe_keys(found) +
                    ". Two clusters with the same system identifier, or a split brain, wrote into "
                    "this repository; pgvault does not guess which one to replay. Remove the "
                    "wrong objects by hand once the cause is known.");
  }
  return found.front();
}

}  // namespace

DecryptorFactory wal_decryptor(KeyProvider provider) {
  return [provider = std::move(provider)](const std::string&, Sink& next) {
    return make_decryptor(provider, next);
  };
}

WalFetchResult fetch_wal_file(Storage& storage, const WalFetchRequest& request) {
  const WalFileName file = parse_wal_file_name(request.file_name);
  const std::uint64_t sysid = parse_wal_system_identifier(request.system_identifier);
  if (request.destination.empty())
    throw Error(ErrorKind::invalid_argument,
                "no destination path for WAL file " + pgvault::quoted(file.name()));

  WalFetchResult result;
  const std::optional<FoundObject> found = find_object(storage, request.system_identifier, file);
  if (!found) return result;
  result.key = found->key;
  const std::string what = "WAL file " + pgvault::quoted(file.name()) + " (object " +
                           pgvault::quoted(found->key) + " in repository " + storage.url() + ")";

  AtomicLocalFile out(request.destination, request.durable);
  CheckedOutput output(file, sysid, out, what);
  auto reader = storage.open_read(found->key);
  std::vector<std::byte> buffer(kReadChunk);
  // The first bytes say whether the object is encrypted; the chain is built then.
  std::size_t filled = 0;
  while (filled < kEncryptionHeaderSize) {
    const std::size_t n = reader->read(std::span(buffer).subspan(filled));
    if (n == 0) break;
    filled += n;
  }
  const bool encrypted = looks_encrypted(std::span(buffer.data(), filled));
  DecryptorFactory decryptor;
  if (encrypted)
    decryptor = request.decryptor ? request.decryptor : wal_decryptor(no_key_provider());
  try {
    backup_reading::DecodeChain chain(found->key, output, decryptor);
    std::size_t n = filled;
    while (n > 0) {
      chain.input().write(std::span<const std::byte>(buffer.data(), n));
      n = reader->read(buffer);
    }
    chain.input().finish();
    result.sha256 = output.check_complete();
  } catch (const Error& e) {
    // Decoding errors name the object; say which WAL file and store it was.
    if (e.kind() == ErrorKind::storage || e.kind() == ErrorKind::io) throw;
    throw Error(e.kind(), "cannot restore " + what + ": " + e.what());
  }
  if (result.sha256 != found->parsed.sha256 && file.kind() != WalFileKind::history) {
    throw Error(ErrorKind::corrupt, "cannot restore " + what + ": its content has SHA-256 " +
                                        result.sha256 + ", but the key says " +
                                        found->parsed.sha256 +
                                        " (the object is damaged or was replaced)");
  }
  out.commit();
  result.outcome = WalFetchOutcome::fetched;
  result.bytes = output.bytes();
  result.segment_size = output.segment_size();
  return result;
}

std::uint64_t validate_fetched_wal_file(const std::string& path, const std::string& file_name,
                                        const std::string& system_identifier) {
  const WalFileName file = parse_wal_file_name(file_name);
  const std::uint64_t sysid = parse_wal_system_identifier(system_identifier);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_os_error("cannot open " + pgvault::quoted(path), errno);
  struct stat st {};
  std::vector<std::byte> head(has_page_header(file) ? kWalLongPageHeaderSize : 0);
  std::string text;
  const int stat_rc = ::fstat(fd, &st);
  const int stat_errno = errno;
  std::size_t got = 0;
  int read_errno = 0;
  if (stat_rc == 0) {
    if (file.kind() == WalFileKind::history)
      head.resize(static_cast<std::size_t>(
          std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), kMaxHistoryBytes + 1)));
    while (got < head.size()) {
      const ssize_t n = ::read(fd, head.data() + got, head.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) read_errno = errno;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  if (stat_rc != 0) throw_os_error("cannot stat " + pgvault::quoted(path), stat_errno);
  if (read_errno != 0) throw_os_error("cannot read " + pgvault::quoted(path), read_errno);
  head.resize(got);
  const std::string what =
      "WAL file " + pgvault::quoted(file.name()) + " at " + pgvault::quoted(path);
  if (has_page_header(file)) {
    if (got < kWalLongPageHeaderSize)
      throw Error(ErrorKind::corrupt, what + " is shorter than a WAL page header");
    const WalLongPageHeader h = read_wal_long_page_header(head);
    WalSegmentExpectation e;
    e.system_identifier = sysid;
    e.segment_size = h.segment_size;
    try {
      validate_wal_segment_size(h.segment_size);
    } catch (const Error&) {
      throw Error(ErrorKind::corrupt, what + " has no valid segment size in its page header");
    }
    validate_wal_segment_header(file, head, e, static_cast<std::uint64_t>(st.st_size));
    return h.segment_size;
  }
  if (file.kind() == WalFileKind::history) {
    if (got > kMaxHistoryBytes)
      throw Error(ErrorKind::corrupt, what + " is too large for a timeline history file");
    TimelineHistory::parse(
        file.timeline(), std::string_view(reinterpret_cast<const char*>(head.data()), head.size()));
  }
  return 0;
}

// ---- The prefetch spool ---------------------------------------------------------

namespace {

constexpr const char* kPartialSuffix = ".pgvault-partial";

bool is_inside(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing '/'
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// Copies src into dst atomically (rename is impossible across file systems).
void copy_atomically(const std::string& src, const std::string& dst) {
  const int fd = ::open(src.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_os_error("cannot open " + pgvault::quoted(src), errno);
  std::vector<std::byte> buffer(kReadChunk);
  try {
    AtomicLocalFile out(dst, false);
    for (;;) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_os_error("cannot read " + pgvault::quoted(src), errno);
      if (n == 0) break;
      out.write(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
    }
    out.commit();
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

// A spool's own files, also under their temporary names.
bool is_spool_own_file(const std::string& name) {
  std::string base = name;
  if (base.ends_with(kPartialSuffix)) base.resize(base.size() - std::strlen(kPartialSuffix));
  if (base.ends_with(".tmp")) base.resize(base.size() - 4);
  return base == WalSpool::kWantedFile || base == WalSpool::kSessionFile ||
         base == WalSpool::kLockFile || base == WalSpool::kStatusFile;
}

// The WAL file a spool entry holds or is being written as, if it is one.
std::optional<WalFileName> spooled_wal_file(std::string name, bool& partial) {
  partial = name.size() > std::strlen(kPartialSuffix) && name.ends_with(kPartialSuffix);
  if (partial) name.resize(name.size() - std::strlen(kPartialSuffix));
  try {
    return parse_wal_file_name(name);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[4096];
  std::string text;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || text.size() > 64 * 1024) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace

WalSpool::WalSpool(std::string dir, const std::string& data_directory, Open open) {
  namespace fs = std::filesystem;
  if (dir.empty()) throw Error(ErrorKind::invalid_argument, "the spool directory is empty");
  const fs::path spool = fs::weakly_canonical(fs::absolute(dir));
  if (!data_directory.empty() && is_inside(spool, fs::weakly_canonical(data_directory))) {
    throw Error(ErrorKind::invalid_argument,
                "spool directory " + pgvault::quoted(spool.string()) +
                    " is inside the data directory " + pgvault::quoted(data_directory) +
                    ": prefetched WAL must stay outside it (pg_rewind and backups of the data "
                    "directory would copy it); choose a directory beside it");
  }
  dir_ = spool.string();
  if (open == Open::create && ::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throw_os_error("cannot create spool directory " + pgvault::quoted(dir_), errno);
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0) {
    if (errno == ENOENT && open == Open::existing)
      throw Error(ErrorKind::not_found, "there is no spool directory " + pgvault::quoted(dir_));
    throw_os_error("cannot stat " + pgvault::quoted(dir_), errno);
  }
  if (!S_ISDIR(st.st_mode))
    throw Error(ErrorKind::invalid_argument, "spool directory " + pgvault::quoted(dir_) +
                                                 " is not a directory (or is a symlink)");
  if (st.st_uid != ::geteuid() || (st.st_mode & 0077) != 0)
    throw Error(ErrorKind::invalid_argument,
                "spool directory " + pgvault::quoted(dir_) +
                    " must belong to this user and be accessible to no one else (mode 0700): "
                    "WAL taken from it is replayed");
}

std::string WalSpool::path_of(const WalFileName& file) const {
  return dir_ + "/" + file.name();
}

bool WalSpool::has(const WalFileName& file) const {
  struct stat st {};
  return ::lstat(path_of(file).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool WalSpool::is_being_written(const WalFileName& file) const {
  struct stat st {};
  return ::lstat((path_of(file) + kPartialSuffix).c_str(), &st) == 0;
}

bool WalSpool::take(const WalFileName& file, const std::string& destination,
                    const std::string& system_identifier, std::string& why_not,
                    std::uint64_t& segment_size) {
  const std::string path = path_of(file);
  if (!has(file)) {
    why_not = "not in the spool";
    return false;
  }
  try {
    segment_size = validate_fetched_wal_file(path, file.name(), system_identifier);
  } catch (const Error& e) {
    ::unlink(path.c_str());
    why_not = std::string("the spooled copy failed its check and was removed: ") + e.what();
    return false;
  }
  // No fsync: PostgreSQL makes the file durable itself if it keeps it
  // (WalFetchRequest::durable).
  if (::rename(path.c_str(), destination.c_str()) == 0) return true;
  if (errno != EXDEV)
    throw_os_error(
        "could not move " + pgvault::quoted(path) + " to " + pgvault::quoted(destination), errno);
  copy_atomically(path, destination);
  ::unlink(path.c_str());
  return true;
}

void WalSpool::remove_stale(const WalFileName& asked) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    bool partial = false;
    const auto file = spooled_wal_file(entry.path().filename().string(), partial);
    if (!file) continue;  // the spool's own files
    if (file->timeline() != asked.timeline() || *file < asked) ::unlink(entry.path().c_str());
  }
}

void WalSpool::set_wanted(const WalFileName& segment, std::uint64_t segment_size) {
  // A hint for the fetcher: replaced atomically, never synced.
  AtomicLocalFile out(own_file(kWantedFile), false);
  const std::string text = segment.name() + " " + std::to_string(segment_size) + "\n";
  out.write(as_bytes(text));
  out.commit();
}

std::optional<WalSpool::Wanted> WalSpool::wanted() const {
  const int fd = ::open(own_file(kWantedFile).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  const std::string text(buf, static_cast<std::size_t>(n));
  const auto space = text.find(' ');
  if (space == std::string::npos) return std::nullopt;
  try {
    Wanted w;
    w.file = parse_wal_file_name(text.substr(0, space));
    w.segment_size = std::stoull(text.substr(space + 1));
    validate_wal_segment_size(w.segment_size);
    if (w.file.kind() != WalFileKind::segment) return std::nullopt;
    return w;
  } catch (const std::exception&) {
    return std::nullopt;  // written by this program only; anything else is ignored
  }
}

std::string WalSpool::session() const {
  return read_small_file(own_file(kSessionFile));
}

void WalSpool::start_session(const std::string& session) {
  for (const std::string& name : entries_of(dir_)) {
    bool partial = false;
    if (spooled_wal_file(name, partial) ||
        (is_spool_own_file(name) && name != kLockFile && name != kSessionFile))
      ::unlink((dir_ + "/" + name).c_str());
  }
  // Synced: it is what tells, after a crash, whether the rest can be trusted.
  AtomicLocalFile out(own_file(kSessionFile), true);
  out.write(as_bytes(session));
  out.commit();
}

std::vector<std::string> WalSpool::foreign_entries() const {
  std::vector<std::string> foreign;
  for (const std::string& name : entries_of(dir_)) {
    bool partial = false;
    const std::string path = dir_ + "/" + name;
    struct stat st {};
    const bool regular = ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (!regular || (!spooled_wal_file(name, partial) && !is_spool_own_file(name)))
      foreign.push_back(name);
  }
  return foreign;
}

void WalSpool::remove_all() {
  const std::vector<std::string> foreign = foreign_entries();
  if (!foreign.empty()) {
    std::string names;
    for (std::size_t i = 0; i < foreign.size() && i < 5; ++i)
      names += (i == 0 ? "" : ", ") + pgvault::quoted(foreign[i]);
    if (foreign.size() > 5) names += ", …";
    throw Error(ErrorKind::invalid_argument,
                "not removing " + pgvault::quoted(dir_) + ": it holds " + names +
                    ", which pgvault's WAL spool never writes; it is not (only) a wal-fetch "
                    "spool. Check the path; remove it by hand if it is meant to go");
  }
  for (const std::string& name : entries_of(dir_)) {
    const std::string path = dir_ + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw_os_error("cannot remove " + pgvault::quoted(path), errno);
  }
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT)
    throw_os_error("cannot remove spool directory " + pgvault::quoted(dir_), errno);
}

// ---- The background fetcher -------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

class Prefetcher {
 public:
  Prefetcher(WalSpool& spool, const WalPrefetcherOptions& options)
      : spool_(spool), options_(options), last_busy_(Clock::now()) {}

  // A worker: fetches the lowest segment of the window that is needed, until stopped.
  void work(Storage& storage) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      const std::optional<WalFileName> next = pick();
      if (!next) {
        cv_.wait_for(lock, options_.poll);
        continue;
      }
      const std::string name = next->name();
      in_flight_.insert(name);
      lock.unlock();
      WalFetchRequest r;
      r.system_identifier = options_.system_identifier;
      r.file_name = name;
      r.destination = spool_.path_of(*next);
      r.decryptor = options_.decryptor;
      r.durable = options_.durable;
      std::optional<std::string> error;
      bool found = false;
      try {
        found = fetch_wal_file(storage, r).outcome == WalFetchOutcome::fetched;
      } catch (const std::exception& e) {
        error = name + ": " + e.what();
      }
      lock.lock();
      in_flight_.erase(name);
      const auto now = Clock::now();
      // Only a fetched segment counts as work: asking again at the end of
      // the archive, or for a failing segment, must not keep it alive forever.
      if (error) {
        failed_[name] = now;
        report_.errors.push_back(*error);
        if (report_.errors.size() > 16) report_.errors.erase(report_.errors.begin());
      } else if (found) {
        ++report_.fetched;
        last_busy_ = now;
        if (end_ && *end_ == *next) end_.reset();  // asked again, and archived since
      } else {
        // The end is the first segment missing: a later one asked at the
        // same time (before the end was known) does not move it.
        if (!end_ || end_->timeline() != next->timeline() || *next < *end_) end_ = next;
        end_at_ = now;
        report_.end_of_archive = end_;
      }
      changed_ = true;
      cv_.notify_all();
    }
  }

  // The calling thread: follows "wanted" until told to stop or idle.
  void follow(const std::function<bool()>& keep_running,
              const std::function<void(const WalPrefetcherReport&)>& on_progress) {
    std::string seen;
    for (;;) {
      if (!keep_running()) break;
      const auto wanted = spool_.wanted();
      if (wanted && wanted->file.name() != seen) {
        seen = wanted->file.name();
        spool_.remove_stale(wanted->file);
        std::lock_guard<std::mutex> lock(mu_);
        wanted_ = wanted;
        report_.wanted = wanted->file;
        if (end_ && end_->timeline() != wanted->file.timeline()) end_.reset();
        last_busy_ = Clock::now();
        changed_ = true;
        cv_.notify_all();
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (changed_ && on_progress) {
        changed_ = false;
        const WalPrefetcherReport snapshot = report_;
        lock.unlock();
        on_progress(snapshot);
        lock.lock();
      }
      if (in_flight_.empty() && Clock::now() - last_busy_ >= options_.idle_exit) break;
      cv_.wait_for(lock, options_.poll);
    }
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }

  WalPrefetcherReport report() {
    std::lock_guard<std::mutex> lock(mu_);
    return report_;
  }

 private:
  // Under mu_: the first segment after "wanted" (within depth) that is not
  // spooled, not being fetched, and not known missing or failing just now.
  // (The main thread moves `end_` and removes stale files when "wanted" moves.)
  std::optional<WalFileName> pick() {
    // Read now, not only at the last poll: recovery records what it asks for
    // before it takes it from the spool, so what it took is never fetched again.
    if (const auto wanted = spool_.wanted()) wanted_ = wanted;
    if (!wanted_) return std::nullopt;
    // Recovery got past the end (it found that segment itself): forget it.
    if (end_ && end_->timeline() == wanted_->file.timeline() && !(wanted_->file < *end_))
      end_.reset();
    const auto now = Clock::now();
    WalFileName next = wanted_->file;
    for (unsigned i = 0; i < options_.depth; ++i) {
      next = next.next_segment(wanted_->segment_size);
      const std::string name = next.name();
      if (end_ && next.timeline() == end_->timeline() && !(next < *end_)) {
        // At the end of the archive: only the end itself is asked again (it
        // may have been archived since), once a retry interval has passed,
        // and nothing beyond it until it is there. Asking past it too made
        // the reported end move to whichever answer came last.
        if (next != *end_ || now - end_at_ < options_.retry) return std::nullopt;
      }
      if (in_flight_.contains(name)) continue;
      const auto failed = failed_.find(name);
      if (failed != failed_.end() && now - failed->second < options_.retry) continue;
      if (spool_.has(next)) continue;
      // Recovery may have moved on while this looked (it records what it
      // asks for, then takes it): a segment it took is not in the spool any
      // more, and must not be fetched again.
      if (const auto moved = spool_.wanted(); moved && !(moved->file < next)) {
        wanted_ = moved;
        return std::nullopt;
      }
      return next;
    }
    return std::nullopt;
  }

  WalSpool& spool_;
  const WalPrefetcherOptions& options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool changed_ = false;
  std::optional<WalSpool::Wanted> wanted_;
  std::set<std::string> in_flight_;
  std::map<std::string, Clock::time_point> failed_;
  std::optional<WalFileName> end_;
  Clock::time_point end_at_;
  Clock::time_point last_busy_;
  WalPrefetcherReport report_;
};

}  // namespace

WalPrefetcherReport run_wal_prefetcher(
    const std::vector<Storage*>& storages, WalSpool& spool, const WalPrefetcherOptions& options,
    const std::function<bool()>& keep_running,
    const std::function<void(const WalPrefetcherReport&)>& on_progress) {
  if (storages.empty() || options.depth == 0)
    throw Error(ErrorKind::invalid_argument, "the WAL prefetcher needs a storage and a depth");
  Prefetcher prefetcher(spool, options);
  std::vector<std::thread> threads;
  for (Storage* storage : storages)
    threads.push_back(
        start_signal_blocked_thread([&prefetcher, storage] { prefetcher.work(*storage); }));
  try {
    prefetcher.follow(keep_running, on_progress);
  } catch (...) {
    prefetcher.follow([] { return false; }, {});  // stops the workers
    for (auto& t : threads) t.join();
    throw;
  }
  for (auto& t : threads) t.join();
  return prefetcher.report();
}

}  // namespace pgvault
