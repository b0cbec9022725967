// The stored form of one relation segment file in an incremental backup, and
// the reconstruction of the file from a full backup and a chain of
// incrementals.
//
// Format (all integers little-endian), version 1:
//   offset size
//        0    4 magic "PGVI"
//        4    2 format version (1)
//        6    2 flags: bit 0 whole_file (no other bit may be set)
//        8    4 file_blocks: the file's size in 8 kB blocks when it was read
//       12    4 block_count: how many pages follow
//       16    4 × block_count block numbers within the file, strictly increasing, each <
//       file_blocks
//       ...   8192 × block_count pages, in the order of the block numbers
//   nothing after the last page.
// A whole_file incremental stores every block (block_count == file_blocks, the
// numbers 0..file_blocks-1) and needs nothing older. The backup stores a file
// whole when it is a visibility map or free space map fork (their pages change
// without their LSN moving: visibilitymap_clear() marks the VM page dirty with
// no LSN of its own, and FSM updates are not WAL-logged; seen on PostgreSQL
// 15.20, a heap UPDATE changed the VM page and left its pd_lsn before the
// parent's start), an init fork (tiny, never worth a chain), when the parent
// has no copy of the path, when the file is smaller than the parent's copy, or
// when its identity changed (another inode or birth time: dropped and
// re-created under the same path, e.g. by CREATE DATABASE ... STRATEGY
// FILE_COPY of a re-used oid, whose pages keep old LSNs); see whole_file_reason().
//
// Reconstruction, newest first: every page of the newest incremental is
// written, then each older one's pages not written yet (a bitmap of written
// blocks, so each block is written exactly once: newest wins), stopping after
// a whole_file incremental, then the full backup's copy for the blocks still
// missing. Only blocks below the newest file_blocks are written, and the
// output is set to exactly file_blocks blocks (truncation or extension). A
// block below that size that no backup of the chain has is Error(corrupt):
// the chain is broken, never filled with zeroes.
//
// The reader trusts nothing: a wrong magic, version or flag, counts that do
// not match, block numbers unsorted, repeated or out of range, a truncated
// stream or bytes after the end are Error(corrupt) naming what is wrong (and
// the stream's name). Pages are passed on as stored: their checksums were
// verified when read and the object's SHA-256 is checked by the pipeline.
#pragma once
#include "pgvault/pg_free.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/page.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pgvault {

class Sink;

inline constexpr std::uint32_t kIncrementalMagic = 0x49564750;  // "PGVI" little-endian
inline constexpr std::uint16_t kIncrementalFormatVersion = 1;
inline constexpr std::uint16_t kIncrementalWholeFile = 0x0001;
inline constexpr std::size_t kIncrementalHeaderSize = 16;

struct IncrementalFileHeader {
  bool whole_file = false;
  std::uint32_t file_blocks = 0;
  std::uint32_t block_count = 0;
};

// What identifies a file beyond its path (from stat/statx); birth_time_ns is
// 0 when the file system does not report it.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t birth_time_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct ParentFileState {
  std::uint32_t file_blocks = 0;
  FileIdentity identity;
};

enum class WholeFileReason { none, map_fork, init_fork, no_parent_copy, shrank, identity_changed };
const char* whole_file_reason_text(WholeFileReason reason);

// The rule above, for a relation segment file of `fork`; none: store the
// changed pages only (changed_pages.hpp).
WholeFileReason whole_file_reason(RelationFork fork, const std::optional<ParentFileState>& parent,
                                  std::uint32_t file_blocks, const FileIdentity& identity);

// Streams one incremental file into a Sink: the header and block numbers at
// construction, then write_page() for each listed block in order, then
// finish() (which does not finish the sink: several files may share it).
// Misuse (a block not listed or out of order, a page of the wrong size, too
// few pages at finish, an invalid list) is Error(invalid_argument).
class IncrementalFileWriter {
 public:
  IncrementalFileWriter(Sink& out, const IncrementalFileHeader& header,
                        std::vector<std::uint32_t> blocks);
  void write_page(std::uint32_t block, std::span<const std::byte> page);
  void finish();
  // Bytes this file takes: header, block numbers and pages.
  static std::uint64_t encoded_size(std::uint32_t block_count);

