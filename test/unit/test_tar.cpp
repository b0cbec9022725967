#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/tar_extract.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const std::string& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

struct Result {
  std::map<std::string, ExtractedFile> files;
};

Result extract(const std::string& archive, const std::string& dir, std::size_t chunk) {
  Result r;
  TarExtractOptions o;
  o.target_dir = dir;
  o.archive_name = "test.tar";
  o.on_file = [&](const ExtractedFile& f) { r.files[f.path] = f; };
  TarExtractor x(std::move(o));
  for (std::size_t i = 0; i < archive.size(); i += chunk) {
    x.write(as_bytes(std::string_view(archive).substr(i, chunk)));
  }
  x.finish();
  return r;
}

std::string expect_corrupt(const std::string& archive) {
  TempDir d;
  try {
    extract(archive, d.str(), 4096);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "extraction succeeded";
  return "";
}

}  // namespace

TEST(TarExtract, FilesDirsSymlinksInAnyChunking) {
  std::string big(700 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  TarWriter t;
  t.file("PG_VERSION", "15\n");
  t.dir("base/");
  t.dir("base/5/");
  t.file("base/5/1234", big);
  t.file("base/5/empty", "");
  t.file("global/pg_control", std::string(8192, 'c'));  // parent not in the archive
  t.dir("pg_tblspc/");
  t.symlink("pg_tblspc/16385", "/srv/tablespace");
  t.end();
  t.str().append(8192, '\0');  // tar blocking after the trailer is ignored

  for (std::size_t chunk : {1u, 511u, 512u, 4096u, 1u << 20}) {
    TempDir d;
    const Result r = extract(t.str(), d.str(), chunk);
    ASSERT_EQ(r.files.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(slurp(d.str() + "/PG_VERSION"), "15\n");
    EXPECT_EQ(slurp(d.str() + "/base/5/1234"), big);
    EXPECT_EQ(r.files.at("base/5/1234").size, big.size());
    EXPECT_EQ(r.files.at("base/5/1234").sha256, sha256_hex(big));
    EXPECT_EQ(r.files.at("base/5/empty").sha256, sha256_hex(""));
    EXPECT_EQ(slurp(d.str() + "/global/pg_control"), std::string(8192, 'c'));
    EXPECT_EQ(mode_of(d.str() + "/base/5/1234"), 0600u);
    EXPECT_EQ(mode_of(d.str() + "/base/5"), 0700u);
    EXPECT_EQ(mode_of(d.str() + "/global"), 0700u);
    EXPECT_EQ(fs::read_symlink(d.str() + "/pg_tblspc/16385").string(), "/srv/tablespace");
  }
}

// The restore of an incremental claims entries: their data goes to the
// caller's sink instead of a file, their parent directories exist first; with
// claimed_only nothing else is created, hashed or reported.
TEST(TarExtract, ClaimedEntriesGoToTheCallersSink) {
  TarWriter t;
  t.dir("base/");
  t.file("base/5/INCREMENTAL.16385", std::string(10000, 'i'));
  t.file("base/5/16386", "whole");
  t.symlink("pg_tblspc/16385", "/srv/tablespace");
  t.hardlink("base/5/link", "base/5/16386");
  t.end();
  for (bool claimed_only : {false, true}) {
    TempDir d;
    StringSink claimed;
    std::vector<std::string> reported, asked;
    TarExtractOptions o;
    o.target_dir = d.str();
    o.claimed_only = claimed_only;
    o.on_file = [&](const ExtractedFile& f) { reported.push_back(f.path); };
    o.claim_file = [&](const std::string& path, std::uint64_t size) -> Sink* {
      asked.push_back(path + ":" + std::to_string(size));
      if (path != "base/5/INCREMENTAL.16385") return nullptr;
      EXPECT_EQ(fs::is_directory(d.path() / "base/5"), !claimed_only) << "parents made first";
      return &claimed;
    };
    TarExtractor x(std::move(o));
    for (std::size_t at = 0; at < t.str().size(); at += 700)
      x.write(as_bytes(std::string_view(t.str()).substr(at, 700)));
    x.finish();
    EXPECT_EQ(claimed.str(), std::string(10000, 'i'));
    EXPECT_EQ(x.claimed_files(), 1u);
    EXPECT_EQ(asked,
              (std::vector<std::string>{"base/5/INCREMENTAL.16385:10000", "base/5/16386:5"}));
    EXPECT_FALSE(fs::exists(d.path() / "base/5/INCREMENTAL.16385"));
    if (claimed_only) {
      EXPECT_TRUE(reported.empty());
      EXPECT_TRUE(fs::is_empty(d.path())) << "nothing created";
    } else {
      EXPECT_EQ(reported, (std::vector<std::string>{"base/5/16386", "base/5/link"}));
      EXPECT_EQ(slurp(d.path() / "base/5/16386"), "whole");
    }
  }
}

TEST(TarExtract, LongNamesViaPrefixGnuAndPax) {
  const std::string dir = "base/" + std::string(120, 'd');
  const std::string leaf = std::string(90, 'f');
  TarWriter t;
  t.file(leaf, "prefixed", dir);  // ustar: name + 155-byte prefix
  const std::string gnu = "base/" + std::string(150, 'g') + "/file";
  t.gnu_long_name_file(gnu, "gnu");
  const std::string pax = "base/" + std::string(200, 'p') + "/file";
  t.pax_path_file(pax, "pax");
  t.end();
  TempDir d;
  const Result r = extract(t.str(), d.str(), 100);
  EXPECT_EQ(slurp(d.str() + "/" + dir + "/" + leaf), "prefixed");
  EXPECT_EQ(slurp(d.str() + "/" + gnu), "gnu");
  EXPECT_EQ(slurp(d.str() + "/" + pax), "pax");
  EXPECT_EQ(r.files.count(dir + "/" + leaf), 1u);
  EXPECT_EQ(r.files.count(gnu), 1u);
  EXPECT_EQ(r.files.count(pax), 1u);
  EXPECT_FALSE(fs::exists(d.str() + "/short-name"));
}

TEST(TarExtract, HardLinkIsReportedLikeAFile) {
  TarWriter t;
  t.file("a", "same content");
  t.hardlink("b", "a");
  t.end();
  TempDir d;
  const Result r = extract(t.str(), d.str(), 512);
  ASSERT_EQ(r.files.count("b"), 1u);
  EXPECT_EQ(r.files.at("b").sha256, sha256_hex("same content"));
  EXPECT_EQ(slurp(d.str() + "/b"), "same content");
}

TEST(TarExtract, RefusesEscapingPaths) {
  {
    TarWriter t;
    t.file("base/../../etc/passwd", "x");
    t.end();
    EXPECT_NE(expect_corrupt(t.str()).find(".."), std::string::npos);
  }
  {
    TarWriter t;
    t.file("/etc/passwd", "x");
    t.end();
    EXPECT_NE(expect_corrupt(t.str()).find("absolute"), std::string::npos);
  }
  {
    TarWriter t;
    t.symlink("escape", "/tmp");
    t.file("escape/owned", "x");
    t.end();
    EXPECT_NE(expect_corrupt(t.str()).find("symbolic link"), std::string::npos);
  }
  {
    TarWriter t;
    t.hardlink("h", "../outside");
    t.end();
    expect_corrupt(t.str());
  }
}

TEST(TarExtract, TruncatedOrDamagedArchivesAreCorrupt) {
  TarWriter t;
  t.file("PG_VERSION", "15\n");
  t.file("base/5/1234", std::string(5000, 'x'));
  t.end();
  const std::string& full = t.str();
  // Cut inside the second file's data.
  EXPECT_NE(expect_corrupt(full.substr(0, 512 + 512 + 512 + 1000)).find("truncated"),
            std::string::npos);
  // Cut inside a header.
  EXPECT_NE(expect_corrupt(full.substr(0, 1024 + 100)).find("truncated"), std::string::npos);
  // Header checksum damaged.
  std::string bad = full;
  bad[1024 + 10] ^= 1;
  EXPECT_NE(expect_corrupt(bad).find("checksum"), std::string::npos);
  // Device nodes are not part of a data directory.
  TarWriter dev;
  dev.header("dev/null", '3', 0);
  dev.end();
  EXPECT_NE(expect_corrupt(dev.str()).find("type"), std::string::npos);
}

TEST(TarExtract, MissingTrailerAtEntryBoundaryIsAccepted) {
  TarWriter t;
  t.file("PG_VERSION", "15\n");
  TempDir d;
  const Result r = extract(t.str(), d.str(), 512);
  EXPECT_EQ(r.files.size(), 1u);
}

TEST(TarExtract, CallbackErrorStopsExtraction) {
  TarWriter t;
  t.file("a", "1");
  t.file("b", "2");
  t.end();
  TempDir d;
  TarExtractOptions o;
  o.target_dir = d.str();
  o.on_file = [](const ExtractedFile& f) {
    if (f.path == "a") throw Error(ErrorKind::corrupt, "stop");
  };
  TarExtractor x(std::move(o));
  // Files are written and reported on the writer thread: the error comes out
  // of write() or, at the latest, finish().
  EXPECT_THROW(
      {
        x.write(as_bytes(t.str()));
        x.finish();
      },
      Error);
  EXPECT_FALSE(fs::exists(d.str() + "/b"));
}
