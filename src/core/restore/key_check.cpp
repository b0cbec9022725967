#include "pgvault/restore/key_check.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <span>
#include <vector>

namespace pgvault::backup_reading {

void check_decryption_key(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                          const DecryptorFactory& decryptor) {
  if (!decryptor) return;
  std::vector<std::byte> head(kEncryptionHeaderSize);
  std::size_t got = 0;
  try {
    auto reader =
        storage.open_read(Repository::object_path(meta.system_identifier, meta.name, entry.name));
    while (got < head.size()) {
      const std::size_t n = reader->read(std::span<std::byte>(head).subspan(got));
      if (n == 0) break;
      got += n;
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    throw missing_object_error(meta, entry.name, e.what());
  }
  NullSink discard;
  std::unique_ptr<Sink> decrypt = decryptor(entry.name, discard);
  if (!decrypt) return;
  try {
    decrypt->write(std::span<const std::byte>(head.data(), got));
  } catch (const Error& e) {
    throw Error(e.kind(), object_name(meta, entry.name) + ": " + e.what());
  }
}

}  // namespace pgvault::backup_reading
