#include "pgvault/restore/verify.hpp"

#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>

namespace pgvault {

namespace {

using backup_reading::kManifestObject;

// pg_dump's custom format starts with these bytes (pg_backup_archiver.c).
constexpr std::string_view kDumpMagic = "PGDMP";
constexpr std::string_view kDumpSuffix = ".pgdump";

// Counts the decoded bytes on their way to the next stage.
class CountingSink final : public Sink {
 public:
  explicit CountingSink(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override {
    bytes_ += data.size();
    next_.write(data);
  }
  void finish() override { next_.finish(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Sink& next_;
  std::uint64_t bytes_ = 0;
};

// Terminal stage for a pg_dump archive: it must be non-empty and start with
// the custom format's magic. Checked in finish(), so that a damaged stored
// object is reported as such rather than as a bad dump.
class DumpHeaderCheck final : public Sink {
 public:
  explicit DumpHeaderCheck(std::string what) : what_(std::move(what)) {}
  void write(std::span<const std::byte> data) override {
    const std::size_t take = std::min(kDumpMagic.size() - head_.size(), data.size());
    head_.append(reinterpret_cast<const char*>(data.data()), take);
    bytes_ += data.size();
  }
  void finish() override {
    if (bytes_ == 0) {
      throw Error(ErrorKind::corrupt, what_ + " is empty once decoded; a pg_dump archive never is");
    }
    if (head_ != kDumpMagic) {
      throw Error(ErrorKind::corrupt, what_ +
                                          " is not a pg_dump custom-format archive: it starts "
                                          "with \"" +
                                          printable(head_) + "\" instead of \"PGDMP\"");
    }
  }

 private:
  static std::string printable(std::string_view s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        out.push_back(static_cast<char>(c));
      } else {
        out += "\\x";
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
      }
    }
    return out;
  }
  std::string what_;
  std::string head_;
  std::uint64_t bytes_ = 0;
};

bool is_dump_object(const std::string& name) {
  const Compression c = compression_from_name(name);
  const std::string_view stem =
      std::string_view(name).substr(0, name.size() - compression_suffix(c).size());
  return stem.ends_with(kDumpSuffix);
}

// Name (relative to the backup's directory) -> size of every object there.
std::map<std::string, std::uint64_t> list_backup_dir(Repository& repo, const BackupMeta& meta) {
  const std::string dir = Repository::backup_dir(meta.system_identifier, meta.name);
  std::map<std::string, std::uint64_t> present;
  for (const ObjectInfo& info : repo.storage().list(dir)) {
    if (info.path.rfind(dir, 0) == 0) present.emplace(info.path.substr(dir.size()), info.size);
  }
  return present;
}

std::vector<std::string> unlisted(const BackupMeta& meta,
                                  const std::map<std::string, std::uint64_t>& present) {
  std::vector<std::string> out;  // sorted: the map is
  for (const auto& [name, size] : present) {
    (void)size;
    if (name != Repository::kMetaFile && meta.find_object(name) == nullptr) out.push_back(name);
  }
  return out;
}

// Every object backup.json lists must be in the backup's directory with the
// size it says: found from one listing, before reading gigabytes. The reads
// check again (the listing is only the store's word).
void check_listing(Repository& repo, const BackupMeta& meta, VerifyReport& report) {
  const auto present = list_backup_dir(repo, meta);
  for (const ObjectEntry& obj : meta.objects) {
    auto it = present.find(obj.name);
    if (it == present.end()) {
      throw backup_reading::missing_object_error(
          meta, obj.name,
          "no " + Repository::object_path(meta.system_identifier, meta.name, obj.name) + " in " +
              repo.storage().url());
    }
    if (it->second != obj.size) {
      throw backup_reading::size_mismatch_error(meta, obj.name, obj.size, it->second);
    }
  }
  report.extra_objects = unlisted(meta, present);
  for (const auto& name : report.extra_objects) {
    report.warnings.push_back(unlisted_object_warning(meta, name));
  }
}

// How many objects a check of the stored bytes reads at once: hashing them
// takes a core each on a file repository; on an object store each large
// object is itself read several ranges at a time (ranged_reader.hpp, 32 MiB
// each), so more would cost memory more than it saves.
constexpr std::size_t kStoredReaders = 2;
// How often the caller hears of the bytes read while other threads read.
constexpr std::chrono::milliseconds kProgressInterval{100};

// Thrown into a read that another one's failure (or the caller) stopped.
struct StoppedRead {};

class Verifier {
 public:
  Verifier(Repository& repo, const BackupMeta& meta, const VerifyOptions& opts,
           const ProgressLog& log)
      : repo_(repo), meta_(meta), opts_(opts), log_(log) {
    for (const auto& obj : meta.objects) total_ += obj.size;
    report_.backup = meta.name;
    report_.kind = meta.kind;
  }

