// Checking the key before anything is changed: a restore that would fail on
// a missing or wrong key or passphrase fails before it has taken a
// pre_restore backup or created a database.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/restore/backup_reading.hpp"

namespace pgvault {

class Storage;

namespace backup_reading {

// Reads the object's encryption header (kEncryptionHeaderSize bytes) and
// hands it to a decryptor from the factory, which refuses a missing or
// wrong key there (Error(invalid_argument), naming the object). Nothing is
// checked for an unencrypted backup (an empty factory) or object. Throws
// missing_object_error when the object is missing.
void check_decryption_key(Storage& storage, const BackupMeta& meta, const ObjectEntry& entry,
                          const DecryptorFactory& decryptor);

}  // namespace backup_reading
}  // namespace pgvault
