#include "pgvault/physical/file_identity.hpp"

#include "pgvault/error.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/pipeline/sink.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace pgvault {

namespace {

// Unsigned decimal, no sign, no leading zeros; false when malformed or out of range.
template <typename T>
bool parse_decimal(std::string_view s, T& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

void write_file_identity(Sink& out, std::vector<FileIdentityRecord> records) {
  std::sort(
      records.begin(), records.end(),
      [](const FileIdentityRecord& a, const FileIdentityRecord& b) { return a.path < b.path; });
  std::string text;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const FileIdentityRecord& r = records[i];
    if (r.path.empty() || r.path.find_first_of(std::string_view("\n\0", 2)) != std::string::npos)
      throw Error(ErrorKind::invalid_argument,
                  "file_identity: path \"" + r.path + "\" is empty or holds a newline or NUL");
    if (i > 0 && records[i - 1].path == r.path)
      throw Error(ErrorKind::invalid_argument,
                  "file_identity: path \"" + r.path + "\" is listed twice");
    if (r.identity.birth_time_ns < 0)
      throw Error(ErrorKind::invalid_argument,
                  "file_identity: negative birth time for \"" + r.path + "\"");
    text += std::to_string(r.size) + ' ' + std::to_string(r.identity.device) + ' ' +
            std::to_string(r.identity.inode) + ' ' + std::to_string(r.identity.birth_time_ns) +
            ' ' + r.path + '\n';
    if (text.size() >= 64 * 1024) {
      out.write(as_bytes(text));
      text.clear();
    }
  }
  if (!text.empty()) out.write(as_bytes(text));
}

std::vector<FileIdentityRecord> parse_file_identity(std::string_view text,
                                                    const std::string& object) {
  std::vector<FileIdentityRecord> records;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto fail = [&](const std::string& what) {
      throw Error(ErrorKind::corrupt,
                  object + ", line " + std::to_string(line_no) + ": " + what +
                      " (expected \"<size> <device> <inode> <birth time ns> <path>\", sorted "
                      "by path)");
    };
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) fail("the last line has no newline (truncated?)");
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    std::string_view rest = line;
    std::string_view fields[4];
    for (auto& f : fields) {
      const std::size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) fail("too few fields");
      f = rest.substr(0, sp);
      rest.remove_prefix(sp + 1);
    }
    FileIdentityRecord r;
    std::int64_t birth = 0;
    if (!parse_decimal(fields[0], r.size))
      fail("malformed size \"" + std::string(fields[0]) + "\"");
    if (!parse_decimal(fields[1], r.identity.device))
      fail("malformed device \"" + std::string(fields[1]) + "\"");
    if (!parse_decimal(fields[2], r.identity.inode))
      fail("malformed inode \"" + std::string(fields[2]) + "\"");
    if (!parse_decimal(fields[3], birth))
      fail("malformed birth time \"" + std::string(fields[3]) + "\"");
    r.identity.birth_time_ns = birth;
    if (rest.empty()) fail("empty path");
    if (rest.find('\0') != std::string_view::npos) fail("the path holds a NUL byte");
    r.path = std::string(rest);
    if (!records.empty() && !(records.back().path < r.path))
      fail("path \"" + r.path + "\" is out of order or repeated");
    records.push_back(std::move(r));
  }
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
                                std::vector<FileIdentityRecord> records,
                                const EncryptionKey* key) {
  EncodeOptions options;
  options.encryption_key = key;
  EncodeChain object(storage, directory, kFileIdentityObject, options);
  write_file_identity(object.input(), std::move(records));
  return object.finish();
}

}  // namespace pgvault