  VerifyReport run() {
    if (opts_.depth == VerifyDepth::stored) {
      verify_stored();
    } else if (meta_.kind == "physical") {
      // Refuse an unknown layout before the listing or any read.
      const std::vector<backup_reading::Archive> archives =
          backup_reading::physical_archives(meta_);
      // What is read: the manifest and the archives (file_identity is for
      // the next incremental only).
      total_ = meta_.find_object(kManifestObject)->size;
      for (const auto& archive : archives) total_ += archive.object->size;
      list();
      verify_physical(archives);
    } else if (meta_.kind == "logical") {
      if (std::none_of(meta_.objects.begin(), meta_.objects.end(),
                       [](const ObjectEntry& o) { return is_dump_object(o.name); })) {
        throw Error(ErrorKind::corrupt, "logical backup \"" + meta_.name +
                                            "\" lists no pg_dump archive (*.pgdump) in "
                                            "backup.json");
      }
      list();
      verify_logical();
    } else if (meta_.kind == "incremental") {
      verify_chain();
    } else {
      throw Error(ErrorKind::unsupported, "backup \"" + meta_.name + "\" is of kind \"" +
                                              meta_.kind +
                                              "\", which this pgvault cannot verify (known: "
                                              "physical, incremental, logical)");
    }
    return std::move(report_);
  }

 private:
  void say(const std::string& line) const {
    if (log_) log_(line);
  }

  void list() {
    std::uint64_t listed = 0;
    for (const auto& obj : meta_.objects) listed += obj.size;
    say("checking that the " + std::to_string(meta_.objects.size()) +
        " objects of backup.json are in " + repo_.storage().url() + " (" + human_size(listed) +
        ")...");
    check_listing(repo_, meta_, report_);
  }

  // Reads one object into sink (the decoding stages and a consumer).
  void read(const ObjectEntry& obj, Sink& sink, bool decode_on_thread = false) {
    read(meta_, obj, sink, decode_on_thread);
  }
  void read(const BackupMeta& backup, const ObjectEntry& obj, Sink& sink,
            bool decode_on_thread = false) {
    const std::uint64_t before = report_.bytes_read;
    backup_reading::ReadProgress progress;
    if (opts_.on_progress) {
      progress = [&](std::uint64_t n) { opts_.on_progress(before + n, total_); };
    }
    report_.bytes_read +=
        backup_reading::read_object(repo_.storage(), backup, obj, sink, progress, decode_on_thread);
    ++report_.objects;
  }

  void verify_physical(const std::vector<backup_reading::Archive>& archives) {
    const ObjectEntry& manifest_entry = *meta_.find_object(kManifestObject);
    say("reading backup_manifest (" + human_size(manifest_entry.size) + ")...");
    std::string text;
    {
      StringSink sink;
      CountingSink counter(sink);
      backup_reading::DecodeChain decode(manifest_entry.name, counter, opts_.decryptor);
      read(manifest_entry, decode.input());
      report_.decoded_bytes += counter.bytes();
      text = sink.str();
    }
    const BackupManifest manifest = BackupManifest::parse(text);
    text.clear();
    text.shrink_to_fit();
    say("backup_manifest lists " + std::to_string(manifest.files().size()) + " files (" +
        human_size(manifest.total_size()) + ")");
    ManifestChecker checker(manifest, [&](std::string_view note) { say(std::string(note)); });

    for (const auto& archive : archives) {
      const ObjectEntry& obj = *archive.object;
      say("checking " + obj.name + " (" + human_size(obj.size) + ")...");
      TarExtractOptions xo;
      xo.scan_only = true;
      xo.archive_name = obj.name;
      xo.on_file = backup_reading::manifest_file_check(checker, archive);
      xo.writer.checksums = backup_reading::checksums_for(manifest);
      TarExtractor scanner(std::move(xo));
      CountingSink counter(scanner);
      backup_reading::DecodeChain decode(obj.name, counter, opts_.decryptor);
      // This thread reads and hashes the stored bytes; a second decodes and
      // parses the tar stream and computes the files' CRC-32C as it goes
      // (SHA-256 manifests: the scanner's own thread hashes them).
      read(obj, decode.input(), /*decode_on_thread=*/true);
      report_.decoded_bytes += counter.bytes();
      report_.files += scanner.files();
      say(obj.name + ": " + std::to_string(scanner.files()) + " files, " +
          human_size(scanner.bytes()) + " of file data, checksums match");
    }
    checker.check_complete();
    report_.manifest_files = checker.files_checked();
    say("all " + std::to_string(report_.manifest_files) +
        " files of backup_manifest found, sizes and checksums match");
  }

