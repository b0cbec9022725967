// A streaming tar writer: the archives of an incremental backup (base.tar,
// <oid>.tar), written entry by entry into a Sink (an EncodeChain's input).
//
// Format: POSIX ustar ("ustar\0" "00"), 512-byte headers, data padded to 512
// bytes, two zero blocks at the end (what PostgreSQL's BASE_BACKUP sends and
// restore/tar_extract.hpp reads). A pax extended header ('x', records
// "path=", "linkpath=", "size=") precedes an entry whose path or link target
// is longer than 100 bytes or whose size is 8 GiB or more; the ustar header
// then holds the path's first 100 bytes and the size in GNU base-256, so
// readers without pax still find the data's length. uid and gid are 0 and
// uname/gname empty: restore creates files 0600 and directories 0700 for the
// server's own user whatever the archive says. Mode is the permission bits
// given (07777 at most); mtime is seconds since the epoch (negative: 0).
//
// Contract: one entry at a time. A regular file is begin_file(size), then
// write_data() in any pieces adding up to exactly `size`, then end_file().
// Writing more than announced, ending a file early, starting an entry inside
// a file, an empty path, a path with a NUL, a leading '/', a "." or ".."
// component, or an entry after finish() are Error(invalid_argument): the
// writer never emits an archive whose header disagrees with its data.
// Memory: one 512-byte header; data passes straight through.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

inline constexpr std::size_t kTarBlockSize = 512;
// The largest size the ustar header's 11 octal digits hold: 8 GiB - 1.
inline constexpr std::uint64_t kTarMaxOctalSize = (std::uint64_t{1} << 33) - 1;

class TarStreamWriter {
 public:
  // Writes into out; finish() writes the end-of-archive blocks but does not
  // finish out (the caller owns the chain).
  explicit TarStreamWriter(Sink& out);

  void add_directory(std::string_view path, std::uint32_t mode, std::int64_t mtime);
  void add_symlink(std::string_view path, std::string_view target, std::int64_t mtime);
  void begin_file(std::string_view path, std::uint64_t size, std::uint32_t mode,
                  std::int64_t mtime);
  void write_data(std::span<const std::byte> data);
  void end_file();
  // begin_file, write_data, end_file for a small file held in memory.
  void add_file(std::string_view path, std::string_view content, std::uint32_t mode,
                std::int64_t mtime);
  // The two zero blocks that end the archive.
  void finish();

  // Bytes written to out so far (headers, data, padding).
  std::uint64_t bytes_written() const { return written_; }
  bool in_file() const { return in_file_; }

 private:
  void header(std::string_view path, char type, std::uint64_t size, std::uint32_t mode,
              std::int64_t mtime, std::string_view link);
  void emit(std::span<const std::byte> data);
  void check_entry_allowed(std::string_view path) const;

  Sink& out_;
  std::uint64_t written_ = 0;
  bool in_file_ = false;
  bool finished_ = false;
  std::string file_path_;
  std::uint64_t file_size_ = 0;
  std::uint64_t file_done_ = 0;
};

// The 512-byte ustar header (and, when needed, the pax header before it)
// TarStreamWriter writes for one entry; exposed for tests of the encoding.
std::string tar_entry_headers(std::string_view path, char type, std::uint64_t size,
                              std::uint32_t mode, std::int64_t mtime, std::string_view link = {});

}  // namespace pgvault
