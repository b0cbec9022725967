// The stages that turn a stream into one stored repository object: the
// mirror of backup_reading::DecodeChain (restore/backup_reading.hpp). Every writer
// of backup data uses it: a logical backup's dump, each archive and the
// manifest of a physical backup, and one WAL segment per call of the archiver.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace pgvault {

class EncryptionKey;
class ObjectWriter;
class Storage;

// What happens to the bytes on pgvault's side. A stream that arrives already
// compressed (BASE_BACKUP with server-side compression) is encoded with
// compression none: its name carries the server's suffix already, and
// backup.json says who compressed it.
struct EncodeOptions {
  Compression compression = Compression::none;
  int compression_level = 0;    // 0 = the algorithm's default
  int compression_workers = 0;  // zstd: libzstd threads (make_compressor); 0 = this thread
  const EncryptionKey* encryption_key = nullptr;  // set: encrypted after compression
};

// input() → compressor → encryptor → SHA-256 and byte count → the object.
// finish() commits the object and returns what backup.json records for it.
// A chain destroyed before finish() succeeded aborts its object: nothing
// becomes visible in the store. The key must outlive the chain.
class EncodeChain {
 public:
  // Opens the object directory + name, where name is stem + the suffix of
  // options.compression ("dump.pgdump" → "dump.pgdump.zst"). directory is a
  // store prefix ending in '/' (Repository::backup_dir) or empty.
  EncodeChain(Storage& storage, const std::string& directory, const std::string& stem,
              const EncodeOptions& options);
  ~EncodeChain();
  EncodeChain(const EncodeChain&) = delete;
  EncodeChain& operator=(const EncodeChain&) = delete;

  // Where the stream goes in. Not to be finished directly: call finish().
  Sink& input() { return *input_; }
  // Flushes every stage and commits the object. Throws what a stage or the
  // store throws; the object is then aborted when the chain is destroyed.
  ObjectEntry finish();

  // The object's name in its directory, as backup.json records it.
  const std::string& name() const { return name_; }
  // Its full path in the store.
  const std::string& path() const { return path_; }
  // Bytes written to the store so far (all of them after finish()).
  std::uint64_t stored_bytes() const { return digest_.bytes(); }

 private:
  std::string name_;
  std::string path_;
  // Declared sink-last: destroyed input-first, the writer (which aborts an
  // uncommitted object) last.
  std::unique_ptr<ObjectWriter> writer_;
  ObjectSink object_;
  DigestSink digest_;
  std::unique_ptr<Sink> encryptor_;
  std::unique_ptr<Sink> compressor_;
  Sink* input_ = nullptr;
  bool finished_ = false;
};

}  // namespace pgvault
