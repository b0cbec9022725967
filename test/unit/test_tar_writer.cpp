// The streaming tar writer: its archives read back through pgvault's own
// extractor and through GNU tar, long names and link targets through pax
// headers, the size encoding of files of 8 GiB and more, and misuse refused.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/tar_writer.hpp"
#include "pgvault/restore/tar_extract.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMtime = 1764900000;  // 2025-12-05

std::map<std::string, ExtractedFile> extract(const std::string& archive, const std::string& dir,
                                             std::size_t chunk) {
  std::map<std::string, ExtractedFile> files;
  TarExtractOptions o;
  o.target_dir = dir;
  o.archive_name = "written.tar";
  o.on_file = [&](const ExtractedFile& f) { files[f.path] = f; };
  TarExtractor x(std::move(o));
  for (std::size_t i = 0; i < archive.size(); i += chunk)
    x.write(as_bytes(std::string_view(archive).substr(i, chunk)));
  x.finish();
  EXPECT_TRUE(x.saw_end_of_archive());
  return files;
}

// A path of `length` bytes under base/5/, made of directories of 50 characters.
std::string long_path(std::size_t length) {
  std::string p = "base/5/";
  while (p.size() + 51 < length) p += std::string(50, 'd') + "/";
  p += std::string(length - p.size(), 'f');
  return p;
}

std::string sample_archive(const std::string& long_name, const std::string& big_content) {
  StringSink out;
  TarStreamWriter tar(out);
  tar.add_directory("base", 0700, kMtime);
  tar.add_directory("base/5", 0700, kMtime);
  tar.add_file("PG_VERSION", "15\n", 0600, kMtime);
  tar.begin_file("base/5/16385", big_content.size(), 0600, kMtime);
  // Pieces that do not fall on block boundaries.
  for (std::size_t i = 0; i < big_content.size(); i += 777)
    tar.write_data(as_bytes(std::string_view(big_content).substr(i, 777)));
  tar.end_file();
  tar.add_file("base/5/empty", "", 0600, kMtime);
  tar.add_file(long_name, "long name content", 0600, kMtime);
  tar.add_symlink("pg_tblspc/16400", "/srv/" + std::string(120, 't'), kMtime);
  tar.finish();
  EXPECT_EQ(tar.bytes_written(), out.str().size());
  EXPECT_EQ(out.str().size() % kTarBlockSize, 0u);
  return out.str();
}

int run(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool have_gnu_tar() {
  return run("tar --version 2>/dev/null | grep -q 'GNU tar'") == 0;
}

}  // namespace

TEST(TarWriter, RoundTripsThroughPgvaultsExtractorInAnyChunking) {
  std::string big(20000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  const std::string name = long_path(180);
  const std::string archive = sample_archive(name, big);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{511}, std::size_t{1} << 20}) {
    TempDir d;
    auto files = extract(archive, d.str(), chunk);
    ASSERT_EQ(files.size(), 4u);
    EXPECT_EQ(files["PG_VERSION"].sha256, sha256_hex("15\n"));
    EXPECT_EQ(files["base/5/16385"].size, big.size());
    EXPECT_EQ(files["base/5/16385"].sha256, sha256_hex(big));
    EXPECT_EQ(files["base/5/empty"].size, 0u);
    EXPECT_EQ(files[name].sha256, sha256_hex("long name content"));
    EXPECT_EQ(slurp(d.path() / name), "long name content");
    EXPECT_EQ(fs::read_symlink(d.path() / "pg_tblspc/16400").string(),
              "/srv/" + std::string(120, 't'));
  }
}

