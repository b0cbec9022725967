#include "pgvault/physical/manifest_writer.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace pgvault {

namespace {

[[noreturn]] void misuse(const std::string& what) {
  throw Error(ErrorKind::invalid_argument, "backup_manifest writer: " + what);
}

// pg_verify_mbstr(PG_UTF8, ...): well-formed UTF-8 without NUL bytes,
// overlong forms or surrogates.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// PostgreSQL's escape_json.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && is_lower_hex(s);
}

}  // namespace

std::string manifest_timestamp(std::int64_t mtime) {
  const std::time_t t = static_cast<std::time_t>(mtime);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S GMT", &tm);
  return buf;
}

BackupManifestWriter::BackupManifestWriter(Sink& out) : out_(out) {
  emit("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [");
}

void BackupManifestWriter::emit(std::string_view text, bool checksummed) {
  if (checksummed) checksum_.update(text);
  out_.write(as_bytes(text));
}

void BackupManifestWriter::add_file(const ManifestFileEntry& file) {
  if (finished_) misuse("file \"" + file.path + "\" added after the end");
  if (file.path.empty()) misuse("a file with an empty path");
  if (!file.sha256.empty() && !is_sha256_hex(file.sha256))
    misuse("the checksum of \"" + file.path + "\" is not a lower-case SHA-256 hex digest");
  if (!file.crc32c.empty() && (file.crc32c.size() != 8 || !is_lower_hex(file.crc32c)))
    misuse("the CRC-32C of \"" + file.path + "\" is not 8 lower-case hex digits");
  if (!file.sha256.empty() && !file.crc32c.empty())
    misuse("file \"" + file.path + "\" has two checksums; a manifest entry has one");
  // Each entry ends the line before it (with a comma after the first).
  std::string line = files_ == 0 ? "\n" : ",\n";
  if (valid_utf8(file.path)) {
    line += "{ \"Path\": " + json_string(file.path) + ", ";
  } else {
    line += "{ \"Encoded-Path\": \"" + hex(std::string_view(file.path)) + "\", ";
  }
  line += "\"Size\": " + std::to_string(file.size) + ", ";
  line += "\"Last-Modified\": \"" + manifest_timestamp(file.mtime) + "\"";
  if (!file.sha256.empty()) {
    line += ", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" + file.sha256 + "\"";
  } else if (!file.crc32c.empty()) {
    line += ", \"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"" + file.crc32c + "\"";
  } else {
    line += ", \"Checksum-Algorithm\": \"NONE\"";
  }
  line += " }";
  emit(line);
  ++files_;
  total_size_ += file.size;
}

void BackupManifestWriter::finish(const std::vector<ManifestWalRange>& wal_ranges) {
  if (finished_) misuse("finished twice");
  if (wal_ranges.empty()) misuse("a backup_manifest needs at least one WAL range");
  finished_ = true;
  std::string tail = "\n],\n\"WAL-Ranges\": [\n";
  bool first = true;
  for (const auto& r : wal_ranges) {
    if (!first) tail += ",\n";
    first = false;
    tail += "{ \"Timeline\": " + std::to_string(r.timeline) + ", \"Start-LSN\": \"" +
            format_lsn(r.start) + "\", \"End-LSN\": \"" + format_lsn(r.end) + "\" }";
  }
  tail += "\n],\n";
  emit(tail);
  const std::string sum = checksum_.final_hex();
  emit("\"Manifest-Checksum\": \"" + sum + "\"}\n", false);
}

}  // namespace pgvault
