#include "pgvault/restore/tar_extract.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgvault {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kReadBuffer = 256 * 1024;      // hashing a hard link's target
constexpr std::uint64_t kMaxMetaSize = 1024 * 1024;  // GNU long names, pax records

// ustar header field offsets and lengths.
constexpr std::size_t kNameOff = 0, kNameLen = 100;
constexpr std::size_t kSizeOff = 124, kSizeLen = 12;
constexpr std::size_t kChksumOff = 148, kChksumLen = 8;
constexpr std::size_t kTypeOff = 156;
constexpr std::size_t kLinkOff = 157, kLinkLen = 100;
constexpr std::size_t kMagicOff = 257;
constexpr std::size_t kPrefixOff = 345, kPrefixLen = 155;

std::uint64_t padding_for(std::uint64_t size) {
  return (kBlock - size % kBlock) % kBlock;
}

std::string field_str(const std::array<std::byte, 512>& h, std::size_t off, std::size_t len) {
  const char* p = reinterpret_cast<const char*>(h.data()) + off;
  return std::string(p, strnlen(p, len));
}

// Octal (space/NUL padded) or GNU base-256 (high bit of the first byte set).
bool parse_number(const std::array<std::byte, 512>& h, std::size_t off, std::size_t len,
                  std::uint64_t& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(h.data()) + off;
  std::uint64_t v = 0;
  if (p[0] & 0x80) {
    if (p[0] & 0x40) return false;  // negative
    v = p[0] & 0x3f;
    for (std::size_t i = 1; i < len; ++i) {
      if (v >> 55) return false;
      v = (v << 8) | p[i];
    }
    out = v;
    return true;
  }
  std::size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return false;
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return false;
  }
  out = v;
  return any;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

TarExtractor::TarExtractor(TarExtractOptions options) : opts_(std::move(options)) {
  while (opts_.target_dir.size() > 1 && opts_.target_dir.back() == '/') opts_.target_dir.pop_back();
  if (opts_.claimed_only && !opts_.claim_file)
    throw Error(ErrorKind::invalid_argument, "claimed_only extraction needs a claim_file hook");
  // A scan writes nothing; the writer only hashes (FileWriterOptions::write_files).
  if (opts_.scan_only) opts_.writer.write_files = false;
  if (!opts_.claimed_only) writer_ = std::make_unique<FileWriter>(opts_.on_file, opts_.writer);
}

TarExtractor::~TarExtractor() = default;

// Before this thread touches the file system itself: the files queued so far
// must exist first (and a failure among them is reported before anything else).
void TarExtractor::catch_up_writer() {
  if (writer_) writer_->drain();
}

void TarExtractor::corrupt(const std::string& what) const {
  throw Error(ErrorKind::corrupt, "tar archive \"" + opts_.archive_name + "\": " + what);
}

std::string TarExtractor::full_path(const std::string& rel) const {
  return opts_.target_dir + "/" + rel;
}

// Normalizes an archive path ("./a//b/" -> "a/b") and refuses anything that
// could land outside the target directory.
std::string TarExtractor::checked_path(std::string_view raw, const char* what) const {
  if (!raw.empty() && raw.front() == '/') {
    corrupt(std::string(what) + " \"" + std::string(raw) +
            "\" is absolute; entries must be relative to the archive root");
  }
  std::string out;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t slash = raw.find('/', pos);
    if (slash == std::string_view::npos) slash = raw.size();
    std::string_view comp = raw.substr(pos, slash - pos);
    if (comp == "..") {
      corrupt(std::string(what) + " \"" + std::string(raw) +
              "\" contains a \"..\" component; entries must stay below the target directory");
    }
    if (!comp.empty() && comp != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(comp);
    }
    pos = slash + 1;
  }
  if (!symlinks_.empty()) {
    for (std::size_t p = out.find('/'); p != std::string::npos; p = out.find('/', p + 1)) {
      if (symlinks_.count(out.substr(0, p)) != 0) {
        corrupt(std::string(what) + " \"" + out + "\" lies below the symbolic link \"" +
                out.substr(0, p) + "\" of the same archive; refusing to write through it");
      }
    }
  }
  return out;
}

