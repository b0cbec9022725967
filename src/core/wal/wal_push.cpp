// Archiving one WAL file (include/pgvault/wal/wal_push.hpp).
#include "pgvault/wal/wal_push.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_page_header.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <span>
#include <vector>

namespace pgvault {

namespace {

// Reading chunk: a 16 MB segment is never held in memory at once.
constexpr std::size_t kChunkSize = 256 * 1024;

class LocalFile {
 public:
  explicit LocalFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_os_error("cannot open WAL file " + quoted(path), errno);
  }
  ~LocalFile() { ::close(fd_); }
  LocalFile(const LocalFile&) = delete;
  LocalFile& operator=(const LocalFile&) = delete;

  // Fills up to buf.size() bytes; 0 only at the end.
  std::size_t read(std::span<std::byte> buf) {
    for (;;) {
      const ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw_os_error("cannot read WAL file " + quoted(path_), errno);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

struct FileDigest {
  std::string sha256;
  std::uint64_t bytes = 0;
};

// Reads the whole file in chunks, hashing it and handing each chunk to
// each_chunk (which may be empty); the first chunk is at least the page
// header long when the file is.
FileDigest read_file(
    const std::string& path, std::vector<std::byte>& buffer,
    const std::function<void(std::span<const std::byte>, bool first)>& each_chunk) {
  LocalFile file(path);
  Sha256 hash;
  FileDigest digest;
  bool first = true;
  for (;;) {
    // Fill the buffer as far as the file goes, so the first chunk holds the header.
    std::size_t filled = 0;
    while (filled < buffer.size()) {
      const std::size_t n = file.read(std::span(buffer).subspan(filled));
      if (n == 0) break;
      filled += n;
    }
    if (filled == 0 && !first) break;
    const std::span<const std::byte> chunk(buffer.data(), filled);
    hash.update(chunk);
    digest.bytes += filled;
    if (each_chunk) each_chunk(chunk, first);
    first = false;
    if (filled < buffer.size()) break;
  }
  digest.sha256 = hash.final_hex();
  return digest;
}

bool has_page_header(const WalFileName& file) {
  return file.kind() == WalFileKind::segment || file.kind() == WalFileKind::partial;
}

std::string conflict_advice() {
  return "This is how a second cluster with the same system identifier, a split brain (two "
         "primaries after a failover) or a restored copy archiving into the same repository "
         "shows itself. The stored object is kept and nothing is overwritten; archiving of this "
         "file will fail until the cause is found: stop the other writer, or, if the stored "
         "object is known to be wrong, move it away by hand.";
}

// The content of a stored .history object, decoded.
std::string read_stored_history(Storage& storage, const std::string& key,
                                const DecryptorFactory& decryptor) {
  StringSink text;
  {
    backup_reading::DecodeChain chain(key, text, decryptor);
    auto reader = storage.open_read(key);
    std::vector<std::byte> buffer(64 * 1024);
    for (;;) {
      const std::size_t n = reader->read(buffer);
      if (n == 0) break;
      chain.input().write(std::span<const std::byte>(buffer.data(), n));
    }
    chain.input().finish();
  }
  return text.str();
}

}  // namespace

WalPushResult push_wal_file(Storage& storage, const WalPushRequest& request) {
  const WalFileName file = parse_wal_file_name(request.file_name);
  validate_wal_system_identifier(request.system_identifier);
  const std::uint64_t sysid = parse_wal_system_identifier(request.system_identifier);
  validate_wal_segment_size(request.wal_segment_size);

  std::vector<std::byte> buffer(std::max<std::size_t>(kChunkSize, kWalLongPageHeaderSize));
  const WalSegmentExpectation expected{sysid, request.wal_segment_size, request.wal_page_magic};

  // Pass 1: the checksum, and the page header of a segment.
  const FileDigest digest =
      read_file(request.local_path, buffer, [&](std::span<const std::byte> chunk, bool first) {
        if (first && has_page_header(file)) {
          validate_wal_segment_header(file, chunk, expected);
        }
      });
  if (has_page_header(file) && digest.bytes != request.wal_segment_size) {
    throw Error(ErrorKind::corrupt, "WAL file " + quoted(file.name()) + " is " +
                                        std::to_string(digest.bytes) + " bytes long, not " +
                                        std::to_string(request.wal_segment_size) +
                                        " (wal_segment_size): not archived");
  }

  WalPushResult result;
  result.sha256 = digest.sha256;
  result.bytes = digest.bytes;
  const std::string key_sha = file.kind() == WalFileKind::history ? "" : digest.sha256;
  result.key = wal_object_key(request.system_identifier, file, key_sha, request.encode.compression);

  // What the repository has under this name already.
  const std::string prefix = wal_object_prefix(request.system_identifier, file);
  for (const ObjectInfo& object : storage.list(prefix)) {
    WalObjectKey stored;
    try {
      stored = parse_wal_object_key(object.path);
    } catch (const Error&) {
      continue;  // e.g. "00000002.history.tmp" of someone else: not ours to judge
    }
    if (stored.file != file || stored.system_identifier != request.system_identifier) continue;
    // A history file's key carries no checksum: its stored content is read back.
    const std::string stored_sha256 =
        file.kind() == WalFileKind::history
            ? sha256_hex(read_stored_history(storage, object.path, request.history_decryptor))
            : stored.sha256;
    if (stored_sha256 == digest.sha256) {
      result.outcome = WalPushOutcome::already_archived;
      result.key = object.path;
      return result;
    }
    throw Error(ErrorKind::conflict, "WAL file " + quoted(file.name()) +
                                         " is archived already with different "
                                         "content: the repository holds " +
                                         quote_untrusted(object.path) + " (SHA-256 " +
                                         stored_sha256 + "), the local file's SHA-256 is " +
                                         digest.sha256 + ". " + conflict_advice());
  }

  // Pass 2: through the pipeline; the object commits only if the file did not change.
  const std::string stem =
      file.kind() == WalFileKind::history ? file.name() : file.name() + "-" + digest.sha256;
  EncodeChain chain(storage, wal_directory(request.system_identifier, file), stem, request.encode);
  const FileDigest again =
      read_file(request.local_path, buffer,
                [&](std::span<const std::byte> chunk, bool) { chain.input().write(chunk); });
  if (again.sha256 != digest.sha256) {
    throw Error(ErrorKind::conflict,
                "WAL file " + quoted(file.name()) + " changed while it was archived (SHA-256 " +
                    digest.sha256 + ", then " + again.sha256 + "): not archived");
  }
  const ObjectEntry entry = chain.finish();
  if (chain.path() != result.key) {
    throw Error(ErrorKind::internal, "WAL object written as " + quoted(chain.path()) +
                                         " instead of " + quoted(result.key));
  }
  result.stored_bytes = entry.size;
  return result;
}

}  // namespace pgvault
