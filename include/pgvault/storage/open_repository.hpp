// The one way to open a repository from settings. The server opens it with
// its GUCs (src/pg/storage_settings.cpp), the CLI with --repo, --config and
// the environment (src/cli/repository_options.cpp); both are thin adapters
// that gather the settings and call this.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"

#include <memory>
#include <string_view>

namespace pgvault {

enum class RepositoryRoot {
  // Writers: the first write creates the directory, bucket or container.
  may_be_missing,
  // Readers: a missing directory, bucket or container lists as empty, just
  // like an empty repository, so a mistyped URL would look like one. Opening
  // asks the store (one request) and throws Error(not_found) naming what is
  // missing.
  must_exist,
};

// Opens the repository at url (file://, s3://, azure://, gs://) with these
// settings: file:// needs none; s3://, azure:// and gs:// map them onto the
// driver's configuration (s3_config_from, azure_config_from,
// gcs_config_from) and build the driver with CurlTransports made from
// http_options_from(settings). Call apply_environment() first when the
// environment should count. No request is sent unless root is must_exist
// (gs:// with a service account reads its key file here). Throws
// Error(invalid_argument) for a bad URL or settings.
std::unique_ptr<Storage> open_repository(std::string_view url, const StorageSettings& settings,
                                         RepositoryRoot root = RepositoryRoot::may_be_missing);

}  // namespace pgvault
