#include "output_file.hpp"

#include "pgvault/error.hpp"

#include <cerrno>
#include <cstdio>
#include <iostream>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault::cli {

OutputFile::OutputFile(std::string path, mode_t mode)
    : path_(std::move(path)), partial_(path_ + ".partial") {
  fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd_ < 0) throw_os_error("could not create " + partial_, errno);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!done_) ::unlink(partial_.c_str());
}

void OutputFile::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_os_error("could not write " + partial_, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void OutputFile::commit() {
  if (::fsync(fd_) != 0) throw_os_error("could not fsync " + partial_, errno);
  if (::close(fd_) != 0) throw_os_error("could not close " + partial_, errno);
  fd_ = -1;
  if (::rename(partial_.c_str(), path_.c_str()) != 0)
    throw_os_error("could not rename " + partial_ + " to " + path_, errno);
  done_ = true;
}

void write_text_output(const std::string& path, std::string_view text) {
  if (path.empty() || path == "-") {
    std::cout << text << std::flush;
    return;
  }
  OutputFile file(path, 0644);
  file.write(text);
  file.commit();
}

}  // namespace pgvault::cli
