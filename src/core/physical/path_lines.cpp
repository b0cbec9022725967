// Line-per-file text objects (path_lines.hpp).
#include "pgvault/physical/path_lines.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/text.hpp"

#include <vector>

namespace pgvault {

PathLinesWriter::PathLinesWriter(Sink& out, std::string object)
    : out_(out), object_(std::move(object)) {}

void PathLinesWriter::add(std::string_view fields, const std::string& path) {
  if (path.empty() || path.find_first_of(std::string_view("\n\0", 2)) != std::string::npos)
    throw Error(ErrorKind::invalid_argument,
                object_ + ": path \"" + path + "\" is empty or holds a newline or NUL");
  if (!first_ && previous_ == path)
    throw Error(ErrorKind::invalid_argument, object_ + ": path \"" + path + "\" is listed twice");
  first_ = false;
  previous_ = path;
  text_.append(fields);
  text_ += ' ' + path + '\n';
  if (text_.size() >= 64 * 1024) {
    out_.write(as_bytes(text_));
    text_.clear();
  }
}

void PathLinesWriter::finish() {
  if (!text_.empty()) out_.write(as_bytes(text_));
  text_.clear();
}

void PathLineError::operator()(const std::string& what) const {
  throw Error(ErrorKind::corrupt, object_ + ", line " + std::to_string(line_) + ": " + what +
                                      " (expected \"" + std::string(form_) + "\", sorted by path)");
}

void parse_path_lines(
    std::string_view text, const std::string& object, std::string_view form,
    std::size_t field_count,
    const std::function<void(std::span<const std::string_view> fields, std::string_view path,
                             const PathLineError& fail)>& line) {
  std::string previous;
  std::vector<std::string_view> fields(field_count);
  for (std::size_t line_no = 1; !text.empty(); ++line_no) {
    const PathLineError fail(object, form, line_no);
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) fail("the last line has no newline (truncated?)");
    std::string_view rest = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    for (auto& f : fields) {
      const std::size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) fail("too few fields");
      f = rest.substr(0, sp);
      rest.remove_prefix(sp + 1);
    }
    if (rest.empty()) fail("empty path");
    if (rest.find('\0') != std::string_view::npos) fail("the path holds a NUL byte");
    line(fields, rest, fail);  // the fields' errors first
    if (line_no > 1 && !(previous < rest))
      fail("path \"" + quote_untrusted(rest) + "\" is out of order or repeated");
    previous = std::string(rest);
  }
}

ObjectEntry store_path_lines(Storage& storage, const std::string& directory, const char* name,
                             const EncryptionKey* key, const std::function<void(Sink&)>& write) {
  EncodeOptions options;
  options.encryption_key = key;
  EncodeChain object(storage, directory, name, options);
  write(object.input());
  return object.finish();
}

}  // namespace pgvault
