#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/file_writer.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace pgvault {

class Sha256;

struct TarExtractOptions {
  std::string target_dir;                // must exist; every entry lands below it
  std::string archive_name = "archive";  // used in error messages, e.g. "base.tar.zst"
  // Called after each regular file has been written and closed; may throw to
  // stop the extraction (the exception propagates out of write()/finish()).
  std::function<void(const ExtractedFile&)> on_file;
  // Parse, hash and check every entry exactly as an extraction would, but
  // write nothing (target_dir is ignored): verification of a backup.
  bool scan_only = false;
  // How files are written and which checksums are computed: on the writer's
  // threads, their write-back started as they go (scan_only: hashed there,
  // not written).
  FileWriterOptions writer;
  // Called for each regular file entry (its checked path and size) before
  // its data: a Sink returned takes the entry's data (write() as it streams,
  // finish() at its end) instead of the file being written or hashed, and
  // on_file is not called for it. nullptr: the entry is handled as usual.
  // The sink belongs to the caller and must live until its finish().
  // Outside claimed_only (and scan_only) the entry's parent directories are
  // created before the call, so the caller may write beside it. The restore of an
  // incremental backup claims its INCREMENTAL.<file> entries.
  std::function<Sink*(const std::string& path, std::uint64_t size)> claim_file;
  // Only entries claim_file takes are consumed; every other entry (files,
  // directories, links) is passed over: nothing is created, hashed or
  // reported. The older backups of a chain are read this way.
  bool claimed_only = false;
};

// Terminal pipeline stage that unpacks (or, with scan_only, only reads) a tar
// stream (ustar, with GNU long names 'L'/'K' and pax 'x'/'g' headers
// understood) fed in arbitrary chunks.
// Memory stays constant: the current 512-byte header, the file writer's few
// buffers and, only for GNU/pax extension records, their (bounded) content.
// Files are written and hashed by a FileWriter thread while this one parses;
// directories, links and symlinks are made here, after the writer has caught
// up, so everything lands in archive order.
//
// Files are created 0600 and directories 0700, whatever the archive says
// (PostgreSQL refuses a data directory readable by others). Absolute paths,
// ".." components, paths through a symlink of the archive, and entry types
// other than file, directory, symlink and hard link are refused with
// Error(corrupt). The stream ends at the end-of-archive zero blocks; a stream
// that stops at an entry boundary without them is accepted (older servers did
// not send them), one that stops inside a header or a file is Error(corrupt).
class TarExtractor final : public Sink {
 public:
  explicit TarExtractor(TarExtractOptions options);
  ~TarExtractor() override;
  TarExtractor(const TarExtractor&) = delete;
  TarExtractor& operator=(const TarExtractor&) = delete;

  void write(std::span<const std::byte> data) override;
  void finish() override;

  std::uint64_t files() const { return files_; }  // regular files and links, claimed ones aside
  std::uint64_t claimed_files() const { return claimed_files_; }
  std::uint64_t bytes() const { return bytes_; }  // bytes of regular files written (or scanned)
  bool saw_end_of_archive() const { return state_ == State::end; }

 private:
  enum class State { header, file_data, meta_data, skip, end };
  enum class Meta { none, gnu_long_name, gnu_long_link, pax, pax_global };

  void process_header();
  void begin_entry(char type, std::string name, std::string link, std::uint64_t size);
  void consume_file_data(std::span<const std::byte> data);
  void finish_file();
  void finish_meta();
  void catch_up_writer();
  std::string checked_path(std::string_view raw, const char* what) const;
  std::string full_path(const std::string& rel) const;
  void ensure_parent_dirs(const std::string& rel);
  void make_dir(const std::string& rel);
  void after_data();
  [[noreturn]] void corrupt(const std::string& what) const;

  TarExtractOptions opts_;
  State state_ = State::header;
  std::array<std::byte, 512> header_{};
  std::size_t header_fill_ = 0;
  bool saw_zero_block_ = false;

  // Current entry.
  std::uint64_t remaining_ = 0;  // data bytes still to come
  std::uint64_t padding_ = 0;    // zero bytes up to the next 512-byte boundary
  std::string entry_path_;
  std::uint64_t entry_size_ = 0;
  std::unique_ptr<FileWriter> writer_;
  Sink* claimed_ = nullptr;  // the current entry's data goes there

  // GNU long name / pax extension records, applied to the next entry.
  Meta meta_ = Meta::none;
  std::string meta_buf_;
  std::string next_name_;
  std::string next_link_;
  bool next_size_set_ = false;
  std::uint64_t next_size_ = 0;

  std::string last_parent_;                   // last directory known to exist
  std::unordered_set<std::string> symlinks_;  // symlinks created (few: pg_tblspc/*)

  std::uint64_t files_ = 0;
  std::uint64_t claimed_files_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace pgvault
