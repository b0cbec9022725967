#include "pgvault/physical/file_identity.hpp"

#include "pgvault/error.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/physical/path_lines.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace pgvault {

void write_file_identity(Sink& out, std::vector<FileIdentityRecord> records) {
  std::sort(
      records.begin(), records.end(),
      [](const FileIdentityRecord& a, const FileIdentityRecord& b) { return a.path < b.path; });
  PathLinesWriter lines(out, kFileIdentityObject);
  for (const FileIdentityRecord& r : records) {
    if (r.identity.birth_time_ns < 0)
      throw Error(ErrorKind::invalid_argument,
                  "file_identity: negative birth time for \"" + r.path + "\"");
    lines.add(std::to_string(r.size) + ' ' + std::to_string(r.identity.device) + ' ' +
                  std::to_string(r.identity.inode) + ' ' + std::to_string(r.identity.birth_time_ns),
              r.path);
  }
  lines.finish();
}

std::vector<FileIdentityRecord> parse_file_identity(std::string_view text,
                                                    const std::string& object) {
  std::vector<FileIdentityRecord> records;
  parse_path_lines(text, object, "<size> <device> <inode> <birth time ns> <path>", 4,
                   [&](std::span<const std::string_view> fields, std::string_view path,
                       const PathLineError& fail) {
                     FileIdentityRecord r;
                     std::int64_t birth = 0;
                     if (!parse_unsigned_decimal(fields[0], r.size))
                       fail("malformed size \"" + quote_untrusted(fields[0]) + "\"");
                     if (!parse_unsigned_decimal(fields[1], r.identity.device))
                       fail("malformed device \"" + quote_untrusted(fields[1]) + "\"");
                     if (!parse_unsigned_decimal(fields[2], r.identity.inode))
                       fail("malformed inode \"" + quote_untrusted(fields[2]) + "\"");
                     if (!parse_unsigned_decimal(fields[3], birth))
                       fail("malformed birth time \"" + quote_untrusted(fields[3]) + "\"");
                     r.identity.birth_time_ns = birth;
                     r.path = std::string(path);
                     records.push_back(std::move(r));
                   });
  return records;
}

std::optional<FileStat> stat_file_identity(const std::filesystem::path& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW,
              STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_BTIME,
              &stx) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_os_error("could not stat \"" + path.string() + "\"", errno);
  }
  FileStat st;
  st.size = stx.stx_size;
  st.mtime = stx.stx_mtime.tv_sec;
  st.mode = stx.stx_mode & 07777;
  st.identity.device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  st.identity.inode = stx.stx_ino;
  if (stx.stx_mask & STATX_BTIME) {
    st.identity.birth_time_ns =
        std::int64_t{stx.stx_btime.tv_sec} * 1000000000 + std::int64_t{stx.stx_btime.tv_nsec};
  }
  return st;
}

std::string manifest_path(const BackupEntry& entry) {
  if (entry.tablespace_oid == 0) return entry.path;
  return "pg_tblspc/" + std::to_string(entry.tablespace_oid) + "/" + entry.path;
}

std::vector<FileIdentityRecord> relation_file_identities(const DataDirectoryListing& listing) {
  std::vector<FileIdentityRecord> out;
  for (const BackupEntry& e : listing.entries) {
    if (e.kind != BackupPathKind::relation_file) continue;
    const auto st = stat_file_identity(e.source);
    if (!st) continue;  // dropped since the walk
    out.push_back({manifest_path(e), st->size, st->identity});
  }
  return out;
}

ObjectEntry store_file_identity(Storage& storage, const std::string& directory,
                                std::vector<FileIdentityRecord> records, const EncryptionKey* key) {
  return store_path_lines(storage, directory, kFileIdentityObject, key,
                          [&](Sink& out) { write_file_identity(out, std::move(records)); });
}

}  // namespace pgvault