TEST(TarWriter, GnuTarListsAndExtractsItWithLongNames) {
  if (!have_gnu_tar()) GTEST_SKIP() << "GNU tar is not installed";
  TempDir d;
  const std::string name = long_path(230);
  const std::string archive = sample_archive(name, std::string(5000, 'x'));
  {
    std::ofstream f(d.path() / "a.tar", std::ios::binary);
    f << archive;
  }
  ASSERT_EQ(run("tar -tvf '" + d.str() + "/a.tar' > '" + d.str() + "/list' 2>&1"), 0)
      << slurp(d.path() / "list");
  const std::string list = slurp(d.path() / "list");
  EXPECT_NE(list.find(name), std::string::npos) << list;
  EXPECT_NE(list.find("base/5/16385"), std::string::npos) << list;
  EXPECT_NE(list.find(" 5000 "), std::string::npos) << list;
  EXPECT_NE(list.find("-rw------- "), std::string::npos) << list;
  EXPECT_NE(list.find("2025-12-05"), std::string::npos) << list;
  fs::create_directory(d.path() / "out");
  ASSERT_EQ(run("tar -xf '" + d.str() + "/a.tar' -C '" + d.str() + "/out' 2>'" + d.str() + "/err'"),
            0)
      << slurp(d.path() / "err");
  EXPECT_EQ(slurp(d.path() / "out" / name), "long name content");
  EXPECT_EQ(slurp(d.path() / "out/base/5/16385"), std::string(5000, 'x'));
  EXPECT_EQ(slurp(d.path() / "out/PG_VERSION"), "15\n");
  EXPECT_EQ(fs::read_symlink(d.path() / "out/pg_tblspc/16400").string(),
            "/srv/" + std::string(120, 't'));
}

TEST(TarWriter, SizesOf8GiBAndMoreGoIntoAPaxHeader) {
  constexpr std::uint64_t kBig = 9ull << 30;  // 9 GiB
  const std::string small = tar_entry_headers("f", '0', kTarMaxOctalSize, 0600, kMtime);
  ASSERT_EQ(small.size(), kTarBlockSize);  // 8 GiB - 1 still fits in octal
  EXPECT_EQ(small.substr(124, 12), std::string("77777777777") + '\0');

  const std::string big = tar_entry_headers("base/5/16385", '0', kBig, 0600, kMtime);
  ASSERT_EQ(big.size(), 3 * kTarBlockSize);  // pax header, its records, the entry
  EXPECT_EQ(big[156], 'x');
  const std::string records = big.substr(kTarBlockSize, kTarBlockSize);
  EXPECT_EQ(records.substr(0, records.find('\0')), "19 size=9663676416\n");
  // The entry's own size field: GNU base-256, for readers without pax.
  const std::string entry = big.substr(2 * kTarBlockSize);
  EXPECT_EQ(static_cast<unsigned char>(entry[124]), 0x80u);
  std::uint64_t v = 0;
  for (int i = 125; i < 136; ++i) v = (v << 8) | static_cast<unsigned char>(entry[i]);
  EXPECT_EQ(v, kBig);

  if (!have_gnu_tar()) GTEST_SKIP() << "GNU tar is not installed";
  // GNU tar lists the header with its size, then stops at the missing data.
  TempDir d;
  StringSink out;
  TarStreamWriter tar(out);
  tar.begin_file("base/5/16385", kBig, 0600, kMtime);
  {
    std::ofstream f(d.path() / "big.tar", std::ios::binary);
    f << out.str() << std::string(4 * kTarBlockSize, '\0');
  }
  run("tar -tvf '" + d.str() + "/big.tar' > '" + d.str() + "/list' 2>/dev/null");
  const std::string list = slurp(d.path() / "list");
  EXPECT_NE(list.find("9663676416"), std::string::npos) << list;
  EXPECT_NE(list.find("base/5/16385"), std::string::npos) << list;
}

TEST(TarWriter, RefusesAnArchiveWhoseHeaderWouldDisagreeWithItsData) {
  StringSink out;
  TarStreamWriter tar(out);
  tar.begin_file("a", 10, 0600, kMtime);
  tar.write_data(as_bytes("12345"));
  expect_error([&] { tar.write_data(as_bytes("123456")); }, ErrorKind::invalid_argument,
               "announced with 10 bytes; 11 were written");
  expect_error([&] { tar.end_file(); }, ErrorKind::invalid_argument, "only 5 were written");
  expect_error([&] { tar.add_directory("d", 0700, kMtime); }, ErrorKind::invalid_argument,
               "inside file \"a\"");
  tar.write_data(as_bytes("67890"));
  tar.end_file();
  for (const char* bad : {"", "/etc/passwd", "a/../b", "./a", "a//b"}) {
    expect_error([&] { tar.add_file(bad, "x", 0600, kMtime); }, ErrorKind::invalid_argument,
                 "tar writer");
  }
  expect_error([&] { tar.write_data(as_bytes("x")); }, ErrorKind::invalid_argument,
               "outside a file entry");
  tar.finish();
  expect_error([&] { tar.add_file("b", "x", 0600, kMtime); }, ErrorKind::invalid_argument,
               "after the end of the archive");
  EXPECT_EQ(out.str().size(), 512u + 512u + 1024u);
}
