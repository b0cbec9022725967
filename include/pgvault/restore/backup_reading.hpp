// Reading a backup back: the steps that the physical restore, verify, `pgvault
// get` and the SQL logical restore share. Each stored object is read once,
// counted and hashed against backup.json, and decoded (decrypted, then
// decompressed) into whatever consumes it.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

class Storage;
class Sink;
class ManifestChecker;
class BackupManifest;
struct ExtractedFile;
struct FileChecksums;

// Makes the stage that decrypts an object's stored bytes into `next`, for an
// object (its name in backup.json) of an encrypted backup. Empty: objects are
// stored unencrypted. The hook where the encryption stage plugs into restore
// and verify alike.
using DecryptorFactory =
    std::function<std::unique_ptr<Sink>(const std::string& object, Sink& next)>;

// The decryptor for a backup: none when backup.json says it is not
// encrypted; otherwise one built from the settings — which, when they hold
// no key, fails with a message saying the backup is encrypted and which
// setting to give (pgvault.encryption_key_file / _passphrase).
DecryptorFactory decryptor_for(const BackupMeta& meta, const EncryptionSettings& settings);

// Where restore and verify report what they are doing, one line at a time.
using ProgressLog = std::function<void(std::string_view)>;

namespace backup_reading {

inline constexpr const char* kManifestObject = "backup_manifest";

// Called with the stored bytes read so far after every chunk of an object;
// may throw (e.g. Error(cancelled)) to stop reading.
using ReadProgress = std::function<void(std::uint64_t bytes_read)>;

// Streams one stored object of the backup through sink, counting and hashing
// the stored bytes on the way, and returns their number. Throws
// Error(not_found) "object X of backup Y is missing ..." and Error(corrupt)
// "object X of backup Y is corrupt: size mismatch / SHA-256 mismatch ...". A
// mismatch of the stored bytes wins over any error raised downstream
// (decryption, decompression, tar, manifest checks): the object is read to
// its end either way.
// With decode_on_thread, sink (and everything after it) runs on a second
// thread (pipeline/threaded_sink.hpp) while this one reads and hashes the
// stored bytes: for sinks that never call into PostgreSQL (restore and
// verify of physical backups). Errors are the same either way.
std::uint64_t read_object(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                          Sink& sink, const ReadProgress& progress = {},
                          bool decode_on_thread = false);

// "object \"base.tar.zst\" of backup \"NAME\"", how every message names an object.
std::string object_name(const BackupMeta& meta, const std::string& object);
// The errors read_object throws, for checks that find the same problems
// another way (verify compares a listing first).
Error missing_object_error(const BackupMeta& meta, const std::string& object,
                           const std::string& detail);
Error size_mismatch_error(const BackupMeta& meta, const std::string& object, std::uint64_t expected,
                          std::uint64_t actual);

// The stages that turn an object's stored bytes back into the stream that was
// backed up: decryption (when a factory is given), then decompression chosen
// by the name's suffix (.zst, .lz4, .gz), into next. Errors raised by these
// stages name the object; errors raised by next pass through unchanged.
class DecodeChain {
 public:
  DecodeChain(const std::string& object, Sink& next, const DecryptorFactory& decryptor);
  ~DecodeChain();
  DecodeChain(const DecodeChain&) = delete;
  DecodeChain& operator=(const DecodeChain&) = delete;
  Sink& input() { return *input_; }

 private:
  std::vector<std::unique_ptr<Sink>> stages_;  // input first
  Sink* input_ = nullptr;
  bool downstream_threw_ = false;  // set when next (not a decoding stage) failed
};

// One tar archive of a physical backup.
struct Archive {
  const ObjectEntry* object = nullptr;
  std::string oid;  // tablespace oid; empty for base.tar
  // Where its files appear in backup_manifest: "" or "pg_tblspc/<oid>/".
  std::string manifest_prefix() const { return oid.empty() ? "" : "pg_tblspc/" + oid + "/"; }
};

// The archives of a physical backup's backup.json, base.tar first. Throws
// Error(corrupt) when base.tar or backup_manifest is missing and
// Error(unsupported) for any other object that is not <oid>.tar[.suffix]
// (file_identity aside: it is read by the next incremental only).
std::vector<Archive> physical_archives(const BackupMeta& meta);

// The decoded text of backup_manifest, as the server sent it; its stored
// bytes are checked against backup.json (BackupManifest::parse then checks
// its own Manifest-Checksum). The manifest is small: held in memory.
std::string read_manifest_text(Storage& storage, const BackupMeta& meta,
                               const DecryptorFactory& decryptor,
                               const ReadProgress& progress = {});

// The on_file callback of a TarExtractor that checks each file of archive
// against the manifest.
std::function<void(const ExtractedFile&)> manifest_file_check(ManifestChecker& checker,
                                                              const Archive& archive);

// The checksums restore and verify compute of each file: those of the
// algorithms backup_manifest uses (SHA256 and/or CRC32C), no more.
FileChecksums checksums_for(const BackupManifest& manifest);

}  // namespace backup_reading

}  // namespace pgvault
