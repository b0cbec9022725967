#include "pgvault/physical/incremental_backup.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/changed_pages.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/physical/manifest_writer.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/physical/read_pacer.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/tar_writer.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/timestamp.hpp"
#include "pgvault/wal/wal_summary.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kReadChunk = 128 * 1024;  // whole files: 16 pages per read
constexpr std::uint64_t kInterruptEvery = 8 * 1024 * 1024;
// Relation files of at least this many blocks (64 MB) are scanned on several
// threads.
constexpr std::uint32_t kParallelScanBlocks = 8192;

// A file opened for reading; a missing file is "vanished", not an error.
class ReadFile {
 public:
  explicit ReadFile(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0 && errno != ENOENT)
      throw_os_error("could not open \"" + path.string() + "\"", errno);
  }
  ~ReadFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;
  bool exists() const { return fd_ >= 0; }
  // Reads up to buf.size() bytes at offset; fewer only at the end of the file.
  std::size_t read_at(std::span<std::byte> buf, std::uint64_t offset) const {
    return pread_fully(fd_, buf, offset, [&] { return "\"" + path_.string() + "\""; });
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

// pgvault.max_rate for the bytes read from the data directory, by any thread
// (ReadPacer with a ratio of 1: here the bytes read are the bytes counted).
class ReadThrottle {
 public:
  explicit ReadThrottle(int max_rate_kb) {
    if (max_rate_kb > 0) pacer_.emplace(static_cast<std::uint64_t>(max_rate_kb) * 1024);
  }
  // Counts bytes read; returns how long the reader is ahead of the rate.
  std::chrono::nanoseconds read(std::uint64_t bytes) {
    if (!pacer_) return {};
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += bytes;
    pacer_->on_progress(done_, done_);
    return pacer_->delay(done_, std::chrono::steady_clock::now() - start_);
  }

 private:
  std::optional<ReadPacer> pacer_;
  std::mutex mutex_;
  std::uint64_t done_ = 0;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Sleeps `pause` in slices, calling between them `between` (which may throw
// to stop: interrupts on the writing thread, cancellation on the others).
void pause_reading(std::chrono::nanoseconds pause, const std::function<void()>& between) {
  constexpr auto kSlice = std::chrono::milliseconds(100);
  // Short pauses add up to nothing but system calls.
  if (pause < std::chrono::milliseconds(10)) return;
  while (pause > std::chrono::nanoseconds::zero()) {
    const auto slice = std::min<std::chrono::nanoseconds>(pause, kSlice);
    std::this_thread::sleep_for(slice);
    pause -= slice;
    if (between) between();
  }
}

// What the parent backup knew of one file.
struct ParentFiles {
  std::unordered_map<std::string, std::uint64_t> sizes;  // backup_manifest: path -> bytes
  std::unordered_map<std::string, FileIdentity> identities;
  bool identities_known = false;
};

// The first pass over one relation file: stat, whole or changed pages.
struct RelationPlan {
  bool vanished = false;
  FileStat stat;
  WholeFileReason reason = WholeFileReason::none;
  bool whole = false;
  std::uint32_t file_blocks = 0;
  std::vector<std::uint32_t> blocks;  // selected (not whole)
};

std::string incremental_entry_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "INCREMENTAL." + path;
  return path.substr(0, slash + 1) + "INCREMENTAL." + path.substr(slash + 1);
}

[[noreturn]] void fail_corrupt(const PageSelection& s) {
  throw Error(ErrorKind::corrupt, s.corruption.message());
}

// Reads block `block` of file into page (false: not a whole page there any more).
bool read_block(const ReadFile& file, std::uint32_t block, std::span<std::byte> page) {
  return file.read_at(page, std::uint64_t{block} * kPageSize) == kPageSize;
}

// What the WAL since the parent changed (IncrementalSource::wal_changes).
struct ChangeHints {
  const WalSummary* summary = nullptr;  // none: every page is read
  bool check = false;                   // read every page and check the summary against them
  Lsn start;                            // this backup's start
};

// What the WAL summaries name of one relation segment file.
SegmentChanges summary_changes(const WalSummary& summary, const RelationFileName& relation) {
  // WAL names the default tablespaces by oid where the data directory does not.
  const std::uint32_t tablespace =
      relation.tablespace_oid != 0
          ? relation.tablespace_oid
          : (relation.database_oid == 0 ? kGlobalTablespaceOid : kDefaultTablespaceOid);
  const RelationForkId fork{{tablespace, relation.database_oid, relation.relfilenode},
                            static_cast<std::uint8_t>(relation.fork)};
  return summary.changes_of(fork, relation.segment);
}

// The blocks of a relation file to read when the WAL changes are known,
// sorted; nullopt when every block must be read (a fork created or copied
// since the parent).
std::optional<std::vector<std::uint32_t>> candidate_blocks(const WalSummary& summary,
                                                           const RelationFileName& relation,
                                                           std::uint32_t parent_blocks,
                                                           std::uint32_t file_blocks) {
  const SegmentChanges changes = summary_changes(summary, relation);
  if (changes.whole) return std::nullopt;
  // Every block from a truncation on (re-extension logs no zero page), and
  // every block the parent did not have.
  const std::uint32_t from =
      std::min({changes.from.value_or(file_blocks), parent_blocks, file_blocks});
  std::vector<std::uint32_t> blocks;
  for (std::uint32_t b : changes.blocks) {
    if (b >= from) break;
    blocks.push_back(b);
  }
  for (std::uint32_t b = from; b < file_blocks; ++b) blocks.push_back(b);
  return blocks;
}

// Fails the backup when a page the scan found changed within the WAL the
// summaries cover is not among the candidates (pgvault.incremental_changes
// = check). The page's LSN is the end of the record that changed it last: a
// record starting before the parent's start ends at it at the latest.
void check_candidates(const std::string& path, const ReadFile& file,
                      const std::vector<std::uint32_t>& selected,
                      const std::vector<std::uint32_t>& candidates, Lsn parent_start,
                      const ChangeHints& hints) {
  std::vector<std::byte> page(kPageSize);
  for (std::uint32_t block : selected) {
    if (std::binary_search(candidates.begin(), candidates.end(), block)) continue;
    if (!read_block(file, block, page)) continue;
    const PageHeader header = read_page_header(page);
    if (page_is_new(header) || !page_header_is_sane(header)) continue;
    if (header.lsn() > parent_start && header.lsn() <= hints.start)
      throw Error(ErrorKind::internal,
                  "WAL summary check failed: block " + std::to_string(block) + " of \"" + path +
                      "\" has page LSN " + format_lsn(header.lsn()) +
                      ", changed after the parent's start " + format_lsn(parent_start) +
                      " and before this backup's " + format_lsn(hints.start) +
                      ", but the WAL summaries do not name it");
  }
}

// `on_read` hears the bytes read, every few pages (pacing).
RelationPlan plan_relation(const BackupEntry& entry, const ParentFiles& parent, Lsn parent_start,
                           bool verify_checksums, const std::atomic<bool>& cancelled,
                           const std::function<void(std::uint64_t)>& on_read,
                           std::uint32_t scan_threads, const ChangeHints& hints) {
  RelationPlan plan;
  const std::string path = manifest_path(entry);
  const auto stat = stat_file_identity(entry.source);
  if (!stat) {
    plan.vanished = true;
    return plan;
  }
  plan.stat = *stat;
  plan.file_blocks = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(plan.stat.size / kPageSize, kBlocksPerSegment));
  // The parent's copy: its size from its manifest, its identity from its
  // file_identity. Identities unknown (a parent without file_identity): ours,
  // so the rule is skipped. A path the parent's manifest has but its
  // file_identity lacks counts as no copy (stored whole: the safe side).
  std::optional<ParentFileState> parent_state;
  if (auto size = parent.sizes.find(path); size != parent.sizes.end()) {
    ParentFileState p;
    p.file_blocks = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(size->second / kPageSize, kBlocksPerSegment));
    p.identity = plan.stat.identity;
    auto id = parent.identities.find(path);
    if (!parent.identities_known) {
      parent_state = p;
    } else if (id != parent.identities.end()) {
      p.identity = id->second;
      parent_state = p;
    }
  }
  plan.reason =
      whole_file_reason(entry.relation->fork, parent_state, plan.file_blocks, plan.stat.identity);
  // A size that is not whole pages (or beyond a segment) is not a relation
  // file PostgreSQL wrote: stored as it is.
  plan.whole = plan.reason != WholeFileReason::none || plan.stat.size % kPageSize != 0 ||
               plan.stat.size > std::uint64_t{kBlocksPerSegment} * kPageSize;
  if (plan.whole) return plan;

  std::optional<std::vector<std::uint32_t>> candidates;
  if (hints.summary)
    candidates = candidate_blocks(*hints.summary, *entry.relation, parent_state->file_blocks,
                                  plan.file_blocks);
  // Most files of a cluster have no block to read: not even opened.
  if (candidates && candidates->empty() && !hints.check) return plan;
  ReadFile file(entry.source);
  if (!file.exists()) {
    plan.vanished = true;
    return plan;
  }
  ChangedPagePolicy policy;
  policy.parent_start_lsn = parent_start;
  policy.parent_file_blocks = parent_state->file_blocks;
  policy.verify_checksums = verify_checksums && entry.checksummed;
  const std::uint32_t segment = entry.relation->segment;
  // Selects the pages of blocks [first, last) into `blocks`; returns where
  // the file ended (last, or earlier when it shrank while read). Chunks of
  // pages: one system call per page would cost more than the page's checks;
  // a page that fails them is read again on its own.
  // `buf` (kReadChunk bytes) is the calling thread's: a file with thousands
  // of scattered candidates is scanned thousands of times, and a fresh
  // zeroed 128 kB buffer for each scan cost more than reading the pages.
  auto scan = [&](std::uint32_t first, std::uint32_t last, std::vector<std::uint32_t>& blocks,
                  std::vector<std::byte>& buf) {
    constexpr std::uint32_t kChunkPages = kReadChunk / kPageSize;
    for (std::uint32_t block = first; block < last;) {
      if (cancelled.load(std::memory_order_relaxed)) return last;
      const std::uint32_t want = std::min(kChunkPages, last - block);
      const std::size_t got = file.read_at(std::span(buf.data(), std::size_t{want} * kPageSize),
                                           std::uint64_t{block} * kPageSize);
      const auto pages = static_cast<std::uint32_t>(got / kPageSize);
      on_read(std::uint64_t{pages} * kPageSize);
      for (std::uint32_t i = 0; i < pages; ++i) {
        const std::uint32_t b = block + i;
        const PageSelection s = select_page(
            std::span(buf.data() + std::size_t{i} * kPageSize, kPageSize), path, segment, b, policy,
            [&](std::span<std::byte> again) { return read_block(file, b, again); });
        if (s.decision == PageDecision::corrupt) fail_corrupt(s);
        if (s.decision == PageDecision::vanished) return b;
        if (s.decision == PageDecision::include) blocks.push_back(b);
      }
      if (pages < want) return block + pages;
      block += want;
    }
    return last;
  };
  std::vector<std::byte> chunk(kReadChunk);
  if (candidates && !hints.check) {
    // Runs of consecutive candidates, read a chunk at a time; the file ends
    // where a run ended early.
    const auto& c = *candidates;
    for (std::size_t i = 0; i < c.size();) {
      std::size_t j = i + 1;
      while (j < c.size() && c[j] == c[j - 1] + 1) ++j;
      const std::uint32_t last = c[j - 1] + 1;
      const std::uint32_t end = scan(c[i], last, plan.blocks, chunk);
      if (end < last) {
        plan.file_blocks = end;
        break;
      }
      i = j;
    }
    return plan;
  }
  auto checked = [&](RelationPlan&& done) {
    if (candidates) check_candidates(path, file, done.blocks, *candidates, parent_start, hints);
    return std::move(done);
  };
  // A large file (a 1 GB segment of the biggest table is often most of the
  // work) is scanned in ranges on `scan_threads` threads; the ranges' blocks
  // are joined in order, and the file ends at the first range that ended
  // early.
  const std::uint32_t threads =
      plan.file_blocks >= kParallelScanBlocks ? std::max(1u, scan_threads) : 1u;
  if (threads == 1) {
    plan.file_blocks = scan(0, plan.file_blocks, plan.blocks, chunk);
    return checked(std::move(plan));
  }
  const std::uint32_t per = (plan.file_blocks + threads - 1) / threads;
  std::vector<std::vector<std::uint32_t>> parts(threads);
  std::vector<std::uint32_t> ends(threads);
  auto run_part = [&](std::uint32_t t) {
    const std::uint32_t first = std::min(plan.file_blocks, t * per);
    const std::uint32_t last = std::min(plan.file_blocks, first + per);
    std::vector<std::byte> buf(kReadChunk);
    ends[t] = scan(first, last, parts[t], buf);
  };
  {
    // The other ranges on threads of their own (signals blocked: this runs
    // inside a backend); the first failure, in range order, is rethrown, and
    // every helper is joined whatever happens.
    std::deque<BackgroundTask> helpers;
    for (std::uint32_t t = 1; t < threads; ++t)
      helpers.emplace_back([&run_part, t] { run_part(t); });
    run_part(0);
    for (BackgroundTask& helper : helpers) helper.wait();
  }
  for (std::uint32_t t = 0; t < threads; ++t) {
    plan.blocks.insert(plan.blocks.end(), parts[t].begin(), parts[t].end());
    const std::uint32_t last =
        std::min(plan.file_blocks, std::min(plan.file_blocks, t * per) + per);
    if (ends[t] < last) {
      plan.file_blocks = ends[t];
      break;
    }
  }
  return checked(std::move(plan));
}

