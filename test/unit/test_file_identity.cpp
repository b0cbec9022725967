// The file_identity object: written sorted, read back strictly, and made from
// a walk of a data directory (statx: device, inode, birth time).
#include "pgvault/error.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/pipeline/sink.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

std::string written(std::vector<FileIdentityRecord> records) {
  StringSink out;
  write_file_identity(out, std::move(records));
  return out.str();
}

const std::string kObject = "file_identity of backup \"b1\"";

}  // namespace

TEST(FileIdentity, WritesSortedLinesAndReadsThemBack) {
  const std::vector<FileIdentityRecord> records = {
      {"pg_tblspc/16400/PG_15_202209061/5/16401", 8192, {2049, 77, 0}},
      {"base/5/16385", 24576, {2049, 12345, 1764939600123456789}},
      {"base/5/16385 with space", 0, {0, 0, 0}}};
  const std::string text = written(records);
  EXPECT_EQ(text,
            "24576 2049 12345 1764939600123456789 base/5/16385\n"
            "0 0 0 0 base/5/16385 with space\n"
            "8192 2049 77 0 pg_tblspc/16400/PG_15_202209061/5/16401\n");
  const auto back = parse_file_identity(text, kObject);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], records[1]);
  EXPECT_EQ(back[1], records[2]);
  EXPECT_EQ(back[2], records[0]);
  EXPECT_TRUE(parse_file_identity("", kObject).empty());
  EXPECT_EQ(written({}), "");
}

TEST(FileIdentity, WriterRefusesPathsItCouldNotReadBack) {
  StringSink out;
  expect_error(
      [&] {
        write_file_identity(out, {{"a\nb", 1, {}}});
      },
      ErrorKind::invalid_argument, "newline");
  expect_error(
      [&] {
        write_file_identity(out, {{"", 1, {}}});
      },
      ErrorKind::invalid_argument, "empty");
  expect_error(
      [&] {
        write_file_identity(out, {{"a", 1, {}}, {"a", 2, {}}});
      },
      ErrorKind::invalid_argument, "listed twice");
}

TEST(FileIdentity, ReaderRejectsEveryMalformedLineNamingIt) {
  const std::string good = "8192 1 2 3 base/5/1\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"8192 1 2 3 base/5/1", "line 1: the last line has no newline"},
      {good + "8192 1 2 base/5/2\n", "line 2: too few fields"},
      {good + "8192 1 2 3 \n", "line 2: empty path"},
      {good + "-1 1 2 3 base/5/2\n", "line 2: malformed size \"-1\""},
      {good + "+1 1 2 3 base/5/2\n", "line 2: malformed size"},
      {good + "08 1 2 3 base/5/2\n", "line 2: malformed size \"08\""},
      {good + "99999999999999999999 1 2 3 base/5/2\n", "line 2: malformed size"},
      {good + "1 x 2 3 base/5/2\n", "line 2: malformed device"},
      {good + "1 1 2.5 3 base/5/2\n", "line 2: malformed inode"},
      {good + "1 1 2 -3 base/5/2\n", "line 2: malformed birth time"},
      {good + "1 1 2 9223372036854775808 base/5/2\n", "line 2: malformed birth time"},
      {good + "1  1 2 3 base/5/2\n", "line 2: malformed device \"\""},
      {good + good, "line 2: path \"base/5/1\" is out of order or repeated"},
      {"8192 1 2 3 base/5/2\n" + good, "line 2: path \"base/5/1\" is out of order"},
      {good + std::string("1 1 2 3 a\0b\n", 12), "line 2: the path holds a NUL"},
  };
  for (const auto& [text, needle] : cases) {
    SCOPED_TRACE(text);
    expect_error([&] { parse_file_identity(text, kObject); }, ErrorKind::corrupt,
                 kObject + ", " + needle);
  }
}

TEST(FileIdentity, RelationFilesOfAWalkWithTheirStatxIdentity) {
  TempDir d;
  const fs::path data = d.path() / "data";
  const fs::path space = d.path() / "ts";
  put_file(data / "PG_VERSION", 3);
  put_file(data / "global/pg_control", 8192);
  put_file(data / "global/1262", 8192);
  put_file(data / "base/5/16385", 16384);
  put_file(data / "base/5/16385_vm", 8192);
  put_file(data / "base/5/PG_VERSION", 3);
  put_file(data / "pg_xact/0000", 8192);
  put_file(space / "PG_15_202209061/5/16401", 8192);
  fs::create_directories(data / "pg_tblspc");
  fs::create_directory_symlink(space, data / "pg_tblspc/16400");

  const auto listing = list_data_directory(data);
  const auto records = relation_file_identities(listing);
  std::vector<std::string> paths;
  for (const auto& r : records) paths.push_back(r.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"base/5/16385", "base/5/16385_vm", "global/1262",
                                             "pg_tblspc/16400/PG_15_202209061/5/16401"}));
  for (const auto& r : records) {
    const fs::path source = r.path.rfind("pg_tblspc/", 0) == 0
                                ? space / r.path.substr(std::string("pg_tblspc/16400/").size())
                                : data / r.path;
    struct stat st {};
    ASSERT_EQ(::stat(source.c_str(), &st), 0) << source;
    EXPECT_EQ(r.identity.inode, st.st_ino) << r.path;
    EXPECT_EQ(r.identity.device, st.st_dev) << r.path;
    EXPECT_EQ(r.size, static_cast<std::uint64_t>(st.st_size)) << r.path;
    EXPECT_GE(r.identity.birth_time_ns, 0);
  }
  // A file replaced under its name is another file.
  const auto before = stat_file_identity(data / "base/5/16385");
  put_file(data / "base/5/16385.new", 16384);
  fs::rename(data / "base/5/16385.new", data / "base/5/16385");
  const auto after = stat_file_identity(data / "base/5/16385");
  ASSERT_TRUE(before && after);
  EXPECT_NE(before->identity, after->identity);
  EXPECT_FALSE(stat_file_identity(data / "base/5/gone").has_value());
}
