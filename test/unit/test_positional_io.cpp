#include "pgvault/error.hpp"
#include "pgvault/positional_io.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace

// Writes land at their offsets (a hole reads back as zeroes); a read past the
// end returns what is there.
TEST(PositionalIo, WritesAtOffsetsAndReadsToTheEnd) {
  TempDir dir;
  const std::string path = dir.str() + "/f";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  pwrite_fully(fd, bytes_of("tail"), 10, [] { return std::string("the tail"); });
  pwrite_fully(fd, bytes_of("head"), 0, [] { return std::string("the head"); });
  std::vector<std::byte> buf(32);
  const std::size_t got = pread_fully(fd, buf, 2, [] { return std::string("it"); });
  ::close(fd);
  EXPECT_EQ(got, 12u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), got),
            std::string("ad") + std::string(6, '\0') + "tail");
  EXPECT_EQ(slurp(path), std::string("head") + std::string(6, '\0') + "tail");
}

// A failure names what was being read or written, with the system's reason.
TEST(PositionalIo, FailuresSayWhat) {
  TempDir dir;
  const std::string path = dir.str() + "/f";
  const int ro = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(ro, 0);
  try {
    pwrite_fully(ro, bytes_of("x"), 0, [] { return std::string("block 7 of \"f\""); });
    ADD_FAILURE() << "a write into a read-only descriptor succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not write block 7 of \"f\""), std::string::npos)
        << e.what();
  }
  ::close(ro);
  const int wo = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(wo, 0);
  std::vector<std::byte> buf(8);
  try {
    (void)pread_fully(wo, buf, 0, [] { return std::string("\"f\""); });
    ADD_FAILURE() << "a read from a write-only descriptor succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not read \"f\""), std::string::npos) << e.what();
  }
  ::close(wo);
}
