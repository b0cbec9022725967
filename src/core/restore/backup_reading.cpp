// Reading a backup back (backup_reading.hpp).
#include "pgvault/restore/backup_reading.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/threaded_sink.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/storage/storage.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <vector>

namespace pgvault {

namespace {

constexpr std::size_t kReadChunk = 1024 * 1024;

}  // namespace

namespace backup_reading {

namespace {

// Passes data on to a stage that may fail; after the first failure it drops
// everything, so the caller can still read the object to its end and learn
// whether the stored bytes themselves are damaged (the more useful message).
class FailureLatch final : public Sink {
 public:
  explicit FailureLatch(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override {
    if (error_) return;
    try {
      next_.write(data);
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  void finish() override {
    if (error_) return;
    try {
      next_.finish();
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  const std::exception_ptr& error() const { return error_; }

 private:
  Sink& next_;
  std::exception_ptr error_;
};

}  // namespace

std::string object_name(const BackupMeta& meta, const std::string& object) {
  return "object \"" + object + "\" of backup \"" + meta.name + "\"";
}

Error missing_object_error(const BackupMeta& meta, const std::string& object,
                           const std::string& detail) {
  return Error(ErrorKind::not_found,
               object_name(meta, object) + " is missing from the repository (" + detail + ")");
}

Error size_mismatch_error(const BackupMeta& meta, const std::string& object, std::uint64_t expected,
                          std::uint64_t actual) {
  return Error(ErrorKind::corrupt, object_name(meta, object) +
                                       " is corrupt: size mismatch (backup.json says " +
                                       std::to_string(expected) + " bytes, repository has " +
                                       std::to_string(actual) + ")");
}

std::uint64_t read_object(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                          Sink& sink, const ReadProgress& progress, bool decode_on_thread) {
  const std::string path = Repository::object_path(meta.system_identifier, meta.name, entry.name);
  std::optional<ThreadedSink> decoding;
  if (decode_on_thread) decoding.emplace(sink);
  FailureLatch latch(decoding ? static_cast<Sink&>(*decoding) : sink);
  DigestSink digest(latch);
  try {
    auto reader = storage.open_read(path);
    std::vector<std::byte> buf(kReadChunk);
    for (;;) {
      const std::size_t n = reader->read(buf);
      if (n == 0) break;
      digest.write(std::span<const std::byte>(buf.data(), n));
      if (progress) progress(digest.bytes());
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    throw missing_object_error(meta, entry.name, e.what());
  }
  digest.finish();
  if (digest.bytes() != entry.size)
    throw size_mismatch_error(meta, entry.name, entry.size, digest.bytes());
  if (digest.sha256() != entry.sha256) {
    throw Error(ErrorKind::corrupt, object_name(meta, entry.name) +
                                        " is corrupt: SHA-256 mismatch (backup.json says " +
                                        entry.sha256 + ", repository has " + digest.sha256() + ")");
  }
  if (latch.error()) std::rethrow_exception(latch.error());
  return digest.bytes();
}

namespace {

// Sits after the decoding stages: remembers that an error came from further
// down (tar, manifest checks), which must pass through unchanged.
class DownstreamMark final : public Sink {
 public:
  DownstreamMark(Sink& next, bool& threw) : next_(next), threw_(threw) {}
  void write(std::span<const std::byte> data) override {
    try {
      next_.write(data);
    } catch (...) {
      threw_ = true;
      throw;
    }
  }
  void finish() override {
    try {
      next_.finish();
    } catch (...) {
      threw_ = true;
      throw;
    }
  }

 private:
  Sink& next_;
  bool& threw_;
};

// Sits before the decoding stages: their own errors ("corrupt zstd data",
// a failed authentication tag) get the object's name.
class DecodeErrorContext final : public Sink {
 public:
  DecodeErrorContext(Sink& first, const bool& downstream_threw, std::string object)
      : first_(first), downstream_threw_(downstream_threw), object_(std::move(object)) {}
  void write(std::span<const std::byte> data) override {
    try {
      first_.write(data);
    } catch (const Error& e) {
      rethrow(e);
    }
  }
  void finish() override {
    try {
      first_.finish();
    } catch (const Error& e) {
      rethrow(e);
    }
  }

 private:
  [[noreturn]] void rethrow(const Error& e) const {
    if (downstream_threw_) throw;
    throw Error(e.kind(), "object \"" + object_ + "\" cannot be decoded: " + e.what());
  }
  Sink& first_;
  const bool& downstream_threw_;
  std::string object_;
};

}  // namespace

DecodeChain::DecodeChain(const std::string& object, Sink& next, const DecryptorFactory& decryptor) {
  auto mark = std::make_unique<DownstreamMark>(next, downstream_threw_);
  auto decompressor = make_decompressor(compression_from_name(object), *mark);
  Sink* first = decompressor.get();
  std::unique_ptr<Sink> decrypt;
  if (decryptor) {
    decrypt = decryptor(object, *decompressor);  // nullptr: this object is not encrypted
    if (decrypt) first = decrypt.get();
  }
  auto context = std::make_unique<DecodeErrorContext>(*first, downstream_threw_, object);
  input_ = context.get();
  stages_.push_back(std::move(context));
  if (decrypt) stages_.push_back(std::move(decrypt));
  stages_.push_back(std::move(decompressor));
  stages_.push_back(std::move(mark));
}

DecodeChain::~DecodeChain() = default;

std::vector<Archive> physical_archives(const BackupMeta& meta) {
  if (meta.find_object(kManifestObject) == nullptr) {
    throw Error(ErrorKind::corrupt, "backup \"" + meta.name +
                                        "\" has no backup_manifest object; it cannot be verified "
                                        "and is not restorable");
  }
  std::vector<Archive> archives;
  bool have_base = false;
  for (const auto& obj : meta.objects) {
    // file_identity is for the next incremental's choice of whole files
    // (physical/file_identity.hpp), changed_blocks for a chain restore's plan
    // (physical/changed_blocks.hpp): nothing a restore writes.
    if (obj.name == kManifestObject || obj.name == kFileIdentityObject ||
        obj.name == kChangedBlocksObject)
      continue;
    const Compression c = compression_from_name(obj.name);
    std::string stem = obj.name.substr(0, obj.name.size() - compression_suffix(c).size());
    if (stem.size() <= 4 || stem.compare(stem.size() - 4, 4, ".tar") != 0) {
      throw Error(ErrorKind::unsupported,
                  "backup \"" + meta.name + "\" has object \"" + obj.name +
                      "\" that is not a tar archive; a physical backup holds base.tar, "
                      "<tablespace oid>.tar (optionally .gz, .lz4 or .zst) and backup_manifest");
    }
    stem.resize(stem.size() - 4);
    Archive archive;
    archive.object = &obj;
    if (stem == "base") {
      have_base = true;
    } else if (all_digits(stem)) {
      archive.oid = stem;
    } else {
      throw Error(ErrorKind::unsupported,
                  "backup \"" + meta.name + "\" has object \"" + obj.name +
                      "\"; expected base.tar or <tablespace oid>.tar (optionally compressed)");
    }
    archives.push_back(std::move(archive));
  }
  if (!have_base) {
    throw Error(ErrorKind::corrupt, "backup \"" + meta.name +
                                        "\" has no base.tar object; backup.json lists no data "
                                        "directory archive to restore");
  }
  // base first: restore creates pg_tblspc/ from it, where the tablespace links go.
  std::stable_sort(archives.begin(), archives.end(), [](const Archive& a, const Archive& b) {
    return a.oid.empty() && !b.oid.empty();
  });
  return archives;
}

std::string read_manifest_text(Storage& storage, const BackupMeta& meta,
                               const DecryptorFactory& decryptor, const ReadProgress& progress) {
  const ObjectEntry* entry = meta.find_object(kManifestObject);
  if (entry == nullptr) {
    throw Error(ErrorKind::corrupt, "backup \"" + meta.name + "\" has no backup_manifest object");
  }
  StringSink text;
  DecodeChain decode(entry->name, text, decryptor);
  read_object(storage, meta, *entry, decode.input(), progress);
  return text.str();
}

std::function<void(const ExtractedFile&)> manifest_file_check(ManifestChecker& checker,
                                                              const Archive& archive) {
  return [&checker, name = archive.object->name,
          prefix = archive.manifest_prefix()](const ExtractedFile& f) {
    if (!f.hard_link_target.empty() && f.sha256.empty()) {
      checker.check_hard_link(name, prefix + f.path, prefix + f.hard_link_target);
    } else {
      checker.check_file(name, prefix + f.path, f.size, FileSums{f.sha256, f.crc32c});
    }
  };
}

FileChecksums checksums_for(const BackupManifest& manifest) {
  return FileChecksums{manifest.uses("SHA256"), manifest.uses("CRC32C")};
}

}  // namespace backup_reading

DecryptorFactory decryptor_for(const BackupMeta& meta, const EncryptionSettings& settings) {
  if (meta.encryption == "none") return {};
  KeyProvider keys = restore_key_provider(settings);
  return [keys](const std::string&, Sink& next) { return make_decryptor(keys, next); };
}

}  // namespace pgvault
