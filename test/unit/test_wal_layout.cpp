// Archived WAL object keys (include/pgvault/wal/wal_layout.hpp).
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <gtest/gtest.h>

using namespace pgvault;

namespace {

const std::string kSysid = "7715683618666560570";
const std::string kSha = sha256_hex("segment content");

std::string corrupt_message(std::string_view key) {
  try {
    parse_wal_object_key(key);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::corrupt) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << key;
  return {};
}

}  // namespace

TEST(WalLayout, KeysOfEveryKind) {
  const WalFileName seg = parse_wal_file_name("000000010000000A000000FE");
  EXPECT_EQ(wal_root(kSysid), kSysid + "/wal/");
  EXPECT_EQ(wal_timeline_prefix(kSysid, 1), kSysid + "/wal/00000001/");
  EXPECT_EQ(wal_directory(kSysid, seg), kSysid + "/wal/00000001/000000010000000A/");
  EXPECT_EQ(wal_object_prefix(kSysid, seg),
            kSysid + "/wal/00000001/000000010000000A/000000010000000A000000FE-");
  EXPECT_EQ(wal_object_key(kSysid, seg, kSha, Compression::zstd),
            kSysid + "/wal/00000001/000000010000000A/000000010000000A000000FE-" + kSha + ".zst");
  EXPECT_EQ(wal_object_key(kSysid, seg, kSha, Compression::none),
            kSysid + "/wal/00000001/000000010000000A/000000010000000A000000FE-" + kSha);

  const WalFileName backup = parse_wal_file_name("000000020000000000000003.00000028.backup");
  EXPECT_EQ(wal_object_key(kSysid, backup, kSha, Compression::gzip),
            kSysid + "/wal/00000002/0000000200000000/000000020000000000000003.00000028.backup-" +
                kSha + ".gz");
  const WalFileName partial = parse_wal_file_name("000000010000000000000003.partial");
  EXPECT_EQ(
      wal_object_key(kSysid, partial, kSha, Compression::lz4),
      kSysid + "/wal/00000001/0000000100000000/000000010000000000000003.partial-" + kSha + ".lz4");

  const WalFileName hist = parse_wal_file_name("0000000A.history");
  EXPECT_EQ(wal_directory(kSysid, hist), kSysid + "/wal/");
  EXPECT_EQ(wal_object_prefix(kSysid, hist), kSysid + "/wal/0000000A.history");
  EXPECT_EQ(wal_object_key(kSysid, hist, "", Compression::zstd),
            kSysid + "/wal/0000000A.history.zst");
  EXPECT_EQ(wal_object_key(kSysid, hist, "", Compression::none), kSysid + "/wal/0000000A.history");
}

TEST(WalLayout, SegmentPrefixDoesNotMatchItsPartialOrBackup) {
  const std::string seg_prefix =
      wal_object_prefix(kSysid, parse_wal_file_name("000000010000000000000003"));
  for (const char* other :
       {"000000010000000000000003.partial", "000000010000000000000003.00000028.backup"}) {
    const std::string key =
        wal_object_key(kSysid, parse_wal_file_name(other), kSha, Compression::none);
    EXPECT_FALSE(key.starts_with(seg_prefix)) << key;
  }
}

