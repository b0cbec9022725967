#include "pgvault/backup/backup_request.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"

namespace pgvault {

std::string_view backup_kind_name(BackupKind kind) {
  switch (kind) {
    case BackupKind::physical:
      return "physical";
    case BackupKind::logical:
      return "logical";
    case BackupKind::incremental:
      return "incremental";
  }
  return "physical";
}

std::optional<BackupKind> parse_backup_kind(std::string_view name) {
  if (name == "physical") return BackupKind::physical;
  if (name == "logical") return BackupKind::logical;
  if (name == "incremental") return BackupKind::incremental;
  return std::nullopt;
}

BackupMeta begin_backup(Repository& repo, const BackupRequest& req) {
  repo.check_format();
  if (repo.backup_name_in_use(req.origin.system_identifier, req.origin.name)) {
    throw Error(ErrorKind::already_exists,
                "backup name \"" + req.origin.name + "\" is already used in repository " +
                    repo.storage().url() + " by a backup of system " +
                    req.origin.system_identifier +
                    " that this server did not record (another server of the same system, "
                    "such as a restored copy, wrote it); nothing was written and that backup "
                    "is left as it is. Take the backup again: a name not in use is chosen");
  }
  BackupMeta meta = begin_backup_meta(req.origin, std::string(backup_kind_name(req.kind)));
  const Compression c = req.compression.algorithm;
  meta.compression = std::string(compression_name(c));
  meta.compression_level = effective_compression_level(c, req.compression.level);
  meta.compressed_by =
      c == Compression::none ? "none" : (req.kind == BackupKind::physical ? "server" : "client");
  if (req.kind == BackupKind::logical) meta.logical = req.logical;
  record_encryption(meta, req.encryption_key);
  return meta;
}

void check_stored_size(const BackupRequest& req, std::uint64_t stored_bytes) {
  if (req.max_stored_bytes == 0 || stored_bytes <= req.max_stored_bytes) return;
  // Exact figures when the rounded ones would read the same ("1.0 MB: 1.0 MB").
  std::string limit = human_size(req.max_stored_bytes);
  std::string stored = human_size(stored_bytes);
  if (limit == stored) {
    limit = std::to_string(req.max_stored_bytes) + " bytes";
    stored = std::to_string(stored_bytes) + " bytes";
  }
  throw Error(ErrorKind::limit_exceeded,
              std::string(backup_kind_name(req.kind)) + " backup \"" + req.origin.name +
                  "\" stopped: it stores more than pgvault.max_backup_size (" + limit +
                  "): " + stored +
                  " written so far; nothing of it is kept and no earlier backup was removed. "
                  "If the database has grown, raise pgvault.max_backup_size (0 = no limit); "
                  "otherwise look at what grew");
}

}  // namespace pgvault
