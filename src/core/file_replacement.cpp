#include "pgvault/file_replacement.hpp"

#include "pgvault/error.hpp"
#include "pgvault/positional_io.hpp"
#include "pgvault/text.hpp"

#include <cerrno>
#include <span>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgvault {

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_os_error("could not open directory " + quoted(dir), errno);
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    throw_os_error("could not fsync directory " + quoted(dir), e);
  }
  ::close(fd);
}

void replace_file(const std::string& path, std::string_view content, const FileReplacement& how) {
  const std::string& temp = how.temporary;
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, how.mode);
  if (fd < 0) throw_os_error("could not create " + quoted(temp), errno);
  auto fail = [&](const std::string& what, int e) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw_os_error(what, e);
  };
  if (::fchmod(fd, how.mode) != 0) fail("could not set the mode of " + quoted(temp), errno);
  try {
    pwrite_fully(fd, std::as_bytes(std::span(content.data(), content.size())), 0,
                 [&] { return quoted(temp); });
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (how.durable && ::fsync(fd) != 0) fail("could not fsync " + quoted(temp), errno);
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    throw_os_error("could not close " + quoted(temp), e);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    throw_os_error("could not rename " + quoted(temp) + " to " + quoted(path), e);
  }
  if (how.durable) fsync_directory(directory_of(path));
}

}  // namespace pgvault