// Runs the first pass of relation files on worker threads, a bounded window
// ahead of the writer.
class PlanPool {
 public:
  explicit PlanPool(unsigned workers) {
    for (unsigned i = 0; i < workers; ++i)
      threads_.push_back(start_signal_blocked_thread([this] { run(); }));
  }
  ~PlanPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      queue_.clear();  // their futures report broken promises, never read
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  PlanPool(const PlanPool&) = delete;
  PlanPool& operator=(const PlanPool&) = delete;

  std::future<RelationPlan> submit(std::function<RelationPlan()> job) {
    std::packaged_task<RelationPlan()> task(std::move(job));
    auto future = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    return future;
  }

 private:
  void run() {
    for (;;) {
      std::packaged_task<RelationPlan()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<RelationPlan()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Tar file data as a Sink (for IncrementalFileWriter).
class TarDataSink final : public Sink {
 public:
  explicit TarDataSink(TarStreamWriter& tar) : tar_(tar) {}
  void write(std::span<const std::byte> data) override { tar_.write_data(data); }
  void finish() override {}

 private:
  TarStreamWriter& tar_;
};

// One archive object being written.
struct Archive {
  std::unique_ptr<EncodeChain> chain;
  std::unique_ptr<TarStreamWriter> tar;
};

class IncrementalRun {
 public:
  IncrementalRun(Repository& repo, const BackupRequest& req, const BackupMeta& parent,
                 const DecryptorFactory& parent_decryptor, IncrementalSource& source,
                 const IncrementalCallbacks& callbacks)
      : repo_(repo),
        req_(req),
        parent_(parent),
        parent_decryptor_(parent_decryptor),
        source_(source),
        cb_(callbacks) {}

  ~IncrementalRun() {
    pool_.reset();  // before anything its jobs read
  }

  BackupMeta run();
  void abandon() noexcept;

 private:
  void check_parent() const;
  // Runs beside pg_backup_start (no callback may run off the main thread):
  // what it has to say is returned, for run() to log.
  std::string read_parent();
  void find_wal_changes(Lsn start);
  EncodeOptions encode_options(bool compressed) const;
  Archive open_archive(const std::string& stem);
  void close_archive(Archive& archive);
  void write_entries(TarStreamWriter& tar, std::size_t begin, std::size_t end);
  void write_entry(TarStreamWriter& tar, std::size_t index);
  void write_whole_file(TarStreamWriter& tar, const BackupEntry& entry, const FileStat& stat,
                        bool relation);
  void write_changed_pages(TarStreamWriter& tar, const BackupEntry& entry,
                           const RelationPlan& plan);
  void add_memory_file(TarStreamWriter& tar, const std::string& path, const std::string& content,
                       std::int64_t mtime, bool in_manifest);
  RelationPlan plan_for(std::size_t index);
  void top_up_window(std::size_t from, std::size_t end);
  // Whether planning the relation file may read pages (not only stat it).
  bool plan_may_read(const BackupEntry& entry) const;
  void report(const char* phase);
  void interrupts();
  // Counts bytes read on the writing thread and pauses when ahead of max_rate.
  void paced_on_writer(std::uint64_t bytes);

  Repository& repo_;
  const BackupRequest& req_;
  const BackupMeta& parent_;
  const DecryptorFactory& parent_decryptor_;
  IncrementalSource& source_;
  const IncrementalCallbacks& cb_;

  BackupMeta meta_;
  Lsn parent_start_;
  ParentFiles parent_files_;
  std::optional<WalSummary> wal_changes_;
  ChangeHints hints_;
  DataDirectoryListing listing_;
  std::vector<ObjectEntry> committed_;
  std::uint64_t stored_before_ = 0;  // bytes of committed objects
  EncodeChain* current_ = nullptr;   // the archive being written (progress)
  std::unique_ptr<EncodeChain> manifest_chain_;
  std::unique_ptr<BackupManifestWriter> manifest_;
  std::vector<FileIdentityRecord> identities_;
  std::vector<ChangedBlocksRecord> changed_blocks_;  // one per INCREMENTAL. entry
  std::atomic<bool> cancelled_{false};
  ReadThrottle throttle_{req_.max_rate_kb};
  std::unique_ptr<PlanPool> pool_;
  std::map<std::size_t, std::future<RelationPlan>> ahead_;
  std::size_t window_ = 0;
  std::size_t plan_cursor_ = 0;  // the next entry top_up_window looks at
  BackupProgress progress_;
  std::uint64_t since_interrupt_check_ = 0;
};

void IncrementalRun::report(const char* phase) {
  progress_.phase = phase;
  progress_.stored = stored_before_ + (current_ ? current_->stored_bytes() : 0);
  check_stored_size(req_, progress_.stored);
  if (cb_.progress) cb_.progress(progress_);
}

void IncrementalRun::interrupts() {
  since_interrupt_check_ = 0;
  if (cb_.check_interrupts) cb_.check_interrupts();
}

void IncrementalRun::paced_on_writer(std::uint64_t bytes) {
  pause_reading(throttle_.read(bytes), cb_.check_interrupts);
}

void IncrementalRun::check_parent() const {
  if (req_.kind != BackupKind::incremental)
    throw Error(ErrorKind::invalid_argument, "run_incremental_backup needs an incremental request");
  if (parent_.kind != "physical" && parent_.kind != "incremental")
    throw Error(ErrorKind::invalid_argument,
                "backup \"" + parent_.name + "\" is a " + parent_.kind +
                    " backup; an incremental backup needs a physical or incremental parent");
  if (parent_.system_identifier != req_.origin.system_identifier)
    throw Error(ErrorKind::invalid_argument,
                "backup \"" + parent_.name + "\" is of system " + parent_.system_identifier +
                    ", not of this server's system " + req_.origin.system_identifier);
}

std::string IncrementalRun::read_parent() {
  Storage& storage = repo_.storage();
  const BackupManifest manifest = BackupManifest::parse(
      backup_reading::read_manifest_text(storage, parent_, parent_decryptor_));
  for (const ManifestFile& f : manifest.files()) parent_files_.sizes.emplace(f.path, f.size);
  const ObjectEntry* identity = parent_.find_object(kFileIdentityObject);
  if (identity == nullptr) {
    return "backup \"" + parent_.name +
           "\" has no file_identity: relation files are compared with it by size only (a file "
           "dropped and re-created under the same path is detected only when it shrank)";
  }
  StringSink text;
  backup_reading::DecodeChain decode(identity->name, text, parent_decryptor_);
  backup_reading::read_object(storage, parent_, *identity, decode.input());
  for (auto& r :
       parse_file_identity(text.str(), "file_identity of backup \"" + parent_.name + "\""))
    parent_files_.identities.emplace(std::move(r.path), r.identity);
  parent_files_.identities_known = true;
  return {};
}

void IncrementalRun::find_wal_changes(Lsn start) {
  hints_.start = start;
  hints_.check = req_.changes == IncrementalChanges::check;
  if (req_.changes == IncrementalChanges::page_scan) {
    meta_.changed_pages = "every page, by its LSN (pgvault.incremental_changes = page_scan)";
    return;
  }
  WalChanges changes = source_.wal_changes(parent_start_, start);
  if (!changes.summary) {
    meta_.changed_pages = "every page, by its LSN: " + changes.why_not;
    if (cb_.log) cb_.log("every page is read to find the changed ones: " + changes.why_not);
    return;
  }
  wal_changes_ = std::move(changes.summary);
  hints_.summary = &*wal_changes_;
  std::string from = "no WAL";
  if (!changes.used.empty())
    from = std::to_string(changes.used.size()) + " WAL summaries (" +
           format_lsn(changes.used.front().start) + ".." + format_lsn(changes.used.back().end) +
           ")";
  const std::string named = std::to_string(wal_changes_->block_count()) + " block references in " +
                            std::to_string(wal_changes_->forks().size()) + " relation forks";
  meta_.changed_pages = "the blocks " + from + " name: " + named +
                        (hints_.check ? "; every page read to check them (check)" : "");
  if (cb_.log) {
    cb_.log("changed pages are read from the blocks " + from + " name: " + named + " since " +
            format_lsn(parent_start_) + (hints_.check ? "; every page is read to check them" : ""));
  }
}

EncodeOptions IncrementalRun::encode_options(bool compressed) const {
  EncodeOptions o;
  if (compressed) {
    o.compression = req_.compression.algorithm;
    o.compression_level = req_.compression.level;
    // One thread writes the archives in walk order: its compression, not the
    // reading, was the longest part of an incremental (see README).
    o.compression_workers = req_.compression.workers;
  }
  o.encryption_key = req_.encryption_key;
  return o;
}

Archive IncrementalRun::open_archive(const std::string& stem) {
  Archive a;
  a.chain = std::make_unique<EncodeChain>(
      repo_.storage(), Repository::backup_dir(req_.origin.system_identifier, req_.origin.name),
      stem, encode_options(true));
  a.tar = std::make_unique<TarStreamWriter>(a.chain->input());
  current_ = a.chain.get();
  return a;
}

void IncrementalRun::close_archive(Archive& archive) {
  archive.tar->finish();
  committed_.push_back(archive.chain->finish());
  stored_before_ += committed_.back().size;
  current_ = nullptr;
  archive.chain.reset();
}

RelationPlan IncrementalRun::plan_for(std::size_t index) {
  auto it = ahead_.find(index);
  if (it == ahead_.end())
    return plan_relation(
        listing_.entries[index], parent_files_, parent_start_, req_.data_checksums, cancelled_,
        [this](std::uint64_t bytes) { paced_on_writer(bytes); }, 1, hints_);
  std::future<RelationPlan> f = std::move(it->second);
  ahead_.erase(it);
  return f.get();  // rethrows the worker's error (corruption, I/O)
}

bool IncrementalRun::plan_may_read(const BackupEntry& entry) const {
  if (!hints_.summary || hints_.check) return true;
  const SegmentChanges changes = summary_changes(*hints_.summary, *entry.relation);
  return changes.whole || !changes.blocks.empty() || changes.from.has_value();
}

// Keeps up to window_ relation files of entries [from, end) being planned
// ahead on the pool. Files the WAL summaries do not name are left to
// plan_for on the writing thread: their plan is a stat, and handing ~1 200
// of them to a pool thread and waiting for each put the writing thread to
// sleep 400-550 times, 31-40 ms in all, in a 1 GB cluster's incremental
// (sched_switch; 2 times, 3 ms, since). A file extended without WAL still
// gets its new blocks read there.
void IncrementalRun::top_up_window(std::size_t from, std::size_t end) {
  if (!pool_) return;
  plan_cursor_ = std::max(plan_cursor_, from);
  const auto& entries = listing_.entries;
  while (ahead_.size() < window_ && plan_cursor_ < end) {
    const std::size_t next = plan_cursor_++;
    const BackupEntry& e = entries[next];
    if (e.kind == BackupPathKind::relation_file && plan_may_read(e)) {
      ahead_.emplace(next, pool_->submit([this, &e] {
        return plan_relation(
            e, parent_files_, parent_start_, req_.data_checksums, cancelled_,
            [this](std::uint64_t bytes) {
              pause_reading(throttle_.read(bytes), [this] {
                if (cancelled_) throw Error(ErrorKind::cancelled, "cancelled");
              });
            },
            static_cast<std::uint32_t>(std::max(1, req_.read_workers)), hints_);
      }));
    }
  }
}

void IncrementalRun::add_memory_file(TarStreamWriter& tar, const std::string& path,
                                     const std::string& content, std::int64_t mtime,
                                     bool in_manifest) {
  tar.add_file(path, content, 0600, mtime);
  if (in_manifest)
    manifest_->add_file({path, content.size(), mtime, "", crc32c_manifest_hex(content)});
}

void IncrementalRun::write_whole_file(TarStreamWriter& tar, const BackupEntry& entry,
                                      const FileStat& stat, bool relation) {
  const std::string path = manifest_path(entry);
  ReadFile file(entry.source);
  if (!file.exists()) return;  // vanished between stat and open
  tar.begin_file(entry.path, stat.size, stat.mode, stat.mtime);
  // CRC-32C, as full backups' manifests: it detects a corrupted restored
  // file; the stored object's SHA-256 in backup.json is the tamper evidence.
  Crc32c crc;
  const bool verify = relation && req_.data_checksums && entry.checksummed;
  ChangedPagePolicy policy;  // parent_file_blocks 0: every sane page is included
  policy.parent_start_lsn = parent_start_;
  policy.verify_checksums = verify;
  const std::uint32_t segment = relation ? entry.relation->segment : 0;
  std::vector<std::byte> buf(kReadChunk);
  std::uint64_t offset = 0;
  bool ended = false;  // the file shrank: zeroes from here
  while (offset < stat.size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), stat.size - offset));
    std::span<std::byte> chunk(buf.data(), want);
    std::size_t got = ended ? 0 : file.read_at(chunk, offset);
    if (verify) {
      // Verify whole pages; the block that cannot be read again ends the file.
      for (std::size_t at = 0; at + kPageSize <= got; at += kPageSize) {
        const auto block = static_cast<std::uint32_t>((offset + at) / kPageSize);
        const PageSelection s =
            select_page(chunk.subspan(at, kPageSize), path, segment, block, policy,
                        [&](std::span<std::byte> again) { return read_block(file, block, again); });
        if (s.decision == PageDecision::corrupt) fail_corrupt(s);
        if (s.decision == PageDecision::vanished) {
          got = at;
          break;
        }
      }
    }
    if (got < want) {
      ended = true;
      std::fill(chunk.begin() + static_cast<std::ptrdiff_t>(got), chunk.end(), std::byte{0});
    }
    crc.update(chunk);
    tar.write_data(chunk);
    paced_on_writer(got);
    offset += want;
    progress_.done += want;
    since_interrupt_check_ += want;
    if (since_interrupt_check_ >= kInterruptEvery) {
      interrupts();
      report("reading");
    }
  }
  tar.end_file();
  manifest_->add_file({path, stat.size, stat.mtime, "", crc.manifest_hex()});
  if (relation) identities_.push_back({path, stat.size, stat.identity});
}

