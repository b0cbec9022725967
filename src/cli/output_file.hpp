// A file that appears under its name only once complete (pgvault get -o,
// pgvault metrics -o for node_exporter's textfile collector, which must
// never read half a file): written as NAME.partial, fsynced and renamed over
// NAME; the partial file is removed when anything fails.
#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

namespace pgvault::cli {

class OutputFile {
 public:
  // mode: of the new file (before the umask).
  explicit OutputFile(std::string path, mode_t mode = 0600);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  int fd() const { return fd_; }
  void write(std::string_view data);
  // fsync, close, rename into place.
  void commit();

 private:
  std::string path_, partial_;
  int fd_ = -1;
  bool done_ = false;
};

// A command's whole text output: to standard output for "" or "-",
// otherwise into `path` through an OutputFile (mode 0644: metrics and
// reports are read by other users, such as node_exporter's).
void write_text_output(const std::string& path, std::string_view text);

}  // namespace pgvault::cli
