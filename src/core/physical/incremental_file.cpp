#include "pgvault/physical/incremental_file.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/positional_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pgvault {

namespace {}  // namespace

const char* whole_file_reason_text(WholeFileReason reason) {
  switch (reason) {
    case WholeFileReason::none:
      return "changed pages only";
    case WholeFileReason::map_fork:
      return "visibility map or free space map fork (changes without moving its LSN)";
    case WholeFileReason::init_fork:
      return "init fork";
    case WholeFileReason::no_parent_copy:
      return "the parent backup has no copy of this file";
    case WholeFileReason::shrank:
      return "smaller than the parent backup's copy";
    case WholeFileReason::identity_changed:
      return "another file than the parent backup's copy (inode or birth time changed)";
  }
  return "unknown";
}

WholeFileReason whole_file_reason(RelationFork fork, const std::optional<ParentFileState>& parent,
                                  std::uint32_t file_blocks, const FileIdentity& identity) {
  if (fork == RelationFork::vm || fork == RelationFork::fsm) return WholeFileReason::map_fork;
  if (fork == RelationFork::init) return WholeFileReason::init_fork;
  if (!parent) return WholeFileReason::no_parent_copy;
  if (!(identity == parent->identity)) return WholeFileReason::identity_changed;
  if (file_blocks < parent->file_blocks) return WholeFileReason::shrank;
  return WholeFileReason::none;
}

// ---- writer ----

IncrementalFileWriter::IncrementalFileWriter(Sink& out, const IncrementalFileHeader& header,
                                             std::vector<std::uint32_t> blocks)
    : out_(out), blocks_(std::move(blocks)) {
  if (header.block_count != blocks_.size())
    throw Error(ErrorKind::invalid_argument,
                "incremental file header says " + std::to_string(header.block_count) + " blocks, " +
                    std::to_string(blocks_.size()) + " block numbers given");
  if (header.file_blocks > kBlocksPerSegment)
    throw Error(ErrorKind::invalid_argument,
                "a segment file has at most " + std::to_string(kBlocksPerSegment) +
                    " blocks, got " + std::to_string(header.file_blocks));
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i] >= header.file_blocks)
      throw Error(ErrorKind::invalid_argument, "block " + std::to_string(blocks_[i]) +
                                                   " is beyond the file's " +
                                                   std::to_string(header.file_blocks) + " blocks");
    if (i > 0 && blocks_[i] <= blocks_[i - 1])
      throw Error(ErrorKind::invalid_argument, "block numbers must be strictly increasing, got " +
                                                   std::to_string(blocks_[i - 1]) + " then " +
                                                   std::to_string(blocks_[i]));
  }
  if (header.whole_file && blocks_.size() != header.file_blocks)
    throw Error(ErrorKind::invalid_argument, "a whole file stores all " +
                                                 std::to_string(header.file_blocks) +
                                                 " blocks, got " + std::to_string(blocks_.size()));
  std::vector<std::byte> head(kIncrementalHeaderSize + 4 * blocks_.size());
  store_le<std::uint32_t>(head.data(), kIncrementalMagic);
  store_le<std::uint16_t>(head.data() + 4, kIncrementalFormatVersion);
  store_le<std::uint16_t>(head.data() + 6, header.whole_file ? kIncrementalWholeFile : 0);
  store_le<std::uint32_t>(head.data() + 8, header.file_blocks);
  store_le<std::uint32_t>(head.data() + 12, header.block_count);
  for (std::size_t i = 0; i < blocks_.size(); ++i)
    store_le<std::uint32_t>(head.data() + kIncrementalHeaderSize + 4 * i, blocks_[i]);
  out_.write(head);
}

void IncrementalFileWriter::write_page(std::uint32_t block, std::span<const std::byte> page) {
  if (finished_ || next_ >= blocks_.size())
    throw Error(ErrorKind::invalid_argument,
                "page of block " + std::to_string(block) + " written after the last listed block");
  if (block != blocks_[next_])
    throw Error(ErrorKind::invalid_argument, "page of block " + std::to_string(block) +
                                                 " written where block " +
                                                 std::to_string(blocks_[next_]) + " is next");
  if (page.size() != kPageSize)
    throw Error(ErrorKind::invalid_argument, "a page is exactly " + std::to_string(kPageSize) +
                                                 " bytes, got " + std::to_string(page.size()));
  out_.write(page);
  ++next_;
}

void IncrementalFileWriter::finish() {
  if (next_ != blocks_.size())
    throw Error(ErrorKind::invalid_argument, "incremental file finished after " +
                                                 std::to_string(next_) + " of " +
                                                 std::to_string(blocks_.size()) + " pages");
  finished_ = true;
}