TEST(WalLayout, RefusesToBuildKeysFromBadParts) {
  const WalFileName seg = parse_wal_file_name("000000010000000000000003");
  for (const std::string& sha :
       {std::string(), kSha.substr(1), std::string(64, 'A'), std::string(63, 'a') + "/"})
    EXPECT_THROW(wal_object_key(kSysid, seg, sha, Compression::none), Error) << sha;
  EXPECT_THROW(wal_object_key(kSysid, WalFileName::history(2), kSha, Compression::none), Error);
  for (const char* sysid :
       {"", "0123", "12a", "../1", "18446744073709551616", "123456789012345678901"}) {
    try {
      wal_object_key(sysid, seg, kSha, Compression::none);
      ADD_FAILURE() << sysid;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("invalid system identifier"), std::string::npos);
    }
  }
  EXPECT_NO_THROW(validate_wal_system_identifier("18446744073709551615"));
  EXPECT_NO_THROW(validate_wal_system_identifier("1"));
  EXPECT_EQ(parse_wal_system_identifier("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_wal_system_identifier(kSysid), 7715683618666560570ULL);
  EXPECT_THROW(parse_wal_system_identifier("18446744073709551616"), Error);
  EXPECT_THROW(parse_wal_system_identifier("99999999999999999999"), Error);
  EXPECT_THROW(wal_timeline_prefix(kSysid, 0), Error);
}

TEST(WalLayout, ParsesEveryKeyItBuilds) {
  for (const char* name : {"000000010000000000000003", "00000003000001230000004F.partial",
                           "000000010000000000000003.00000028.backup", "00000002.history"}) {
    for (Compression c :
         {Compression::none, Compression::gzip, Compression::lz4, Compression::zstd}) {
      const WalFileName file = parse_wal_file_name(name);
      const std::string sha = file.has_segment() ? kSha : "";
      WalObjectKey k = parse_wal_object_key(wal_object_key(kSysid, file, sha, c));
      EXPECT_EQ(k.system_identifier, kSysid);
      EXPECT_EQ(k.file, file);
      EXPECT_EQ(k.sha256, sha);
      EXPECT_EQ(k.compression, c);
    }
  }
}

TEST(WalLayout, RefusesHostileOrForeignKeys) {
  const std::string dir = kSysid + "/wal/00000001/0000000100000000/";
  struct Case {
    std::string key, why;
  };
  for (const Case& c : std::initializer_list<Case>{
           {kSysid + "/backups/b1/backup.json", "not under <system-identifier>/wal/"},
           {"../" + kSysid + "/wal/00000002.history", "the system identifier \"../"},
           {"x/wal/00000002.history", "decimal digits only"},
           {kSysid + "/wal/../../etc/passwd", "expected <TTTTTTTT>/<TTTTTTTTXXXXXXXX>/"},
           {kSysid + "/wal/00000001/../000000010000000000000003-" + kSha,
            "expected <TTTTTTTT>/<TTTTTTTTXXXXXXXX>/"},
           {kSysid + "/wal/00000001/0000000100000000/..", "has no -<sha256>"},
           {dir + "000000010000000000000003-" + kSha + "/../../x", "unknown compression suffix"},
           {dir + "000000010000000000000003-" + kSha + ".bz2",
            "unknown compression suffix \".bz2\""},
           {dir + "000000010000000000000003-" + kSha + ".zst.tmp", "unknown compression suffix"},
           {dir + "000000010000000000000003-" + kSha.substr(0, 63), "64 lower-case hexadecimal"},
           {dir + "000000010000000000000003-" + std::string(64, 'F'), "64 lower-case hexadecimal"},
           {dir + "000000010000000000000003", "has no -<sha256>"},
           {dir + "00000001000000000000000a-" + kSha, "lower-case hexadecimal 'a'"},
           {dir + "00000002.history-" + kSha, "must be stored directly under wal/"},
           {kSysid + "/wal/00000002/0000000100000000/000000010000000000000003-" + kSha,
            "000000010000000000000003 belongs in 00000001/0000000100000000/, not in "
            "00000002/0000000100000000/"},
           {kSysid + "/wal/00000001/0000000100000001/000000010000000000000003-" + kSha,
            "belongs in 00000001/0000000100000000/"},
           {kSysid + "/wal/000000010000000000000003-" + kSha, "named TTTTTTTT.history"},
           {kSysid + "/wal/00000002.history.gz.gz", "unknown compression suffix \".gz.gz\""},
           {kSysid + "/wal/00000002.hist", "named TTTTTTTT.history"},
           {kSysid + "/wal/0000000200000000.history", "invalid WAL file name"},
           {kSysid + "/wal/", "named TTTTTTTT.history"},
       }) {
    std::string msg = corrupt_message(c.key);
    EXPECT_NE(msg.find(c.why), std::string::npos) << c.key << " -> " << msg;
    EXPECT_NE(msg.find("is not an archived WAL object"), std::string::npos) << msg;
  }
}
