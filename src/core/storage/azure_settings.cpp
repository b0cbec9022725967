// azure_config_from: the pgvault.azure_* settings onto the Azure Blob
// driver's configuration.
#include "pgvault/error.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "driver_settings.hpp"

#include <string>

namespace pgvault {

namespace {

using namespace storage_internal;

const DriverSettings<AzureConfig>& azure_settings() {
  static const DriverSettings<AzureConfig> driver{
      "azure",
      "an Azure",
      &AzureConfig::container,
      {text_field("azure_account", &AzureConfig::account),
       text_field("azure_endpoint", &AzureConfig::endpoint),
       text_field("azure_key", &AzureConfig::key),
       text_field("azure_sas_token", &AzureConfig::sas_token),
       size_field("azure_block_size", &AzureConfig::block_size),
       count_field("azure_blocks_in_flight", &AzureConfig::blocks_in_flight)},
  };
  return driver;
}

}  // namespace

AzureConfig azure_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings) {
  AzureConfig c = map_driver_settings(azure_settings(), url, settings);
  if (c.sas_token.starts_with('?')) c.sas_token.erase(0, 1);
  std::string label = "Azure repository " + url.label();
  if (c.account.empty())
    throw Error(ErrorKind::invalid_argument,
                label + " has no storage account: set " + env_hint("azure_account"));
  if (c.key.empty() && c.sas_token.empty())
    throw Error(ErrorKind::invalid_argument, label + " has no credentials: set " +
                                                 env_hint("azure_key") + " or " +
                                                 env_hint("azure_sas_token"));
  if (!c.key.empty() && !c.sas_token.empty())
    throw Error(ErrorKind::invalid_argument,
                label + ": set only one of pgvault.azure_key and pgvault.azure_sas_token");
  return c;
}

}  // namespace pgvault
