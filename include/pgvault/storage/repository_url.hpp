// Repository URLs: file:///absolute/path (or an absolute path),
// s3://bucket[/prefix], azure://container[/prefix] and gs://bucket[/prefix],
// with each store's naming rules for buckets and containers.
#pragma once
#include "pgvault/pg_free.hpp"

#include <string>
#include <string_view>

namespace pgvault {

struct ParsedRepositoryUrl {
  std::string scheme;     // "file", "s3", "azure" or "gs"
  std::string container;  // bucket or container; empty for file
  std::string prefix;     // object prefix, no leading/trailing '/'; may be empty
  std::string path;       // file: the normalized absolute directory; else empty

  // "s3://bucket/prefix" (for messages; file: "file:///path").
  std::string label() const;
  // What is missing when the repository's root does not exist:
  // "no directory /x", "no bucket \"b\"" or "no container \"c\"".
  std::string missing_root() const;
};

// Accepts the forms above, checking the store's naming rules. Throws
// Error(invalid_argument) saying what is wrong and what is allowed (never
// echoing credentials put in the URL).
ParsedRepositoryUrl parse_repository_url(std::string_view url);

// parse_repository_url() for its checks only (pgvault.repository's check hook).
void validate_repository_url(std::string_view url);

// The server's default repository: the directory "pgvault" beside the data
// directory (file://<parent of data_directory>/pgvault).
std::string default_repository_url(std::string_view data_directory);

}  // namespace pgvault
