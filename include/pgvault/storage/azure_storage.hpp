#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"
#include "pgvault/storage/repository_url.hpp"
#include "pgvault/storage/settings.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace pgvault {

class Storage;

// azure://container/prefix, Azure Blob Storage or Azurite.
struct AzureConfig {
  std::string account;
  std::string container;
  std::string prefix;     // no leading/trailing '/'; may be empty
  std::string endpoint;   // "https://<account>.blob.core.windows.net" by default; Azurite:
                          // "http://127.0.0.1:10000/devstoreaccount1" (path includes the account)
  std::string key;        // base64 account key (SharedKey), or empty when sas_token is set
  std::string sas_token;  // without leading '?'
  std::uint64_t block_size = 8ull << 20;        // grows so 50,000 blocks reach the largest object
  int blocks_in_flight = 3;                     // memory: (in flight + 1) x block size
  std::uint64_t single_put_limit = 8ull << 20;  // objects up to this size: one Put Blob
};

std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config,
                                            http::TransportFactory transports);
// Same, with the retry policy every request goes through (tests inject one
// that does not sleep).
std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config,
                                            http::TransportFactory transports,
                                            const http::RetryPolicy& retry);

// The pgvault.azure_* settings of an azure:// repository
// (azure_settings.cpp); errors as s3_config_from's. An account and exactly
// one of the key and the SAS token are required; a SAS token's leading '?'
// is dropped.
AzureConfig azure_config_from(const ParsedRepositoryUrl& url, const StorageSettings& settings);

// Azure Blob limits and the block-size schedule of the block uploader.
inline constexpr std::uint64_t kAzureMaxBlocks = 50000;
inline constexpr std::uint64_t kAzureMaxBlockSize = 4000ull << 20;  // 4000 MiB
inline constexpr std::uint64_t kAzureBlocksPerDoubling = 5000;
// Size of block `index` (0-based) of an upload whose first block is `first`:
//   min(first * 2^floor(index / 5000), 4000 MiB)
// Ten doublings fit in 50,000 blocks, so from the default 8 MiB the sizes go
// 8, 16, ..., 2048 MiB, then 4000 MiB, and the 50,000 blocks hold
// 5000 * (8 + 16 + ... + 2048 + 4000) MiB = about 38.5 TiB, while an object
// below 39 GiB keeps 8 MiB blocks (memory stays flat for ordinary sizes).
std::uint64_t azure_block_size(std::uint64_t first, std::uint64_t index);
// The largest object azure_block_size() can upload in kAzureMaxBlocks blocks.
std::uint64_t azure_max_object_size(std::uint64_t first);

}  // namespace pgvault