void IncrementalRun::write_changed_pages(TarStreamWriter& tar, const BackupEntry& entry,
                                         const RelationPlan& plan) {
  const std::string path = manifest_path(entry);
  const auto count = static_cast<std::uint32_t>(plan.blocks.size());
  std::optional<ReadFile> file;
  if (count > 0) file.emplace(entry.source);
  tar.begin_file(incremental_entry_path(entry.path), IncrementalFileWriter::encoded_size(count),
                 plan.stat.mode, plan.stat.mtime);
  TarDataSink data(tar);
  IncrementalFileWriter writer(data, {false, plan.file_blocks, count}, plan.blocks);
  // Second pass: parent_file_blocks 0 includes every sane page; verification
  // and re-reads as in the first pass.
  ChangedPagePolicy policy;
  policy.parent_start_lsn = parent_start_;
  policy.verify_checksums = req_.data_checksums && entry.checksummed;
  std::vector<std::byte> page(kPageSize);
  for (std::uint32_t block : plan.blocks) {
    const bool there = file->exists() && read_block(*file, block, page);
    PageSelection s;
    if (there) {
      s = select_page(page, path, entry.relation->segment, block, policy,
                      [&](std::span<std::byte> again) { return read_block(*file, block, again); });
      if (s.decision == PageDecision::corrupt) fail_corrupt(s);
    }
    // Truncated since the first pass: WAL replay truncates it again.
    if (!there || s.decision == PageDecision::vanished)
      std::fill(page.begin(), page.end(), std::byte{0});
    writer.write_page(block, page);
    paced_on_writer(kPageSize);
    progress_.done += kPageSize;
  }
  writer.finish();
  tar.end_file();
  const std::uint64_t size = std::uint64_t{plan.file_blocks} * kPageSize;
  manifest_->add_file({path, size, plan.stat.mtime, "", ""});
  identities_.push_back({path, size, plan.stat.identity});
  changed_blocks_.push_back({path, plan.file_blocks, plan.blocks});
}

