// The object-store settings (pgvault.s3_*, azure_*, gcs_*, storage_*) as
// GUCs, and opening the repository with them. Defined in storage_settings.cpp.
#pragma once
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <string_view>

namespace pgvault::pg {

// Defines one PGC_SIGHUP string GUC per known storage setting. Secret ones
// are superuser-only, hidden from pg_settings and SHOW ALL, and SHOW gives
// "********" once set. Also installs the log filter that keeps their values
// out of the "parameter ... changed to ..." message PostgreSQL writes on reload.
void define_storage_settings();

// The storage GUCs that are set, then the server's environment for the rest
// (AWS_*, AZURE_STORAGE_*, PGVAULT_*).
StorageSettings current_storage_settings();

// Opens a repository URL (file://, s3://, azure://, gs://) with
// current_storage_settings(): the core's open_repository, fed from the GUCs.
// Sends no request.
std::unique_ptr<Storage> open_repository(std::string_view url);

}  // namespace pgvault::pg