 private:
  Sink& out_;
  std::vector<std::uint32_t> blocks_;
  std::size_t next_ = 0;
  bool finished_ = false;
};

// Reads an incremental file from bytes as they arrive (any split). Calls
// on_header once, then on_page for every page in order.
class IncrementalFileReader {
 public:
  using HeaderHandler = std::function<void(const IncrementalFileHeader&)>;
  using PageHandler = std::function<void(std::uint32_t block, std::span<const std::byte> page)>;
  IncrementalFileReader(std::string name, HeaderHandler on_header, PageHandler on_page);
  void feed(std::span<const std::byte> bytes);
  // The stream ended: Error(corrupt) unless the file was complete.
  void finish();
  const std::optional<IncrementalFileHeader>& header() const { return header_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void parse_header();
  void accept_block_number(std::uint32_t block);

  std::string name_;
  HeaderHandler on_header_;
  PageHandler on_page_;
  std::optional<IncrementalFileHeader> header_;
  std::vector<std::byte> pending_;  // at most one page or one header
  std::vector<std::uint32_t> blocks_;
  std::size_t pages_done_ = 0;
};

// Where reconstruction writes: pages at block offsets, then the final size.
class PageOutput {
 public:
  virtual ~PageOutput() = default;
  virtual void write_page(std::uint32_t block, std::span<const std::byte> page) = 0;
  virtual void set_block_count(std::uint32_t blocks) = 0;
};

// A PageOutput into a file at `path` (created or opened for writing, never
// truncated before the end): pwrite at block * 8192, then ftruncate. Errors
// are Error(io) naming the file. close() fsyncs.
class FilePageOutput final : public PageOutput {
 public:
  explicit FilePageOutput(const std::string& path);
  ~FilePageOutput() override;
  FilePageOutput(const FilePageOutput&) = delete;
  FilePageOutput& operator=(const FilePageOutput&) = delete;
  void write_page(std::uint32_t block, std::span<const std::byte> page) override;
  void set_block_count(std::uint32_t blocks) override;
  void close();

 private:
  std::string path_;
  int fd_ = -1;
};

// Rebuilds one file. Feed the incrementals newest first (begin_incremental,
// feed..., end_incremental each) while needs_older(); then, when the full
// backup has the file and needs_older() still holds, its bytes in order
// through feed_full_copy; then finish(). Every block is written at most once.
class FileReconstruction {
 public:
  FileReconstruction(std::string file, PageOutput& out);
  void begin_incremental(std::string name);
  void feed_incremental(std::span<const std::byte> bytes);
  void end_incremental();
  // False once a whole_file incremental was applied or every block is written.
  bool needs_older() const;
  void feed_full_copy(std::span<const std::byte> bytes);
  // Sets the size; Error(corrupt) naming the first missing block if any block
  // below it came from no backup. Without any incremental: Error(invalid_argument).
  void finish();
  std::uint32_t file_blocks() const { return file_blocks_.value_or(0); }
  std::uint64_t pages_written() const { return pages_written_; }

 private:
  void write_once(std::uint32_t block, std::span<const std::byte> page);

  std::string file_;
  PageOutput& out_;
  std::optional<std::uint32_t> file_blocks_;  // from the newest incremental
  std::vector<bool> written_;
  std::uint64_t pages_written_ = 0;
  bool stop_descending_ = false;
  std::optional<IncrementalFileReader> reader_;
  std::vector<std::byte> full_pending_;
  std::uint64_t full_offset_ = 0;  // bytes of the full copy consumed
  bool finished_ = false;
};

}  // namespace pgvault
