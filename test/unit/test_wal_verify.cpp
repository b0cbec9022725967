// A backup's archived WAL checked from the repository
// (include/pgvault/wal/wal_verify.hpp, wal_read.hpp), against the in-memory
// store with objects archived by push_wal_file: compressed and encrypted,
// a gap, a damaged object, two copies of one segment, a missing key.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_push.hpp"
#include "pgvault/wal/wal_read.hpp"
#include "pgvault/wal/wal_verify.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"
#include "wal_test_segment.hpp"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <optional>
#include <string>

using namespace pgvault;
using namespace pgvault::test;

namespace {

using wal_test::kSegSize;

constexpr std::uint64_t kSysid = wal_test::kSegmentSysid;
const std::string kSysidText = std::to_string(kSysid);

// Each segment with a content of its own, so that no two hash alike.
std::string segment_bytes(const std::string& name) {
  return wal_test::segment_bytes(name, kSysid,
                                 static_cast<char>('a' + parse_wal_file_name(name).log_segment()));
}

EncryptionKey test_key() {
  std::array<std::byte, kEncryptionKeySize> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 7 + 1);
  return EncryptionKey::from_bytes(bytes);
}

BackupMeta backup_on_1() {
  BackupMeta m;
  m.name = "b1";
  m.kind = "physical";
  m.system_identifier = kSysidText;
  m.timeline = 1;
  m.wal_segment_size = kSegSize;
  m.start_lsn = "0/200028";  // segment 2 at 1 MB
  m.stop_lsn = "0/300100";   // segment 3
  m.completed_at = "2026-12-05T10:00:00Z";
  return m;
}

class WalVerify : public ::testing::Test {
 protected:
  // Archives name (segment content built, or `content` for a history file).
  std::string push(const std::string& name, const std::string& content = "") {
    const auto path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << (content.empty() ? segment_bytes(name) : content);
    WalPushRequest r;
    r.system_identifier = kSysidText;
    r.wal_segment_size = kSegSize;
    r.file_name = name;
    r.local_path = path.string();
    r.encode.compression = Compression::zstd;
    if (encrypted_) r.encode.encryption_key = &key_;
    return push_wal_file(*storage_, r).key;
  }
  WalCatalog catalog(const KeyProvider& keys) {
    return build_wal_catalog(storage_->list(wal_root(kSysidText)), kSysidText, kSegSize,
                             wal_history_reader(*storage_, keys));
  }
  WalVerifyReport verify(const KeyProvider& keys) {
    return verify_backup_wal(*storage_, catalog(keys), backup_on_1(), keys);
  }

  TempDir dir_;
  std::unique_ptr<Storage> storage_ = make_memory_storage();
  EncryptionKey key_ = test_key();
  bool encrypted_ = false;
};

}  // namespace

TEST_F(WalVerify, EncryptedArchiveAcrossATimelineSwitch) {
  encrypted_ = true;
  for (const char* name :
       {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004"})
    push(name);
  push("00000002.history", "1\t0/480000\tno recovery target specified\n");
  push("000000020000000000000004");
  push("000000020000000000000005");

  const WalCatalog c = catalog(key_provider(key_));
  ASSERT_TRUE(c.timeline(2)->history) << c.timeline(2)->history_error;
  const WalVerifyReport r = verify(key_provider(key_));
  EXPECT_EQ(r.timelines, (std::vector<TimelineId>{1, 2}));
  EXPECT_EQ(r.first_segment, "000000010000000000000002");
  EXPECT_EQ(r.last_segment, "000000020000000000000005");
  EXPECT_EQ(r.objects, 5u) << "1/2, 1/3, 2/4, 2/5 and the history file";
  EXPECT_EQ(r.to, parse_lsn("0/600000"));
  EXPECT_EQ(r.to_timeline, 2u);
  EXPECT_EQ(r.decoded_bytes,
            4 * kSegSize + std::string("1\t0/480000\tno recovery target specified\n").size());

  // Without the key: the history is unknown to the catalog, and reading a
  // segment fails with what to give, not as damage.
  const WalCatalog no_key = catalog(no_key_provider());
  EXPECT_NE(no_key.timeline(2)->history_error.find("no encryption key"), std::string::npos)
      << no_key.timeline(2)->history_error;
  expect_error([&] { verify_backup_wal(*storage_, no_key, backup_on_1(), no_key_provider()); },
               ErrorKind::invalid_argument, "no encryption key");
}

TEST_F(WalVerify, GapIsNamedWithWhereTheArchiveContinues) {
  for (const char* name :
       {"000000010000000000000002", "000000010000000000000003", "000000010000000000000005"})
    push(name);
  expect_error([&] { verify(no_key_provider()); }, ErrorKind::corrupt,
               "backup \"b1\": WAL gap: segment 000000010000000000000004 (timeline 1) is missing "
               "from the archive, which continues at 000000010000000000000005; recovery from "
               "this backup stops at 0/400000");
}

TEST_F(WalVerify, EndOfArchiveBeforeTheBackupEnds) {
  push("000000010000000000000002");
  expect_error([&] { verify(no_key_provider()); }, ErrorKind::corrupt,
               "ends at 0/300000, before the backup's end 0/300100: segment "
               "000000010000000000000003 is not archived (yet?)");
}

TEST_F(WalVerify, DamagedObjectsAreNamed) {
  push("000000010000000000000002");
  const std::string damaged = push("000000010000000000000003");
  push("000000010000000000000004");
  std::string bytes = storage_->read_all(damaged);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
  storage_->write_all(damaged, bytes);
  expect_error([&] { verify(no_key_provider()); }, ErrorKind::corrupt,
               "backup \"b1\": 1 damaged WAL object:\n  ");
  try {
    verify(no_key_provider());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(damaged), std::string::npos) << e.what();
  }

  // Stored intact but under a checksum that is not its content's.
  storage_->remove(damaged);
  const WalFileName three = parse_wal_file_name("000000010000000000000003");
  const std::string wrong_key =
      wal_object_key(kSysidText, three, sha256_hex("something else"), Compression::none);
  storage_->write_all(wrong_key, segment_bytes("000000010000000000000003"));
  expect_error([&] { verify(no_key_provider()); }, ErrorKind::corrupt,
               "WAL file \"000000010000000000000003\" is damaged: object");
}

TEST_F(WalVerify, TwoCopiesOfASegmentAreAConflict) {
  push("000000010000000000000002");
  push("000000010000000000000003");
  const WalFileName three = parse_wal_file_name("000000010000000000000003");
  storage_->write_all(wal_object_key(kSysidText, three, sha256_hex("other"), Compression::none),
                      "x");
  expect_error([&] { verify(no_key_provider()); }, ErrorKind::conflict,
               "WAL file 000000010000000000000003 is archived with different contents");
}

TEST_F(WalVerify, BackupTimelineWithoutWal) {
  push("000000010000000000000002");
  BackupMeta other = backup_on_1();
  other.timeline = 3;
  expect_error(
      [&] { verify_backup_wal(*storage_, catalog(no_key_provider()), other, no_key_provider()); },
      ErrorKind::corrupt, "no WAL of that timeline is archived");
  BackupMeta dump = backup_on_1();
  dump.kind = "logical";
  expect_error(
      [&] { verify_backup_wal(*storage_, catalog(no_key_provider()), dump, no_key_provider()); },
      ErrorKind::invalid_argument, "only physical backups replay WAL");
}