  // An incremental: the chain's restore in scan mode, so "verified" means
  // what restore would do, through the same code.
  void verify_chain() {
    const BackupChain chain = resolve_chain(repo_, meta_);
    say("chain: " + chain.describe());
    std::uint64_t total = 0;
    for (const BackupMeta& b : chain.backups) {
      report_.chain.push_back(b.name);
      for (const auto& obj : b.objects) total += obj.size;
      say("checking that the " + std::to_string(b.objects.size()) + " objects of backup \"" +
          b.name + "\" are in " + repo_.storage().url() + "...");
      VerifyReport listing;
      check_listing(repo_, b, listing);
      if (b.name == meta_.name) {
        report_.extra_objects = listing.extra_objects;
        report_.warnings = listing.warnings;
      }
    }
    RestoreOptions ro;
    ro.scan_only = true;
    ro.decryptor = opts_.decryptor;
    ro.decryptor_of = opts_.decryptor_of;
    if (opts_.on_progress) ro.on_read_total = [&](std::uint64_t n) { opts_.on_progress(n, total); };
    ro.on_unread = [&](std::uint64_t n) { total -= std::min(total, n); };
    const RestoreReport r = restore_physical(repo_, chain, ro, log_);
    report_.objects = r.objects;
    report_.bytes_read = r.bytes_read;
    report_.files = r.files + r.reconstructed_files;
    report_.manifest_files = r.manifest_files;
    say("all " + std::to_string(report_.manifest_files) +
        " files of backup_manifest found and matching; " + std::to_string(r.reconstructed_files) +
        " rebuilt from the chain of " + std::to_string(chain.backups.size()) + " backups");
  }

  // Every backup whose objects a restore would read (an incremental: its
  // chain, newest first), each listed, then each object read through no
  // decoding stage: read_object checks the size and SHA-256 on the way.
  void verify_stored() {
    std::vector<BackupMeta> backups;
    if (meta_.kind == "incremental") {
      BackupChain chain = resolve_chain(repo_, meta_);
      say("chain: " + chain.describe());
      backups = std::move(chain.backups);
    } else {
      backups.push_back(meta_);
    }
    total_ = 0;
    std::vector<StoredRead> reads;
    for (const BackupMeta& b : backups) {
      if (backups.size() > 1) report_.chain.push_back(b.name);
      say("checking the stored bytes of the " + std::to_string(b.objects.size()) +
          " objects of backup \"" + b.name + "\" in " + repo_.storage().url() + "...");
      VerifyReport listing;
      check_listing(repo_, b, listing);
      if (b.name == meta_.name) {
        report_.extra_objects = listing.extra_objects;
        report_.warnings = listing.warnings;
      }
      for (const ObjectEntry& obj : b.objects) {
        total_ += obj.size;
        reads.push_back(StoredRead{&b, &obj});
      }
    }
    read_stored(reads);
    say("all " + std::to_string(report_.objects) + " objects: sizes and SHA-256 match " +
        "backup.json (contents not decoded)");
  }

  struct StoredRead {
    const BackupMeta* backup;
    const ObjectEntry* object;
  };

