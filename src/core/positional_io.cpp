#include "pgvault/positional_io.hpp"

#include "pgvault/error.hpp"

#include <cerrno>

#include <unistd.h>

namespace pgvault {

void pwrite_fully(int fd, std::span<const std::byte> data, std::uint64_t offset,
                  const std::function<std::string()>& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw_os_error("could not write " + what(), err);
    }
    done += static_cast<std::size_t>(n);
  }
}

std::size_t pread_fully(int fd, std::span<std::byte> buf, std::uint64_t offset,
                        const std::function<std::string()>& what) {
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw_os_error("could not read " + what(), err);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace pgvault