void TarExtractor::make_dir(const std::string& rel) {
  catch_up_writer();
  const std::string full = full_path(rel);
  if (::mkdir(full.c_str(), 0700) == 0) return;
  const int err = errno;
  if (err == EEXIST) {
    struct stat st;
    if (::lstat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    corrupt("\"" + rel +
            "\" must be a directory but the archive already created it as something else");
  }
  throw_os_error("could not create directory \"" + full + "\"", err);
}

void TarExtractor::ensure_parent_dirs(const std::string& rel) {
  const std::size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return;
  const std::string parent = rel.substr(0, slash);
  if (parent == last_parent_) return;
  for (std::size_t p = parent.find('/');; p = parent.find('/', p + 1)) {
    make_dir(parent.substr(0, p == std::string::npos ? parent.size() : p));
    if (p == std::string::npos) break;
  }
  last_parent_ = parent;
}

void TarExtractor::write(std::span<const std::byte> data) {
  while (!data.empty()) {
    switch (state_) {
      case State::end:
        return;  // trailing blocks after the end-of-archive marker
      case State::header: {
        const std::size_t n = std::min(kBlock - header_fill_, data.size());
        std::memcpy(header_.data() + header_fill_, data.data(), n);
        header_fill_ += n;
        data = data.subspan(n);
        if (header_fill_ == kBlock) {
          header_fill_ = 0;
          process_header();
        }
        break;
      }
      case State::file_data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
        consume_file_data(data.first(n));
        data = data.subspan(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          finish_file();
          after_data();
        }
        break;
      }
      case State::meta_data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
        meta_buf_.append(reinterpret_cast<const char*>(data.data()), n);
        data = data.subspan(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          finish_meta();
          after_data();
        }
        break;
      }
      case State::skip: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
        data = data.subspan(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::header;
        break;
      }
    }
  }
}

void TarExtractor::after_data() {
  if (padding_ > 0) {
    state_ = State::skip;
    remaining_ = padding_;
    padding_ = 0;
  } else {
    state_ = State::header;
  }
}

void TarExtractor::finish() {
  switch (state_) {
    case State::end:
      break;
    case State::header:
      if (header_fill_ == 0 && next_name_.empty() && next_link_.empty() && !next_size_set_) {
        break;  // stopped at an entry boundary (servers before PostgreSQL 15 sent no trailer)
      }
      corrupt("the archive is truncated inside an entry header");
    case State::file_data:
      corrupt("the archive is truncated inside file \"" + entry_path_ + "\" (" +
              std::to_string(remaining_) + " of " + std::to_string(entry_size_) +
              " bytes missing)");
    case State::meta_data:
    case State::skip:
      corrupt("the archive is truncated inside an entry");
  }
  catch_up_writer();
}

void TarExtractor::process_header() {
  const auto* raw = reinterpret_cast<const unsigned char*>(header_.data());
  if (std::all_of(raw, raw + kBlock, [](unsigned char c) { return c == 0; })) {
    if (saw_zero_block_) state_ = State::end;
    saw_zero_block_ = true;
    return;
  }
  if (saw_zero_block_) corrupt("found an entry after an end-of-archive block");

  std::uint64_t stored_sum = 0;
  if (!parse_number(header_, kChksumOff, kChksumLen, stored_sum)) {
    corrupt("an entry header has a malformed checksum field (not a tar archive?)");
  }
  std::uint64_t usum = 0;
  std::int64_t ssum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= kChksumOff && i < kChksumOff + kChksumLen;
    usum += in_field ? ' ' : raw[i];
    ssum += in_field ? ' ' : static_cast<signed char>(raw[i]);
  }
  if (stored_sum != usum && static_cast<std::int64_t>(stored_sum) != ssum) {
    corrupt("header checksum mismatch for entry \"" + field_str(header_, kNameOff, kNameLen) +
            "\"");
  }

  std::uint64_t size = 0;
  if (!parse_number(header_, kSizeOff, kSizeLen, size)) {
    corrupt("entry \"" + field_str(header_, kNameOff, kNameLen) + "\" has a malformed size field");
  }
  const char type = static_cast<char>(raw[kTypeOff]);

  if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
    if (size > kMaxMetaSize) {
      corrupt("extension header of " + std::to_string(size) + " bytes is larger than allowed (" +
              std::to_string(kMaxMetaSize) + ")");
    }
    meta_ = type == 'L'   ? Meta::gnu_long_name
            : type == 'K' ? Meta::gnu_long_link
            : type == 'x' ? Meta::pax
                          : Meta::pax_global;
    meta_buf_.clear();
    remaining_ = size;
    padding_ = padding_for(size);
    if (size == 0) {
      finish_meta();
      after_data();
    } else {
      state_ = State::meta_data;
    }
    return;
  }

  // POSIX ustar ("ustar\0") splits long names into prefix + name; GNU tar
  // ("ustar  \0") uses that area for other fields.
  const bool posix = std::memcmp(raw + kMagicOff, "ustar\0", 6) == 0;
  std::string name;
  if (!next_name_.empty()) {
    name = std::move(next_name_);
  } else {
    name = field_str(header_, kNameOff, kNameLen);
    if (posix) {
      std::string prefix = field_str(header_, kPrefixOff, kPrefixLen);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
  }
  std::string link =
      !next_link_.empty() ? std::move(next_link_) : field_str(header_, kLinkOff, kLinkLen);
  if (next_size_set_) size = next_size_;
  next_name_.clear();
  next_link_.clear();
  next_size_set_ = false;
  meta_ = Meta::none;

  begin_entry(type, std::move(name), std::move(link), size);
}