std::uint64_t IncrementalFileWriter::encoded_size(std::uint32_t block_count) {
  return kIncrementalHeaderSize + std::uint64_t{block_count} * (4 + kPageSize);
}

// ---- reader ----

IncrementalFileReader::IncrementalFileReader(std::string name, HeaderHandler on_header,
                                             PageHandler on_page)
    : name_(std::move(name)), on_header_(std::move(on_header)), on_page_(std::move(on_page)) {}

void IncrementalFileReader::fail(const std::string& what) const {
  throw Error(ErrorKind::corrupt, "incremental file \"" + name_ + "\": " + what);
}

void IncrementalFileReader::parse_header() {
  const std::byte* p = pending_.data();
  const auto magic = load_le<std::uint32_t>(p);
  if (magic != kIncrementalMagic) fail("not an incremental file (wrong magic)");
  const auto version = load_le<std::uint16_t>(p + 4);
  if (version != kIncrementalFormatVersion)
    fail("format version " + std::to_string(version) + " is not supported (only " +
         std::to_string(kIncrementalFormatVersion) + ")");
  const auto flags = load_le<std::uint16_t>(p + 6);
  if ((flags & ~kIncrementalWholeFile) != 0) fail("unknown flags " + std::to_string(flags));
  IncrementalFileHeader h;
  h.whole_file = (flags & kIncrementalWholeFile) != 0;
  h.file_blocks = load_le<std::uint32_t>(p + 8);
  h.block_count = load_le<std::uint32_t>(p + 12);
  if (h.file_blocks > kBlocksPerSegment)
    fail("file size of " + std::to_string(h.file_blocks) + " blocks is beyond a segment's " +
         std::to_string(kBlocksPerSegment));
  if (h.block_count > h.file_blocks)
    fail(std::to_string(h.block_count) + " blocks stored in a file of " +
         std::to_string(h.file_blocks) + " blocks");
  if (h.whole_file && h.block_count != h.file_blocks)
    fail("whole file of " + std::to_string(h.file_blocks) + " blocks stores " +
         std::to_string(h.block_count));
  header_ = h;
  blocks_.reserve(h.block_count);
}

void IncrementalFileReader::accept_block_number(std::uint32_t block) {
  if (block >= header_->file_blocks)
    fail("block " + std::to_string(block) + " is beyond the file's " +
         std::to_string(header_->file_blocks) + " blocks");
  if (!blocks_.empty() && block <= blocks_.back())
    fail("block numbers not strictly increasing (" + std::to_string(blocks_.back()) + " then " +
         std::to_string(block) + ")");
  if (header_->whole_file && block != blocks_.size())
    fail("whole file lists block " + std::to_string(block) + " at position " +
         std::to_string(blocks_.size()));
  blocks_.push_back(block);
}

void IncrementalFileReader::feed(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    std::size_t want;
    if (!header_)
      want = kIncrementalHeaderSize;
    else if (blocks_.size() < header_->block_count)
      want = 4;
    else if (pages_done_ < header_->block_count)
      want = kPageSize;
    else
      fail("unexpected bytes after the last page");
    const std::size_t take = std::min(want - pending_.size(), bytes.size());
    // A whole page already in `bytes` is passed on without copying.
    if (pending_.empty() && take == want && want == kPageSize) {
      on_page_(blocks_[pages_done_++], bytes.first(kPageSize));
      bytes = bytes.subspan(kPageSize);
      continue;
    }
    pending_.insert(pending_.end(), bytes.begin(),
                    bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (pending_.size() < want) break;
    if (!header_) {
      parse_header();
      if (on_header_) on_header_(*header_);
    } else if (blocks_.size() < header_->block_count) {
      accept_block_number(load_le<std::uint32_t>(pending_.data()));
    } else {
      on_page_(blocks_[pages_done_++], pending_);
    }
    pending_.clear();
  }
}

void IncrementalFileReader::finish() {
  if (!header_) fail("truncated in the header");
  if (blocks_.size() < header_->block_count)
    fail("truncated after " + std::to_string(blocks_.size()) + " of " +
         std::to_string(header_->block_count) + " block numbers");
  if (pages_done_ < header_->block_count)
    fail("truncated after " + std::to_string(pages_done_) + " of " +
         std::to_string(header_->block_count) + " pages");
}

// ---- file output ----

FilePageOutput::FilePageOutput(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw_os_error("could not open \"" + path + "\"", errno);
}

