#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/manifest.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;

namespace {

std::vector<ManifestEntry> sample() {
  return {{"backup_label", 225, sha256_hex("label")},
          {"base/5/1234", 8192, sha256_hex("page")},
          {"global/pg_control", 8192, sha256_hex("control")},
          {"pg_tblspc/16385/PG_15_202209061/5/16386", 16384, sha256_hex("ts")}};
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no pgvault::Error thrown";
  return ErrorKind::internal;
}

}  // namespace

TEST(Manifest, ParsesPostgresLayoutAndChecksum) {
  const auto m = BackupManifest::parse(make_manifest(sample()));
  ASSERT_EQ(m.files().size(), 4u);
  const ManifestFile* f = m.find("base/5/1234");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size, 8192u);
  EXPECT_EQ(f->checksum_algorithm, "SHA256");
  EXPECT_EQ(f->checksum, sha256_hex("page"));
  EXPECT_NE(m.find("pg_tblspc/16385/PG_15_202209061/5/16386"), nullptr);
  EXPECT_EQ(m.find("base/5/9999"), nullptr);
  EXPECT_EQ(m.total_size(), 225u + 8192 + 8192 + 16384);
}

TEST(Manifest, ChecksumMismatchIsCorrupt) {
  std::string text = make_manifest(sample());
  const auto pos = text.find("\"Size\": 8192");
  ASSERT_NE(pos, std::string::npos);
  text[pos + 9] = '7';  // 8192 -> 7192, checksum left as it was
  try {
    BackupManifest::parse(text);
    FAIL() << "expected a checksum mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt);
    EXPECT_NE(std::string(e.what()).find("Manifest-Checksum"), std::string::npos) << e.what();
  }
}

TEST(Manifest, EncodedPathIsDecoded) {
  auto files = sample();
  files.push_back({std::string("base/5/caf\xe9", 11), 10, sha256_hex("x"), true});
  const auto m = BackupManifest::parse(make_manifest(files));
  const ManifestFile* f = m.find(std::string("base/5/caf\xe9", 11));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size, 10u);
}

TEST(Manifest, MalformedInputsAreRefused) {
  // not JSON
  EXPECT_EQ(kind_of([] { BackupManifest::parse("hello\nworld\n"); }), ErrorKind::corrupt);
  // no trailing newline
  std::string text = make_manifest(sample());
  text.pop_back();
  EXPECT_EQ(kind_of([&] { BackupManifest::parse(text); }), ErrorKind::corrupt);
  // odd-length Encoded-Path
  std::string bad = make_manifest({{"x", 1, sha256_hex("x"), true}});
  const auto p = bad.find("\"Encoded-Path\": \"78\"");
  ASSERT_NE(p, std::string::npos);
  bad.replace(p, 20, "\"Encoded-Path\": \"7\"");
  // Recompute the checksum so only the path is wrong.
  const auto last = bad.rfind("\"Manifest-Checksum\"");
  bad = bad.substr(0, last);
  bad += "\"Manifest-Checksum\": \"" + sha256_hex(bad) + "\"}\n";
  EXPECT_EQ(kind_of([&] { BackupManifest::parse(bad); }), ErrorKind::corrupt);
  // newer version
  std::string v3 = make_manifest(sample());
  v3.replace(v3.find(": 1,"), 4, ": 3,");
  EXPECT_EQ(kind_of([&] { BackupManifest::parse(v3); }), ErrorKind::unsupported);
}

TEST(ManifestSizeSink, SumsSizesAcrossChunkBoundaries) {
  const std::string text = make_manifest(sample());
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 13u, 64u, 100000u}) {
    StringSink out;
    ManifestSizeSink sizes(out);
    for (std::size_t i = 0; i < text.size(); i += chunk) {
      sizes.write(as_bytes(std::string_view(text).substr(i, chunk)));
    }
    sizes.finish();
    EXPECT_EQ(out.str(), text) << "chunk " << chunk;
    EXPECT_EQ(sizes.total_size(), 225u + 8192 + 8192 + 16384) << "chunk " << chunk;
    EXPECT_EQ(sizes.file_count(), 4u) << "chunk " << chunk;
  }
}

TEST(ManifestSizeSink, IgnoresSizeTextInsidePaths) {
  // A path containing the text "Size": is JSON-escaped and must not count.
  const std::string text =
      "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n"
      "{ \"Path\": \"odd\\\"Size\\\": 99\", \"Size\": 5, \"Last-Modified\": \"x\" }\n],\n";
  StringSink out;
  ManifestSizeSink sizes(out);
  sizes.write(as_bytes(text));
  sizes.finish();
  EXPECT_EQ(sizes.total_size(), 5u);
  EXPECT_EQ(sizes.file_count(), 1u);
}
