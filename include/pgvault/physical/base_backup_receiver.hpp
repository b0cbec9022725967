#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

class Repository;
class EncodeChain;
class ManifestSizeSink;
class EncryptionKey;

// Consumes the CopyData messages of a PostgreSQL 15 BASE_BACKUP (the single
// "copystream" COPY OUT: 'n' new archive, 'd' data, 'p' progress, 'm'
// manifest) and streams each archive and the manifest into its own
// repository object through an EncodeChain (encrypting, hashing and
// counting; the server has compressed already). Memory is one message at a
// time; nothing is buffered.
//
// Objects of an unfinished receiver are discarded: the current writer aborts
// on destruction, and abandon() removes the objects already committed.
class BaseBackupReceiver {
 public:
  // With an encryption key every object (archives and manifest) is
  // encrypted before it is hashed and stored; the key must outlive the receiver.
  BaseBackupReceiver(Repository& repo, std::string system_identifier, std::string backup_name,
                     const EncryptionKey* encryption_key = nullptr);
  ~BaseBackupReceiver();
  BaseBackupReceiver(const BaseBackupReceiver&) = delete;
  BaseBackupReceiver& operator=(const BaseBackupReceiver&) = delete;

  // One CopyData message, type byte included. Throws Error(corrupt) on a
  // malformed message.
  void on_copy_data(std::span<const std::byte> message);
  // The COPY stream ended: commits the last object.
  void finish();
  // Removes every object this receiver wrote (failure path).
  void abandon() noexcept;

  const std::vector<ObjectEntry>& objects() const { return objects_; }
  const std::vector<TablespaceEntry>& tablespaces() const { return tablespaces_; }
  // Bytes of database files according to the manifest (0 if none was sent).
  std::uint64_t manifest_source_bytes() const { return manifest_source_bytes_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  // The server's own progress report ('p'), uncompressed bytes sent.
  std::uint64_t server_progress() const { return server_progress_; }
  bool manifest_received() const { return manifest_seen_; }

 private:
  void open_object(const std::string& object_name, bool is_manifest);
  void close_object();

  Repository& repo_;
  std::string system_identifier_;
  std::string backup_name_;
  const EncryptionKey* encryption_key_;
  std::unique_ptr<EncodeChain> chain_;  // the object being written
  // The manifest's plaintext also flows through here: sizes come from it.
  NullSink manifest_end_;
  std::unique_ptr<ManifestSizeSink> manifest_sizer_;
  std::vector<ObjectEntry> objects_;
  std::vector<TablespaceEntry> tablespaces_;
  std::uint64_t manifest_source_bytes_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t server_progress_ = 0;
  bool manifest_seen_ = false;
  bool finished_ = false;
};

}  // namespace pgvault