void IncrementalRun::write_entry(TarStreamWriter& tar, std::size_t index) {
  const BackupEntry& entry = listing_.entries[index];
  switch (entry.kind) {
    case BackupPathKind::excluded:
      return;
    case BackupPathKind::directory:
    case BackupPathKind::empty_directory: {
      std::uint32_t mode = 0700;
      std::int64_t mtime = 0;
      if (!entry.source.empty()) {
        const auto st = stat_file_identity(entry.source);
        if (!st) return;  // removed since the walk
        mode = st->mode;
        mtime = st->mtime;
      }
      tar.add_directory(entry.path, mode, mtime);
      return;
    }
    case BackupPathKind::tablespace_link:
      tar.add_symlink(entry.path, entry.link_target, 0);
      return;
    case BackupPathKind::control_file:
    case BackupPathKind::other_file: {
      const auto st = stat_file_identity(entry.source);
      if (!st) return;  // vanished: not an error
      write_whole_file(tar, entry, *st, false);
      return;
    }
    case BackupPathKind::relation_file: {
      const RelationPlan plan = plan_for(index);
      if (plan.vanished) return;
      if (plan.whole) {
        write_whole_file(tar, entry, plan.stat, true);
      } else {
        progress_.done += plan.stat.size - std::uint64_t{plan.blocks.size()} * kPageSize;
        write_changed_pages(tar, entry, plan);
      }
      return;
    }
  }
}

