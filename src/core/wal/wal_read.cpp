// Reading archived WAL objects back (include/pgvault/wal/wal_read.hpp).
#include "pgvault/wal/wal_read.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <memory>
#include <vector>

namespace pgvault {

namespace {

constexpr std::size_t kChunkSize = 256 * 1024;
constexpr std::uint64_t kMaxHistoryBytes = 1 << 20;

// Hashes and counts what passes, then hands it on.
class HashingSink final : public Sink {
 public:
  explicit HashingSink(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override {
    hash_.update(data);
    bytes_ += data.size();
    next_.write(data);
  }
  void finish() override { next_.finish(); }
  std::string hex() { return hash_.final_hex(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Sink& next_;
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
};

// Caps what a history reader accepts.
class BoundedStringSink final : public Sink {
 public:
  explicit BoundedStringSink(const std::string& key) : key_(key) {}
  void write(std::span<const std::byte> data) override {
    if (text_.str().size() + data.size() > kMaxHistoryBytes) {
      throw Error(ErrorKind::corrupt, "object " + quote_untrusted(key_) +
                                          " decodes to more than 1 MB: not a timeline history");
    }
    text_.write(data);
  }
  void finish() override {}
  const std::string& str() const { return text_.str(); }

 private:
  std::string key_;
  StringSink text_;
};

// Reads the object in chunks; returns the stored size.
std::uint64_t decode_into(Storage& storage, const std::string& key, const KeyProvider& keys,
                          Sink& next) {
  auto reader = storage.open_read(key);
  std::vector<std::byte> buffer(kChunkSize);
  // The first chunk decides whether the object is encrypted: fill it as far
  // as the object goes so the header is whole.
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const std::size_t n = reader->read(std::span(buffer).subspan(filled));
    if (n == 0) break;
    filled += n;
  }
  const bool encrypted = looks_encrypted(std::span<const std::byte>(buffer.data(), filled));
  DecryptorFactory decryptor;
  if (encrypted) {
    decryptor = [&keys](const std::string&, Sink& after) { return make_decryptor(keys, after); };
  }
  backup_reading::DecodeChain chain(key, next, decryptor);
  std::uint64_t stored = filled;
  if (filled > 0) chain.input().write(std::span<const std::byte>(buffer.data(), filled));
  if (filled == buffer.size()) {
    for (;;) {
      const std::size_t n = reader->read(buffer);
      if (n == 0) break;
      stored += n;
      chain.input().write(std::span<const std::byte>(buffer.data(), n));
    }
  }
  chain.input().finish();
  return stored;
}

}  // namespace

void decode_wal_object(Storage& storage, const std::string& key, const KeyProvider& keys,
                       Sink& next) {
  decode_into(storage, key, keys, next);
}

WalHistoryReader wal_history_reader(Storage& storage, KeyProvider keys) {
  return [&storage, keys = std::move(keys)](const std::string& key) {
    BoundedStringSink text(key);
    decode_into(storage, key, keys, text);
    return text.str();
  };
}

WalCatalog read_wal_catalog(Storage& storage, const std::string& system_identifier,
                            const std::vector<BackupMeta>& backups, KeyProvider keys) {
  const std::vector<ObjectInfo> listing = storage.list(wal_root(system_identifier));
  return build_wal_catalog(listing, system_identifier,
                           wal_segment_size_of(backups, system_identifier),
                           wal_history_reader(storage, std::move(keys)));
}

WalObjectCheck verify_wal_object(Storage& storage, const WalArchivedObject& object,
                                 const KeyProvider& keys, std::uint64_t wal_segment_size) {
  NullSink drop;
  HashingSink hashing(drop);
  WalObjectCheck check;
  check.stored_bytes = decode_into(storage, object.key, keys, hashing);
  check.decoded_bytes = hashing.bytes();
  const std::string name = quoted(object.file.name());
  const bool has_page_header =
      object.file.kind() == WalFileKind::segment || object.file.kind() == WalFileKind::partial;
  if (has_page_header && check.decoded_bytes != wal_segment_size) {
    throw Error(ErrorKind::corrupt, "WAL file " + name + " (object " + quote_untrusted(object.key) +
                                        ") is " + std::to_string(check.decoded_bytes) +
                                        " bytes long, not " + std::to_string(wal_segment_size) +
                                        " (wal_segment_size)");
  }
  if (!object.sha256.empty()) {
    const std::string actual = hashing.hex();
    if (actual != object.sha256) {
      throw Error(ErrorKind::corrupt, "WAL file " + name + " is damaged: object " +
                                          quote_untrusted(object.key) +
                                          " decodes to content with SHA-256 " + actual +
                                          ", its key says " + object.sha256);
    }
  }
  return check;
}

}  // namespace pgvault
