#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
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

// A file's content checksums as computed while it streamed by; empty: not
// computed. Which ones are needed: BackupManifest::uses().
struct FileSums {
  std::string sha256;  // lower-case hex
  std::string crc32c;  // as backup_manifest writes it (Crc32c::manifest_hex)
};

// The sums a file of the manifest has by its own entry (for a file whose
// content is known to be the listed one, e.g. kept by a delta restore).
FileSums listed_sums(const ManifestFile& mf);

class BackupManifest {
 public:
  // Parses and checks the manifest's own "Manifest-Checksum" (SHA-256 over
  // everything before that line). Throws Error(corrupt) on mismatch.
  static BackupManifest parse(std::string_view text);

  const ManifestFile* find(std::string_view path) const;
  const std::vector<ManifestFile>& files() const { return files_; }
  // Whether some file's "Checksum-Algorithm" is algorithm (case-insensitive,
  // e.g. "SHA256", "CRC32C").
  bool uses(std::string_view algorithm) const;
  std::uint64_t total_size() const;

 private:
  std::vector<ManifestFile> files_;
  std::unordered_map<std::string, std::size_t> index_;
};

// Checks the files found in a backup's archives against its backup_manifest
// as they stream by: each file's size and checksum (SHA256 or CRC32C, the
// two algorithms pgvault's backups use; any other one is noted and only the
// size checked), that no file is unknown
// (WAL under pg_wal/ aside: the server adds it without listing it), and at
// the end that no listed file is missing. Shared by restore and verify.
// Safe to call from several threads (the file writer's and the tar parser's).
class ManifestChecker {
 public:
  using Note = std::function<void(std::string_view)>;
  // note (may be empty) hears what cannot be checked, once per kind.
  explicit ManifestChecker(const BackupManifest& manifest, Note note = {});

  // A regular file of archive (an object name, for messages) at manifest_path
  // ("pg_tblspc/<oid>/..." inside a tablespace archive). Throws Error(corrupt)
  // naming the archive and the file.
  void check_file(const std::string& archive, const std::string& manifest_path, std::uint64_t size,
                  const FileSums& sums);
  // The same, for a file whose SHA-256 only was computed.
  void check_file(const std::string& archive, const std::string& manifest_path, std::uint64_t size,
                  const std::string& sha256) {
    check_file(archive, manifest_path, size, FileSums{sha256, ""});
  }
  // A hard link whose content could not be hashed (a scan writes no files):
  // it must share its manifest entry's size and checksum with its target.
  void check_hard_link(const std::string& archive, const std::string& manifest_path,
                       const std::string& target_manifest_path);
  // Throws Error(corrupt) naming the first listed file never seen.
  void check_complete() const;

  std::uint64_t files_checked() const;

 private:
  const ManifestFile* expect_listed(const std::string& archive, const std::string& manifest_path);
  void mark_seen(const ManifestFile* mf);

  const BackupManifest& manifest_;
  Note note_;
  mutable std::mutex mutex_;  // guards what follows
  std::vector<bool> seen_;
  std::uint64_t checked_ = 0;
  bool noted_algorithm_ = false;
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
