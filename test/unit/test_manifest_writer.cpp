// The backup_manifest writer: PostgreSQL's own format, read back by
// BackupManifest::parse and accepted by PostgreSQL's pg_verifybackup.
#include "pgvault/error.hpp"
#include "pgvault/physical/manifest_writer.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/restore/manifest.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <sys/wait.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kVerifyBackup = "/usr/lib/postgresql/15/bin/pg_verifybackup";
constexpr std::int64_t kMtime = 1764939600;  // 2025-12-05 13:00:00 UTC

std::string write_manifest(const std::vector<ManifestFileEntry>& files,
                           const std::vector<ManifestWalRange>& wal) {
  StringSink out;
  BackupManifestWriter w(out);
  for (const auto& f : files) w.add_file(f);
  w.finish(wal);
  return out.str();
}

int run(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST(ManifestWriter, WritesPostgresqlsFormatByteForByte) {
  const std::string text = write_manifest(
      {{"PG_VERSION", 3, kMtime, sha256_hex("15\n")}, {"base/5/16385", 16384, kMtime, ""}},
      {{1, Lsn{0x2000028}, Lsn{0x2000100}}});
  const std::string body =
      "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
      "\"Files\": [\n"
      "{ \"Path\": \"PG_VERSION\", \"Size\": 3, \"Last-Modified\": \"2025-12-05 13:00:00 GMT\", "
      "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" +
      sha256_hex("15\n") +
      "\" },\n"
      "{ \"Path\": \"base/5/16385\", \"Size\": 16384, \"Last-Modified\": \"2025-12-05 13:00:00 "
      "GMT\", \"Checksum-Algorithm\": \"NONE\" }\n"
      "],\n"
      "\"WAL-Ranges\": [\n"
      "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n"
      "],\n";
  EXPECT_EQ(text, body + "\"Manifest-Checksum\": \"" + sha256_hex(body) + "\"}\n");
}

TEST(ManifestWriter, BackupManifestParseReadsItBack) {
  std::string odd = "base/5/odd\"name\\with\ttab";
  std::string latin1 = "base/5/caf\xe9";  // not UTF-8: Encoded-Path
  const std::string text =
      write_manifest({{"PG_VERSION", 3, kMtime, sha256_hex("15\n")},
                      {"base/5/16385", 24576, kMtime, ""},
                      {odd, 1, kMtime, sha256_hex("x")},
                      {latin1, 2, kMtime, ""},
                      {"pg_tblspc/16400/PG_15_202209061/5/16401", 8192, kMtime, ""}},
                     {{1, Lsn{0x1000000}, Lsn{0x2000000}}, {2, Lsn{0x2000000}, Lsn{0x3000100}}});
  EXPECT_NE(text.find("\"Encoded-Path\": \"626173652f352f636166e9\""), std::string::npos) << text;
  const BackupManifest m = BackupManifest::parse(text);
  ASSERT_EQ(m.files().size(), 5u);
  EXPECT_EQ(m.total_size(), 3u + 24576 + 1 + 2 + 8192);
  ASSERT_NE(m.find("base/5/16385"), nullptr);
  EXPECT_EQ(m.find("base/5/16385")->checksum_algorithm, "NONE");
  EXPECT_EQ(m.find("base/5/16385")->checksum, "");
  ASSERT_NE(m.find(odd), nullptr);
  EXPECT_EQ(m.find(odd)->checksum, sha256_hex("x"));
  ASSERT_NE(m.find(latin1), nullptr);
  EXPECT_EQ(m.find("PG_VERSION")->checksum_algorithm, "SHA256");
  // A changed byte breaks its Manifest-Checksum.
  std::string damaged = text;
  damaged[damaged.find("24576")] = '3';
  expect_error([&] { BackupManifest::parse(damaged); }, ErrorKind::corrupt, "Manifest-Checksum");
}

TEST(ManifestWriter, RefusesWhatPostgresqlWouldNotWrite) {
  StringSink out;
  BackupManifestWriter w(out);
  expect_error([&] { w.add_file({"", 1, kMtime, ""}); }, ErrorKind::invalid_argument, "empty path");
  expect_error(
      [&] {
        w.add_file({"a", 1, kMtime, "ABC"});
      },
      ErrorKind::invalid_argument, "SHA-256");
  ManifestFileEntry two{"a", 1, kMtime, sha256_hex("a"), crc32c_manifest_hex("a")};
  expect_error([&] { w.add_file(two); }, ErrorKind::invalid_argument, "two checksums");
  ManifestFileEntry short_crc{"a", 1, kMtime, "", "0123"};
  expect_error([&] { w.add_file(short_crc); }, ErrorKind::invalid_argument, "CRC-32C");
  expect_error([&] { w.finish({}); }, ErrorKind::invalid_argument, "WAL range");
  w.finish({{1, Lsn{1}, Lsn{2}}});
  expect_error(
      [&] {
        w.add_file({"a", 1, kMtime, ""});
      },
      ErrorKind::invalid_argument, "after the end");
}

// pg_verifybackup (PostgreSQL 15) accepts a directory described by a written
// manifest: whole files by their SHA-256, reconstructed ones ("NONE") by size.
TEST(ManifestWriter, PgVerifybackupAcceptsIt) {
  if (!fs::exists(kVerifyBackup)) GTEST_SKIP() << kVerifyBackup << " is not installed";
  TempDir d;
  const std::map<std::string, std::string> files = {
      {"PG_VERSION", "15\n"},
      {"global/pg_control", std::string(8192, '\1')},
      {"base/5/16385", std::string(16384, '\2')},
      {"backup_label", "START WAL LOCATION: 0/2000028\n"}};
  std::vector<ManifestFileEntry> entries;
  for (const auto& [path, content] : files) {
    put_file(d.path() / path, content);
    entries.push_back(
        {path, content.size(), kMtime, path == "base/5/16385" ? "" : sha256_hex(content)});
  }
  // CRC-32C, as incrementals write it (and full backups ask the server for):
  // pg_verifybackup checks it byte for byte against PostgreSQL's own CRC.
  for (auto& e : entries) {
    if (e.path != "global/pg_control") continue;
    e.sha256.clear();
    e.crc32c = crc32c_manifest_hex(files.at(e.path));
  }
  fs::create_directories(d.path() / "pg_wal");
  put_file(d.path() / "backup_manifest",
           write_manifest(entries, {{1, Lsn{0x2000028}, Lsn{0x2000100}}}));
  const std::string log = d.str() + "/../verify-" + d.path().filename().string() + ".log";
  const int rc =
      run(std::string(kVerifyBackup) + " --no-parse-wal '" + d.str() + "' >'" + log + "' 2>&1");
  EXPECT_EQ(rc, 0) << slurp(log);
  EXPECT_NE(slurp(log).find("backup successfully verified"), std::string::npos) << slurp(log);

  // And it notices a file that differs: the check is real, for either checksum.
  put_file(d.path() / "global/pg_control", std::string(8191, '\1') + '\3');
  EXPECT_NE(
      run(std::string(kVerifyBackup) + " --no-parse-wal '" + d.str() + "' >'" + log + "' 2>&1"), 0);
  EXPECT_NE(slurp(log).find("global/pg_control"), std::string::npos) << slurp(log);
  put_file(d.path() / "global/pg_control", files.at("global/pg_control"));
  put_file(d.path() / "PG_VERSION", "16\n");
  EXPECT_NE(
      run(std::string(kVerifyBackup) + " --no-parse-wal '" + d.str() + "' >'" + log + "' 2>&1"), 0);
  EXPECT_NE(slurp(log).find("PG_VERSION"), std::string::npos) << slurp(log);
  fs::remove(log);
}