void IncrementalRun::write_entries(TarStreamWriter& tar, std::size_t begin, std::size_t end) {
  // Ranges come in the archives' order (the tablespaces before the data
  // directory), and every plan of the last range has been taken.
  plan_cursor_ = begin;
  for (std::size_t i = begin; i < end; ++i) {
    top_up_window(i, end);
    interrupts();
    write_entry(tar, i);
    report("reading");
  }
}

BackupMeta IncrementalRun::run() {
  check_parent();
  meta_ = begin_backup(repo_, req_);
  meta_.parent = parent_.name;
  parent_start_ = parse_lsn(parent_.start_lsn);

  // The parent's manifest and file identities are read while the server
  // runs pg_backup_start's checkpoint, and the data directory is walked
  // while the summarizer finishes the summaries: each pair shares nothing,
  // and doing them one after the other cost a 0.15 s incremental 12 ms.
  report("checkpoint");
  std::string parent_note;
  BackgroundTask parent_reading([&] { parent_note = read_parent(); });
  const IncrementalSource::StartPoint start = source_.start();
  parent_reading.wait();
  if (!parent_note.empty() && cb_.log) cb_.log(parent_note);
  if (start.timeline != parent_.timeline)
    throw Error(ErrorKind::conflict,
                "the server is on timeline " + std::to_string(start.timeline) + ", backup \"" +
                    parent_.name + "\" on timeline " + std::to_string(parent_.timeline) +
                    ": an incremental backup needs a parent on its own timeline; take a full "
                    "backup");
  if (start.lsn < parent_start_)
    throw Error(ErrorKind::conflict,
                "the server's position " + format_lsn(start.lsn) +
                    " is before the start of backup \"" + parent_.name + "\" (" +
                    parent_.start_lsn +
                    "): that backup is not of this server's past; take a full backup");
  meta_.start_lsn = format_lsn(start.lsn);
  meta_.timeline = start.timeline;
  const std::filesystem::path data_directory = source_.data_directory();
  BackgroundTask walk([&] { listing_ = list_data_directory(data_directory); });
  find_wal_changes(start.lsn);
  walk.wait();
  progress_.total += listing_.file_bytes();
  for (const auto& t : listing_.tablespaces)
    meta_.tablespaces.push_back({std::to_string(t.oid), t.location.string()});

  const unsigned workers = static_cast<unsigned>(std::max(1, req_.read_workers));
  if (workers > 1) {
    pool_ = std::make_unique<PlanPool>(workers);
    window_ = 2 * workers;
  }

  manifest_chain_ = std::make_unique<EncodeChain>(
      repo_.storage(), Repository::backup_dir(req_.origin.system_identifier, req_.origin.name),
      backup_reading::kManifestObject, encode_options(false));
  manifest_ = std::make_unique<BackupManifestWriter>(manifest_chain_->input());

  // The walk: the data directory, then each tablespace, then pg_control.
  // Written as BASE_BACKUP does: tablespaces first, the data directory last
  // with pg_control at its very end.
  const auto& entries = listing_.entries;
  std::size_t base_end = 0;
  while (base_end < entries.size() && entries[base_end].tablespace_oid == 0 &&
         entries[base_end].kind != BackupPathKind::control_file)
    ++base_end;
  std::size_t i = base_end;
  // One archive per tablespace, even an empty one (as BASE_BACKUP sends).
  for (const Tablespace& space : listing_.tablespaces) {
    std::size_t j = i;
    while (j < entries.size() && entries[j].tablespace_oid == space.oid &&
           entries[j].kind != BackupPathKind::control_file)
      ++j;
    Archive archive = open_archive(std::to_string(space.oid) + ".tar");
    write_entries(*archive.tar, i, j);
    close_archive(archive);
    i = j;
  }
  if (i < entries.size() && entries[i].kind != BackupPathKind::control_file)
    throw Error(ErrorKind::internal, "the walk of the data directory lists \"" + entries[i].path +
                                         "\" outside its tablespaces' order");
  const std::size_t control = i;

  Archive base = open_archive("base.tar");
  write_entries(*base.tar, 0, base_end);
  if (control < entries.size()) write_entries(*base.tar, control, control + 1);
  pool_.reset();

  report("finishing");
  const IncrementalSource::StopPoint stop = source_.stop();
  meta_.stop_lsn = format_lsn(stop.lsn);
  const std::int64_t now = unix_now();
  add_memory_file(*base.tar, "backup_label", stop.backup_label, now, true);
  if (!stop.tablespace_map.empty())
    add_memory_file(*base.tar, "tablespace_map", stop.tablespace_map, now, true);
  for (const fs::path& wal : source_.wal_files(start.lsn, stop.lsn)) {
    const auto st = stat_file_identity(wal);
    if (!st)
      throw Error(ErrorKind::not_found, "WAL file \"" + wal.string() +
                                            "\" the backup needs is gone (removed or "
                                            "recycled before it was read)");
    ReadFile file(wal);
    std::vector<std::byte> buf(kReadChunk);
    base.tar->begin_file("pg_wal/" + wal.filename().string(), st->size, 0600, st->mtime);
    std::uint64_t offset = 0;
    while (offset < st->size) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), st->size - offset));
      if (file.read_at(std::span<std::byte>(buf.data(), want), offset) != want)
        throw Error(ErrorKind::io, "WAL file \"" + wal.string() + "\" shrank while it was read");
      base.tar->write_data(std::span<const std::byte>(buf.data(), want));
      offset += want;
    }
    base.tar->end_file();
    base.tar->add_file("pg_wal/archive_status/" + wal.filename().string() + ".done", "", 0600,
                       st->mtime);
    interrupts();
  }
  close_archive(base);

  manifest_->finish({{start.timeline, start.lsn, stop.lsn}});
  meta_.source_bytes = manifest_->total_size();
  committed_.push_back(manifest_chain_->finish());
  manifest_chain_.reset();

  const std::string directory =
      Repository::backup_dir(req_.origin.system_identifier, req_.origin.name);
  committed_.push_back(
      store_file_identity(repo_.storage(), directory, std::move(identities_), req_.encryption_key));
  committed_.push_back(store_changed_blocks(repo_.storage(), directory, std::move(changed_blocks_),
                                            req_.encryption_key));

  meta_.objects = committed_;
  for (const auto& o : meta_.objects) meta_.stored_bytes += o.size;
  check_stored_size(req_, meta_.stored_bytes);
  meta_.completed_at = utc_timestamp_now();
  repo_.write_meta(meta_);  // last: from here on the backup is restorable
  return meta_;
}

void IncrementalRun::abandon() noexcept {
  cancelled_ = true;
  pool_.reset();
  ahead_.clear();
  manifest_.reset();
  manifest_chain_.reset();  // aborts the manifest
  for (const auto& o : committed_) {
    try {
      repo_.storage().remove(
          Repository::object_path(req_.origin.system_identifier, req_.origin.name, o.name));
    } catch (...) {
      // Best effort: objects without backup.json are never listed, and the
      // next cleanup removes them.
    }
  }
  committed_.clear();
}

}  // namespace

BackupMeta run_incremental_backup(Repository& repo, const BackupRequest& req,
                                  const BackupMeta& parent,
                                  const DecryptorFactory& parent_decryptor,
                                  IncrementalSource& source,
                                  const IncrementalCallbacks& callbacks) {
  IncrementalRun run(repo, req, parent, parent_decryptor, source, callbacks);
  try {
    return run.run();
  } catch (...) {
    run.abandon();
    throw;
  }
}

}  // namespace pgvault
