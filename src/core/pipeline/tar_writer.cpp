#include "pgvault/pipeline/tar_writer.hpp"

#include "pgvault/error.hpp"

#include <array>
#include <cstdio>
#include <cstring>

namespace pgvault {

namespace {

constexpr std::size_t kNameLen = 100;
constexpr std::size_t kModeOff = 100, kUidOff = 108, kGidOff = 116, kSizeOff = 124;
constexpr std::size_t kMtimeOff = 136, kChksumOff = 148, kTypeOff = 156, kLinkOff = 157;
constexpr std::size_t kMagicOff = 257, kVersionOff = 263;

[[noreturn]] void misuse(const std::string& what) {
  throw Error(ErrorKind::invalid_argument, "tar writer: " + what);
}

void check_path(std::string_view path, const char* what) {
  if (path.empty()) misuse(std::string("empty ") + what);
  if (path.find('\0') != std::string_view::npos) misuse(std::string(what) + " holds a NUL byte");
  if (path.front() == '/') misuse(std::string(what) + " \"" + std::string(path) + "\" is absolute");
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const std::string_view comp = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    // A trailing '/' (directories) leaves one empty last component: allowed.
    if ((comp.empty() && slash != std::string_view::npos) || comp == "." || comp == "..")
      misuse(std::string(what) + " \"" + std::string(path) + "\" has an empty, . or .. component");
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

// Octal, zero-padded to len - 1 digits, NUL-terminated.
void put_octal(char* field, std::size_t len, std::uint64_t value) {
  for (std::size_t i = len - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[len - 1] = '\0';
}

// GNU base-256: high bit of the first byte set, the value big-endian.
void put_base256(char* field, std::size_t len, std::uint64_t value) {
  for (std::size_t i = len; i-- > 1;) {
    field[i] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  field[0] = static_cast<char>(0x80);
}

// "<len> <key>=<value>\n", len counting the whole record including its own digits.
std::string pax_record(std::string_view key, std::string_view value) {
  const std::size_t body = 1 + key.size() + 1 + value.size() + 1;  // ' ' key '=' value '\n'
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) ++len;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

std::string ustar_header(std::string_view name, char type, std::uint64_t size, std::uint32_t mode,
                         std::int64_t mtime, std::string_view link) {
  std::string h(kTarBlockSize, '\0');
  char* p = h.data();
  std::memcpy(p, name.data(), std::min(name.size(), kNameLen));
  put_octal(p + kModeOff, 8, mode & 07777);
  put_octal(p + kUidOff, 8, 0);
  put_octal(p + kGidOff, 8, 0);
  if (size > kTarMaxOctalSize) {
    put_base256(p + kSizeOff, 12, size);
  } else {
    put_octal(p + kSizeOff, 12, size);
  }
  put_octal(p + kMtimeOff, 12, mtime < 0 ? 0 : static_cast<std::uint64_t>(mtime));
  p[kTypeOff] = type;
  std::memcpy(p + kLinkOff, link.data(), std::min(link.size(), kNameLen));
  std::memcpy(p + kMagicOff, "ustar", 6);  // with its NUL
  std::memcpy(p + kVersionOff, "00", 2);
  std::memset(p + kChksumOff, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  // Six octal digits, NUL, space: what GNU tar and PostgreSQL write.
  std::snprintf(p + kChksumOff, 8, "%06o", sum);
  p[kChksumOff + 7] = ' ';
  return h;
}

std::string padding(std::uint64_t size) {
  return std::string((kTarBlockSize - size % kTarBlockSize) % kTarBlockSize, '\0');
}

}  // namespace

std::string tar_entry_headers(std::string_view path, char type, std::uint64_t size,
                              std::uint32_t mode, std::int64_t mtime, std::string_view link) {
  std::string records;
  if (path.size() > kNameLen) records += pax_record("path", path);
  if (link.size() > kNameLen) records += pax_record("linkpath", link);
  if (size > kTarMaxOctalSize) records += pax_record("size", std::to_string(size));
  std::string out;
  if (!records.empty()) {
    // GNU tar names pax headers "<dir>/PaxHeaders/<name>"; the name is informational.
    std::string pax_name = "PaxHeaders/" + std::string(path.substr(0, 80));
    out += ustar_header(pax_name, 'x', records.size(), 0644, mtime, {});
    out += records;
    out += padding(records.size());
  }
  out += ustar_header(path, type, size, mode, mtime, link);
  return out;
}

TarStreamWriter::TarStreamWriter(Sink& out) : out_(out) {}

void TarStreamWriter::emit(std::span<const std::byte> data) {
  out_.write(data);
  written_ += data.size();
}

void TarStreamWriter::check_entry_allowed(std::string_view path) const {
  if (finished_) misuse("entry \"" + std::string(path) + "\" after the end of the archive");
  if (in_file_)
    misuse("entry \"" + std::string(path) + "\" started inside file \"" + file_path_ + "\" (" +
           std::to_string(file_done_) + " of " + std::to_string(file_size_) + " bytes written)");
}

void TarStreamWriter::header(std::string_view path, char type, std::uint64_t size,
                             std::uint32_t mode, std::int64_t mtime, std::string_view link) {
  check_entry_allowed(path);
  check_path(path, "path");
  emit(as_bytes(tar_entry_headers(path, type, size, mode, mtime, link)));
}

void TarStreamWriter::add_directory(std::string_view path, std::uint32_t mode, std::int64_t mtime) {
  // Directories end in '/' in BASE_BACKUP's archives and GNU tar's.
  std::string name(path);
  if (name.empty() || name.back() != '/') name += '/';
  header(name, '5', 0, mode, mtime, {});
}

void TarStreamWriter::add_symlink(std::string_view path, std::string_view target,
                                  std::int64_t mtime) {
  if (target.empty() || target.find('\0') != std::string_view::npos)
    misuse("symbolic link \"" + std::string(path) + "\" has an empty or NUL-holding target");
  header(path, '2', 0, 0777, mtime, target);
}

void TarStreamWriter::begin_file(std::string_view path, std::uint64_t size, std::uint32_t mode,
                                 std::int64_t mtime) {
  header(path, '0', size, mode, mtime, {});
  in_file_ = true;
  file_path_ = std::string(path);
  file_size_ = size;
  file_done_ = 0;
}

void TarStreamWriter::write_data(std::span<const std::byte> data) {
  if (!in_file_) misuse("file data outside a file entry");
  if (data.size() > file_size_ - file_done_)
    misuse("file \"" + file_path_ + "\" was announced with " + std::to_string(file_size_) +
           " bytes; " + std::to_string(file_done_ + data.size()) + " were written");
  emit(data);
  file_done_ += data.size();
}

void TarStreamWriter::end_file() {
  if (!in_file_) misuse("end_file outside a file entry");
  if (file_done_ != file_size_)
    misuse("file \"" + file_path_ + "\" was announced with " + std::to_string(file_size_) +
           " bytes; only " + std::to_string(file_done_) + " were written");
  emit(as_bytes(padding(file_size_)));
  in_file_ = false;
}

void TarStreamWriter::add_file(std::string_view path, std::string_view content, std::uint32_t mode,
                               std::int64_t mtime) {
  begin_file(path, content.size(), mode, mtime);
  write_data(as_bytes(content));
  end_file();
}

void TarStreamWriter::finish() {
  check_entry_allowed("end of archive");
  emit(as_bytes(std::string(2 * kTarBlockSize, '\0')));
  finished_ = true;
}

}  // namespace pgvault
