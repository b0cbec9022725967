#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/tar_extract.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace pgvault;
namespace fs = std::filesystem;

namespace {

// A minimal tar writer, enough to produce what PostgreSQL's server sends
// (ustar with name + prefix) and the GNU/pax extensions.
class TarWriter {
 public:
  void file(const std::string& name, const std::string& content, const std::string& prefix = "") {
    header(name, '0', content.size(), "", prefix);
    data(content);
  }
  void dir(const std::string& name) { header(name, '5', 0); }
  void symlink(const std::string& name, const std::string& target) { header(name, '2', 0, target); }
  void hardlink(const std::string& name, const std::string& target) {
    header(name, '1', 0, target);
  }
  void gnu_long_name_file(const std::string& name, const std::string& content) {
    header("././@LongLink", 'L', name.size() + 1);
    data(name + std::string(1, '\0'));
    header(name.substr(0, 99), '0', content.size());
    data(content);
  }
  void pax_path_file(const std::string& name, const std::string& content) {
    std::string rec = " path=" + name + "\n";
    std::size_t len = rec.size() + 1;
    while (std::to_string(len).size() + rec.size() != len) ++len;
    rec = std::to_string(len) + rec;
    header("PaxHeaders/x", 'x', rec.size());
    data(rec);
    header("short-name", '0', content.size());
    data(content);
  }
  void end() { out_.append(1024, '\0'); }

  void header(const std::string& name, char type, std::uint64_t size, const std::string& link = "",
              const std::string& prefix = "") {
    char h[512];
    std::memset(h, 0, sizeof h);
    std::memcpy(h, name.data(), std::min<std::size_t>(name.size(), 100));
    std::snprintf(h + 100, 8, "%07o", type == '5' ? 0700 : 0600);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size));
    std::snprintf(h + 136, 12, "%011o", 1700000000);
    h[156] = type;
    std::memcpy(h + 157, link.data(), std::min<std::size_t>(link.size(), 100));
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    std::memcpy(h + 345, prefix.data(), std::min<std::size_t>(prefix.size(), 155));
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : std::string_view(h, 512)) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    out_.append(h, 512);
  }
  void data(const std::string& content) {
    out_ += content;
    out_.append((512 - content.size() % 512) % 512, '\0');
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pgvault-tar-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
    extract(archive, d.path(), 4096);
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
    const Result r = extract(t.str(), d.path(), chunk);
    ASSERT_EQ(r.files.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(slurp(d.path() + "/PG_VERSION"), "15\n");
    EXPECT_EQ(slurp(d.path() + "/base/5/1234"), big);
    EXPECT_EQ(r.files.at("base/5/1234").size, big.size());
    EXPECT_EQ(r.files.at("base/5/1234").sha256, sha256_hex(big));
    EXPECT_EQ(r.files.at("base/5/empty").sha256, sha256_hex(""));
    EXPECT_EQ(slurp(d.path() + "/global/pg_control"), std::string(8192, 'c'));
    EXPECT_EQ(mode_of(d.path() + "/base/5/1234"), 0600u);
    EXPECT_EQ(mode_of(d.path() + "/base/5"), 0700u);
    EXPECT_EQ(mode_of(d.path() + "/global"), 0700u);
    EXPECT_EQ(fs::read_symlink(d.path() + "/pg_tblspc/16385").string(), "/srv/tablespace");
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
  const Result r = extract(t.str(), d.path(), 100);
  EXPECT_EQ(slurp(d.path() + "/" + dir + "/" + leaf), "prefixed");
  EXPECT_EQ(slurp(d.path() + "/" + gnu), "gnu");
  EXPECT_EQ(slurp(d.path() + "/" + pax), "pax");
  EXPECT_EQ(r.files.count(dir + "/" + leaf), 1u);
  EXPECT_EQ(r.files.count(gnu), 1u);
  EXPECT_EQ(r.files.count(pax), 1u);
  EXPECT_FALSE(fs::exists(d.path() + "/short-name"));
}

TEST(TarExtract, HardLinkIsReportedLikeAFile) {
  TarWriter t;
  t.file("a", "same content");
  t.hardlink("b", "a");
  t.end();
  TempDir d;
  const Result r = extract(t.str(), d.path(), 512);
  ASSERT_EQ(r.files.count("b"), 1u);
  EXPECT_EQ(r.files.at("b").sha256, sha256_hex("same content"));
  EXPECT_EQ(slurp(d.path() + "/b"), "same content");
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
  const Result r = extract(t.str(), d.path(), 512);
  EXPECT_EQ(r.files.size(), 1u);
}

TEST(TarExtract, CallbackErrorStopsExtraction) {
  TarWriter t;
  t.file("a", "1");
  t.file("b", "2");
  t.end();
  TempDir d;
  TarExtractOptions o;
  o.target_dir = d.path();
  o.on_file = [](const ExtractedFile& f) {
    if (f.path == "a") throw Error(ErrorKind::corrupt, "stop");
  };
  TarExtractor x(std::move(o));
  EXPECT_THROW(x.write(as_bytes(t.str())), Error);
  EXPECT_FALSE(fs::exists(d.path() + "/b"));
}