FilePageOutput::~FilePageOutput() {
  if (fd_ >= 0) ::close(fd_);
}

void FilePageOutput::write_page(std::uint32_t block, std::span<const std::byte> page) {
  pwrite_fully(fd_, page, std::uint64_t{block} * kPageSize,
               [&] { return "block " + std::to_string(block) + " of \"" + path_ + "\""; });
}

void FilePageOutput::set_block_count(std::uint32_t blocks) {
  if (::ftruncate(fd_, static_cast<off_t>(std::uint64_t{blocks} * kPageSize)) != 0)
    throw_os_error("could not set the size of \"" + path_ + "\"", errno);
}

void FilePageOutput::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw_os_error("could not fsync \"" + path_ + "\"", err);
  }
  if (::close(fd) != 0) throw_os_error("could not close \"" + path_ + "\"", errno);
}

// ---- reconstruction ----

FileReconstruction::FileReconstruction(std::string file, PageOutput& out)
    : file_(std::move(file)), out_(out) {}

void FileReconstruction::write_once(std::uint32_t block, std::span<const std::byte> page) {
  if (block >= *file_blocks_ || written_[block]) return;
  out_.write_page(block, page);
  written_[block] = true;
  ++pages_written_;
}

void FileReconstruction::begin_incremental(std::string name) {
  if (reader_ || finished_ || full_offset_ > 0)
    throw Error(
        ErrorKind::invalid_argument,
        "incrementals of \"" + file_ + "\" are applied one at a time, before the full copy");
  if (!needs_older())
    throw Error(ErrorKind::invalid_argument,
                "\"" + file_ + "\" needs nothing older than a whole-file incremental");
  reader_.emplace(
      std::move(name),
      [this](const IncrementalFileHeader& header) {
        if (!file_blocks_) {
          file_blocks_ = header.file_blocks;
          written_.assign(header.file_blocks, false);
        }
        if (header.whole_file) stop_descending_ = true;
      },
      [this](std::uint32_t block, std::span<const std::byte> page) { write_once(block, page); });
}

void FileReconstruction::feed_incremental(std::span<const std::byte> bytes) {
  if (!reader_)
    throw Error(ErrorKind::invalid_argument, "no incremental of \"" + file_ + "\" begun");
  reader_->feed(bytes);
}

void FileReconstruction::end_incremental() {
  if (!reader_)
    throw Error(ErrorKind::invalid_argument, "no incremental of \"" + file_ + "\" begun");
  reader_->finish();
  reader_.reset();
}

bool FileReconstruction::needs_older() const {
  if (stop_descending_) return false;
  return !file_blocks_ || pages_written_ < *file_blocks_;
}

void FileReconstruction::feed_full_copy(std::span<const std::byte> bytes) {
  if (!file_blocks_ || reader_ || finished_)
    throw Error(ErrorKind::invalid_argument,
                "the full copy of \"" + file_ + "\" comes after its incrementals");
  if (stop_descending_) return;  // a whole-file incremental: the full copy is not used
  while (!bytes.empty()) {
    const std::uint64_t block = full_offset_ / kPageSize;
    const std::size_t take = std::min<std::size_t>(kPageSize - full_pending_.size(), bytes.size());
    if (full_pending_.empty() && take == kPageSize) {
      if (block < *file_blocks_)
        write_once(static_cast<std::uint32_t>(block), bytes.first(kPageSize));
    } else {
      full_pending_.insert(full_pending_.end(), bytes.begin(),
                           bytes.begin() + static_cast<std::ptrdiff_t>(take));
      if (full_pending_.size() == kPageSize) {
        if (block < *file_blocks_) write_once(static_cast<std::uint32_t>(block), full_pending_);
        full_pending_.clear();
      }
    }
    full_offset_ += take;
    bytes = bytes.subspan(take);
  }
}

void FileReconstruction::finish() {
  if (reader_)
    throw Error(ErrorKind::invalid_argument, "an incremental of \"" + file_ + "\" is unfinished");
  if (!file_blocks_)
    throw Error(ErrorKind::invalid_argument,
                "\"" + file_ + "\" is rebuilt from at least one incremental");
  const auto missing = std::find(written_.begin(), written_.end(), false);
  if (missing != written_.end())
    throw Error(ErrorKind::corrupt,
                "block " + std::to_string(missing - written_.begin()) + " of \"" + file_ + "\" (" +
                    std::to_string(*file_blocks_) +
                    " blocks) is in no backup of the chain: the chain is incomplete");
  out_.set_block_count(*file_blocks_);
  finished_ = true;
}

}  // namespace pgvault
