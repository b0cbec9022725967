// Encryption at rest, the whole stage: include this, or only the part needed.
//   encryption_key.hpp       keys, key files, passphrase derivation (scrypt)
//   encrypted_object.hpp     the object format, the sealing and opening streams
//   encryption_settings.hpp  pgvault.encryption_key_file / _passphrase
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/encryption_key.hpp"
#include "pgvault/pipeline/encryption_settings.hpp"
