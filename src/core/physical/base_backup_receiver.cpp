#include "pgvault/physical/base_backup_receiver.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/storage/storage.hpp"

#include <cstring>

namespace pgvault {
namespace {

// Reads a NUL-terminated string from msg at pos, advancing pos.
std::string read_cstring(std::span<const std::byte> msg, std::size_t& pos) {
  const char* start = reinterpret_cast<const char*>(msg.data()) + pos;
  const std::size_t left = msg.size() - pos;
  const void* nul = std::memchr(start, '\0', left);
  if (nul == nullptr) {
    throw Error(ErrorKind::corrupt, "malformed BASE_BACKUP message: unterminated string");
  }
  std::string s(start, static_cast<const char*>(nul));
  pos += s.size() + 1;
  return s;
}

// An archive name from the server is "base.tar[.ext]" or "<oid>.tar[.ext]";
// it becomes an object name, so it must be a plain file name.
void check_archive_name(const std::string& name) {
  const bool plain = !name.empty() && name.find('/') == std::string::npos && name != "." &&
                     name != ".." && name != "backup.json" && name != "backup_manifest";
  if (!plain) {
    throw Error(ErrorKind::corrupt, "server sent an unexpected archive name \"" + name + "\"");
  }
}

}  // namespace

BaseBackupReceiver::BaseBackupReceiver(Repository& repo, std::string system_identifier,
                                       std::string backup_name, const EncryptionKey* encryption_key)
    : repo_(repo),
      system_identifier_(std::move(system_identifier)),
      backup_name_(std::move(backup_name)),
      encryption_key_(encryption_key) {}

BaseBackupReceiver::~BaseBackupReceiver() = default;

void BaseBackupReceiver::on_copy_data(std::span<const std::byte> msg) {
  if (msg.empty()) throw Error(ErrorKind::corrupt, "empty CopyData message in BASE_BACKUP stream");
  const char type = static_cast<char>(msg[0]);
  std::size_t pos = 1;
  switch (type) {
    case 'n': {
      std::string archive = read_cstring(msg, pos);
      std::string location = read_cstring(msg, pos);
      check_archive_name(archive);
      if (manifest_seen_) {
        throw Error(ErrorKind::corrupt,
                    "server sent archive \"" + archive + "\" after the manifest");
      }
      if (!location.empty()) {
        // "<oid>.tar..." belongs to the tablespace at location.
        tablespaces_.push_back({archive.substr(0, archive.find('.')), location});
      }
      open_object(archive, false);
      break;
    }
    case 'm':
      if (manifest_seen_) throw Error(ErrorKind::corrupt, "server sent the manifest twice");
      manifest_seen_ = true;
      open_object("backup_manifest", true);
      break;
    case 'd': {
      if (!chain_) throw Error(ErrorKind::corrupt, "BASE_BACKUP data arrived before any archive");
      auto payload = msg.subspan(1);
      bytes_received_ += payload.size();
      chain_->input().write(payload);
      if (manifest_sizer_) manifest_sizer_->write(payload);
      break;
    }
    case 'p': {
      if (msg.size() < 9) throw Error(ErrorKind::corrupt, "malformed BASE_BACKUP progress message");
      std::uint64_t v = 0;
      for (std::size_t i = 1; i < 9; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(msg[i]);
      server_progress_ = v;
      break;
    }
    default:
      throw Error(ErrorKind::corrupt,
                  std::string("unexpected BASE_BACKUP message type '") + type + "'");
  }
}

void BaseBackupReceiver::open_object(const std::string& object_name, bool is_manifest) {
  close_object();
  // The server compressed already: the archive's name carries its suffix.
  EncodeOptions options;
  options.encryption_key = encryption_key_;
  chain_ = std::make_unique<EncodeChain>(repo_.storage(),
                                         Repository::backup_dir(system_identifier_, backup_name_),
                                         object_name, options);
  if (is_manifest) manifest_sizer_ = std::make_unique<ManifestSizeSink>(manifest_end_);
}

void BaseBackupReceiver::close_object() {
  if (!chain_) return;
  objects_.push_back(chain_->finish());
  if (manifest_sizer_) {
    manifest_sizer_->finish();
    manifest_source_bytes_ = manifest_sizer_->total_size();
  }
  manifest_sizer_.reset();
  chain_.reset();
}

void BaseBackupReceiver::finish() {
  close_object();
  finished_ = true;
  if (objects_.empty()) throw Error(ErrorKind::corrupt, "BASE_BACKUP sent no archive");
}

void BaseBackupReceiver::abandon() noexcept {
  manifest_sizer_.reset();
  chain_.reset();  // aborts the object being written
  for (const auto& o : objects_) {
    try {
      repo_.storage().remove(Repository::object_path(system_identifier_, backup_name_, o.name));
    } catch (...) {
      // Best effort: leftovers without backup.json are never listed and are
      // removed by the next cleanup.
    }
  }
  objects_.clear();
}

}  // namespace pgvault
