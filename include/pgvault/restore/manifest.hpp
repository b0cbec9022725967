#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgvault {

// PostgreSQL's backup_manifest (version 1), as sent by BASE_BACKUP.
struct ManifestFile {
  std::string path;  // relative to the data directory ("pg_tblspc/16385/..." for tablespaces)
  std::uint64_t size = 0;
  std::string checksum_algorithm;  // "SHA256", "CRC32C", "NONE", ...
  std::string checksum;            // hex
};

class BackupManifest {
 public:
  // Parses and checks the manifest's own "Manifest-Checksum" (SHA-256 over
  // everything before that line). Throws Error(corrupt) on mismatch.
  static BackupManifest parse(std::string_view text);

  const ManifestFile* find(std::string_view path) const;
  const std::vector<ManifestFile>& files() const { return files_; }
  std::uint64_t total_size() const;

 private:
  std::vector<ManifestFile> files_;
  std::unordered_map<std::string, std::size_t> index_;
};

// Pass-through stage that sums the "Size" of every file of a manifest as it
// streams by (PostgreSQL writes one file per line), so the job worker learns
// the backup's source size without holding the manifest in memory.
class ManifestSizeSink final : public Sink {
 public:
  explicit ManifestSizeSink(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override;
  void finish() override;
  std::uint64_t total_size() const { return total_; }
  std::uint64_t file_count() const { return files_; }

 private:
  void scan_line(std::string_view line);
  Sink& next_;
  std::string partial_line_;
  std::uint64_t total_ = 0;
  std::uint64_t files_ = 0;
};

}  // namespace pgvault