  // Reads the objects kStoredReaders at a time, each on a thread of its own
  // (hashing the stored bytes is the work: one core each), while this thread
  // reports progress, which may throw (a backend's interrupt check must run
  // on its main thread). The first failure stops the other reads at their
  // next chunk and is rethrown once every thread is joined.
  void read_stored(const std::vector<StoredRead>& reads) {
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t next = 0, running = 0;
    std::uint64_t done_bytes = 0;                      // of the objects read whole
    std::vector<std::uint64_t> partial(reads.size());  // of those being read
    std::exception_ptr failure;
    bool stop = false;
    const auto read_some = [&] {
      std::unique_lock lock(mutex);
      for (std::size_t i; !stop && (i = next++) < reads.size();) {
        lock.unlock();
        std::exception_ptr error;
        std::uint64_t bytes = 0;
        try {
          NullSink discard;
          bytes = backup_reading::read_object(repo_.storage(), *reads[i].backup, *reads[i].object,
                                              discard, [&](std::uint64_t n) {
                                                std::lock_guard progress(mutex);
                                                if (stop) throw StoppedRead();
                                                partial[i] = n;
                                              });
        } catch (const StoppedRead&) {
        } catch (...) {
          error = std::current_exception();
        }
        lock.lock();
        partial[i] = 0;
        done_bytes += bytes;
        if (error && !failure) failure = error;
        if (error) stop = true;
        changed.notify_all();
      }
      --running;
      changed.notify_all();
    };
    {
      std::deque<BackgroundTask> readers;
      std::unique_lock lock(mutex, std::defer_lock);
      try {
        for (std::size_t t = 0; t < std::min(kStoredReaders, reads.size()); ++t) {
          lock.lock();
          ++running;
          lock.unlock();
          try {
            readers.emplace_back(read_some);
          } catch (...) {
            lock.lock();
            --running;
            throw;
          }
        }
        lock.lock();
        for (;;) {
          const bool finished = running == 0;
          std::uint64_t read = done_bytes;
          for (std::uint64_t n : partial) read += n;
          if (opts_.on_progress && !failure) {
            lock.unlock();
            opts_.on_progress(read, total_);
            lock.lock();
          }
          if (finished) break;
          changed.wait_for(lock, kProgressInterval, [&] { return running == 0; });
        }
      } catch (...) {
        if (!lock.owns_lock()) lock.lock();
        stop = true;
        lock.unlock();
        throw;  // the readers' destructors join them
      }
    }
    if (failure) std::rethrow_exception(failure);
    report_.objects += reads.size();
    report_.bytes_read += done_bytes;
  }

  void verify_logical() {
    for (const ObjectEntry& obj : meta_.objects) {
      say("checking " + obj.name + " (" + human_size(obj.size) + ")...");
      NullSink discard;
      DumpHeaderCheck dump(backup_reading::object_name(meta_, obj.name));
      Sink& consumer = is_dump_object(obj.name) ? static_cast<Sink&>(dump) : discard;
      CountingSink counter(consumer);
      backup_reading::DecodeChain decode(obj.name, counter, opts_.decryptor);
      read(obj, decode.input());
      report_.decoded_bytes += counter.bytes();
      say(obj.name + ": " + human_size(counter.bytes()) + " decoded" +
          (is_dump_object(obj.name) ? ", a pg_dump custom-format archive" : ""));
    }
  }

  Repository& repo_;
  const BackupMeta& meta_;
  const VerifyOptions& opts_;
  const ProgressLog& log_;
  std::uint64_t total_ = 0;
  VerifyReport report_;
};

}  // namespace

const char* verify_depth_name(VerifyDepth depth) {
  return depth == VerifyDepth::stored ? "stored" : "decoded";
}

VerifyDepth parse_verify_depth(std::string_view name) {
  for (VerifyDepth d : {VerifyDepth::decoded, VerifyDepth::stored}) {
    if (name == verify_depth_name(d)) return d;
  }
  throw Error(ErrorKind::invalid_argument,
              "invalid verification depth \"" + quote_untrusted(name) +
                  "\" (allowed: decoded, which reads everything a restore reads and checks every "
                  "file; stored, which checks the size and SHA-256 of every stored object)");
}

VerifyReport verify_backup(Repository& repo, const BackupMeta& meta, const VerifyOptions& opts,
                           const ProgressLog& log) {
  return Verifier(repo, meta, opts, log).run();
}

std::vector<std::string> unlisted_objects(Repository& repo, const BackupMeta& meta) {
  return unlisted(meta, list_backup_dir(repo, meta));
}

std::string unlisted_object_warning(const BackupMeta& meta, const std::string& object) {
  return "object \"" + object + "\" in the directory of backup \"" + meta.name +
         "\" is not listed in backup.json; it was not checked and nothing restores it";
}

}  // namespace pgvault
