// The text objects of a backup that hold one line per file with the file's
// backup_manifest path last (file_identity, changed_blocks):
//   <field> ... <field> <path>\n
// sorted by path byte-wise, no path twice; the path is the rest of the line,
// not empty, no NUL. Each object's header says what its fields are.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace pgvault {

class EncryptionKey;
class Sink;
class Storage;
struct ObjectEntry;

// Writes lines into a Sink in 64 kB pieces (without finishing it).
class PathLinesWriter {
 public:
  // object: names it in errors ("file_identity").
  PathLinesWriter(Sink& out, std::string object);
  // One line: the fields (space-separated, without the path), then the
  // path. Paths must come sorted (the caller sorts); Error(invalid_argument)
  // for an empty path, one with a newline or NUL, or one listed twice.
  void add(std::string_view fields, const std::string& path);
  // Writes what is left.
  void finish();

 private:
  Sink& out_;
  std::string object_;
  std::string text_;
  std::string previous_;
  bool first_ = true;
};

// What a line parser calls when a line is wrong: Error(corrupt) "<object>,
// line N: <what> (expected \"<form>\", sorted by path)".
class PathLineError {
 public:
  PathLineError(const std::string& object, std::string_view form, std::size_t line)
      : object_(object), form_(form), line_(line) {}
  [[noreturn]] void operator()(const std::string& what) const;

 private:
  const std::string& object_;
  std::string_view form_;
  std::size_t line_;
};

// Reads every line of text: its first `field_count` space-separated fields
// and its path, checked as above (a last line without its newline, too few
// fields, an empty path, a NUL, a path out of order or repeated are
// errors; `line` is called before the order is checked, so that a line's
// own errors are named first), with the error to raise for what it finds
// wrong in the fields. form: the line as the error shows it ("<size> ...
// <path>").
void parse_path_lines(
    std::string_view text, const std::string& object, std::string_view form,
    std::size_t field_count,
    const std::function<void(std::span<const std::string_view> fields, std::string_view path,
                             const PathLineError& fail)>& line);

// Stores such an object, `name`, of the backup in `directory`
// (Repository::backup_dir) through an EncodeChain: encrypted with key when
// given, not compressed (the next incremental or a restore reads it whole).
// `write` writes its lines into the sink. Returns the committed object for
// backup.json.
ObjectEntry store_path_lines(Storage& storage, const std::string& directory, const char* name,
                             const EncryptionKey* key, const std::function<void(Sink&)>& write);

}  // namespace pgvault