void TarExtractor::finish_meta() {
  const Meta m = meta_;
  meta_ = Meta::none;
  if (m == Meta::gnu_long_name || m == Meta::gnu_long_link) {
    std::string v(meta_buf_.c_str());  // NUL-terminated inside the data
    (m == Meta::gnu_long_name ? next_name_ : next_link_) = std::move(v);
  } else if (m == Meta::pax) {
    // Records: "<len> <key>=<value>\n", len counting the whole record.
    std::string_view buf(meta_buf_);
    while (!buf.empty()) {
      const std::size_t sp = buf.find(' ');
      if (sp == std::string_view::npos || sp == 0) corrupt("malformed pax extended header");
      std::uint64_t len = 0;
      for (std::size_t i = 0; i < sp; ++i) {
        if (buf[i] < '0' || buf[i] > '9' || len > buf.size()) {
          corrupt("malformed pax extended header record length");
        }
        len = len * 10 + static_cast<std::uint64_t>(buf[i] - '0');
      }
      if (len <= sp + 1 || len > buf.size() || buf[len - 1] != '\n') {
        corrupt("malformed pax extended header record");
      }
      std::string_view rec = buf.substr(sp + 1, len - sp - 2);
      const std::size_t eq = rec.find('=');
      if (eq == std::string_view::npos) corrupt("pax extended header record without '='");
      std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
      if (key == "path") {
        next_name_ = std::string(value);
      } else if (key == "linkpath") {
        next_link_ = std::string(value);
      } else if (key == "size") {
        std::uint64_t v = 0;
        if (value.empty() || value.size() > 19) corrupt("malformed pax size record");
        for (char c : value) {
          if (c < '0' || c > '9') corrupt("malformed pax size record");
          v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        next_size_ = v;
        next_size_set_ = true;
      }
      buf.remove_prefix(len);
    }
  }
  // Meta::pax_global: nothing PostgreSQL restores depends on it.
  meta_buf_.clear();
  meta_buf_.shrink_to_fit();
}

void TarExtractor::begin_entry(char type, std::string name, std::string link, std::uint64_t size) {
  const std::string rel = checked_path(name, "entry");
  remaining_ = 0;
  padding_ = 0;
  auto skip_data = [&] {
    remaining_ = size + padding_for(size);
    state_ = remaining_ > 0 ? State::skip : State::header;
  };

  const bool extracting = !opts_.scan_only && !opts_.claimed_only;
  switch (type) {
    case '0':
    case '\0':
    case '7': {
      if (rel.empty()) corrupt("a file entry has an empty path");
      if (extracting) ensure_parent_dirs(rel);  // a claimed entry's sink may write beside it
      claimed_ = opts_.claim_file ? opts_.claim_file(rel, size) : nullptr;
      if (claimed_ == nullptr && opts_.claimed_only) {
        skip_data();
        return;
      }
      if (claimed_ != nullptr) {
        // its data goes to the sink
      } else if (opts_.scan_only) {
        symlinks_.erase(rel);
        writer_->begin_file(rel, rel, size);
      } else {
        const std::string full = full_path(rel);
        if (symlinks_.erase(rel) != 0) {
          catch_up_writer();
          ::unlink(full.c_str());
        }
        writer_->begin_file(full, rel, size);
      }
      entry_path_ = rel;
      entry_size_ = size;
      remaining_ = size;
      padding_ = padding_for(size);
      if (size == 0) {
        finish_file();
        state_ = State::header;
      } else {
        state_ = State::file_data;
      }
      return;
    }
    case '5':
      if (!rel.empty() && extracting) {
        ensure_parent_dirs(rel);
        make_dir(rel);
      }
      skip_data();
      return;
    case '2': {
      if (rel.empty()) corrupt("a symbolic link entry has an empty path");
      if (link.empty()) corrupt("symbolic link \"" + rel + "\" has an empty target");
      if (opts_.scan_only || opts_.claimed_only) {
        symlinks_.insert(rel);  // later entries below it are refused, as when extracting
        skip_data();
        return;
      }
      ensure_parent_dirs(rel);
      catch_up_writer();
      const std::string full = full_path(rel);
      struct stat st;
      if (::lstat(full.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
          corrupt("symbolic link \"" + rel + "\" would replace a directory of the archive");
        }
        ::unlink(full.c_str());
      }
      if (::symlink(link.c_str(), full.c_str()) != 0) {
        throw_os_error("could not create symbolic link \"" + full + "\"", errno);
      }
      symlinks_.insert(rel);
      skip_data();
      return;
    }
    case '1': {
      if (rel.empty()) corrupt("a hard link entry has an empty path");
      const std::string target = checked_path(link, "hard link target");
      if (target.empty()) corrupt("hard link \"" + rel + "\" has an empty target");
      if (opts_.claimed_only) {
        skip_data();
        return;
      }
      if (opts_.scan_only) {
        symlinks_.erase(rel);
        ++files_;
        catch_up_writer();  // its target is judged first
        if (opts_.on_file) opts_.on_file(ExtractedFile{rel, 0, "", target, ""});
        skip_data();
        return;
      }
      ensure_parent_dirs(rel);
      catch_up_writer();  // the target must be complete on disk before it is linked and hashed
      const std::string full = full_path(rel);
      const std::string full_target = full_path(target);
      if (symlinks_.erase(rel) != 0) ::unlink(full.c_str());
      if (::link(full_target.c_str(), full.c_str()) != 0) {
        throw_os_error("could not create hard link \"" + full + "\" to \"" + full_target + "\"",
                       errno);
      }
      // Report it like a regular file: hash what it points to.
      Fd in(::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (in.get() < 0) throw_os_error("could not open \"" + full + "\"", errno);
      FileDigest h(opts_.writer.checksums);
      std::vector<std::byte> buf(kReadBuffer);
      std::uint64_t total = 0;
      for (;;) {
        const ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_os_error("could not read \"" + full + "\"", errno);
        if (n == 0) break;
        h.update(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
        total += static_cast<std::uint64_t>(n);
      }
      ++files_;
      ExtractedFile linked{rel, total, "", target, ""};
      h.finish_into(linked);
      if (opts_.on_file) opts_.on_file(linked);
      skip_data();
      return;
    }
    default: {
      std::string shown = (type >= 0x20 && type < 0x7f)
                              ? std::string(1, type)
                              : "\\x" + std::to_string(static_cast<unsigned char>(type));
      corrupt("entry \"" + rel + "\" has type '" + shown +
              "'; only regular files, directories, symbolic links and hard links are allowed");
    }
  }
}

void TarExtractor::consume_file_data(std::span<const std::byte> data) {
  if (claimed_ != nullptr) {
    claimed_->write(data);
    return;
  }
  bytes_ += data.size();
  writer_->append(data);
}

void TarExtractor::finish_file() {
  if (claimed_ != nullptr) {
    Sink* sink = claimed_;
    claimed_ = nullptr;
    ++claimed_files_;
    sink->finish();
    return;
  }
  ++files_;
  writer_->end_file();  // the writer reports the file once it is closed (or hashed)
}

}  // namespace pgvault
