#include "pgvault/storage/open_repository.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/storage/repository_url.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "storage_internal.hpp"

namespace pgvault {

namespace {

std::unique_ptr<Storage> open_driver(const ParsedRepositoryUrl& parsed,
                                     const StorageSettings& settings) {
  if (parsed.scheme == "file") return storage_internal::make_file_storage(parsed.path);
  http::HttpOptions options = http_options_from(settings);
  http::TransportFactory factory = [options]() -> std::unique_ptr<http::HttpTransport> {
    return std::make_unique<http::CurlTransport>(options);
  };
  if (parsed.scheme == "s3") return make_s3_storage(s3_config_from(parsed, settings), factory);
  // Reads the service-account key file, if that is the credential.
  if (parsed.scheme == "gs") return make_gcs_storage(gcs_config_from(parsed, settings), factory);
  return make_azure_storage(azure_config_from(parsed, settings), factory);
}

}  // namespace

std::unique_ptr<Storage> open_repository(std::string_view url, const StorageSettings& settings,
                                         RepositoryRoot root) {
  const ParsedRepositoryUrl parsed = parse_repository_url(url);
  std::unique_ptr<Storage> storage = open_driver(parsed, settings);
  if (root == RepositoryRoot::must_exist && !storage->root_exists())
    throw Error(ErrorKind::not_found, "repository " + storage->url() + " does not exist (" +
                                          parsed.missing_root() +
                                          "); check the URL (the server creates a repository "
                                          "when it writes its first backup)");
  return storage;
}

}  // namespace pgvault
