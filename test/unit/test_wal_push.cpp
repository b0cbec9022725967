// Archiving one WAL file into a repository (include/pgvault/wal/wal_push.hpp),
// against the in-memory store: first push, a repeated push, a different file
// under an archived name, a foreign cluster's segment, history files, and the
// encrypted round trip.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_push.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"
#include "wal_test_segment.hpp"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <string>

using namespace pgvault;
using namespace pgvault::test;

namespace {

using wal_test::kSegSize;
using wal_test::segment_bytes;

constexpr std::uint64_t kSysid = wal_test::kSegmentSysid;
const std::string kSysidText = std::to_string(kSysid);

EncryptionKey test_key() {
  std::array<std::byte, kEncryptionKeySize> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 5 + 3);
  return EncryptionKey::from_bytes(bytes);
}

class WalPush : public ::testing::Test {
 protected:
  std::string local(const std::string& name, const std::string& content) {
    const auto path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  WalPushRequest request(const std::string& name, const std::string& content) {
    WalPushRequest r;
    r.system_identifier = kSysidText;
    r.wal_segment_size = kSegSize;
    r.file_name = name;
    r.local_path = local(name, content);
    return r;
  }
  // Every object in the store, path -> content.
  std::map<std::string, std::string> objects() {
    std::map<std::string, std::string> all;
    for (const ObjectInfo& o : storage_->list("")) all[o.path] = storage_->read_all(o.path);
    return all;
  }

  TempDir dir_;
  std::unique_ptr<Storage> storage_ = make_memory_storage();
};

TEST_F(WalPush, FirstPushStoresTheSegmentUnderItsChecksum) {
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  const WalPushResult r = push_wal_file(*storage_, request(name, content));
  EXPECT_EQ(r.outcome, WalPushOutcome::stored);
  EXPECT_EQ(r.sha256, sha256_hex(content));
  EXPECT_EQ(r.bytes, kSegSize);
  EXPECT_EQ(r.key,
            kSysidText + "/wal/00000001/0000000100000000/" + name + "-" + sha256_hex(content));
  EXPECT_EQ(r.stored_bytes, kSegSize);
  EXPECT_EQ(objects(), (std::map<std::string, std::string>{{r.key, content}}));
}

TEST_F(WalPush, CompressedKeyCarriesTheCodecAndReadsBack) {
  const std::string name = "000000010000000000000004";
  const std::string content = segment_bytes(name);
  WalPushRequest req = request(name, content);
  req.encode.compression = Compression::zstd;
  const WalPushResult r = push_wal_file(*storage_, req);
  EXPECT_EQ(r.key, wal_object_key(kSysidText, parse_wal_file_name(name), sha256_hex(content),
                                  Compression::zstd));
  EXPECT_LT(r.stored_bytes, content.size() / 4);
  StringSink out;
  backup_reading::DecodeChain decode(r.key, out, {});
  decode.input().write(as_bytes(storage_->read_all(r.key)));
  decode.input().finish();
  EXPECT_EQ(out.str(), content);
}

TEST_F(WalPush, SamePushTwiceIsHarmlessAndWritesNothing) {
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  const WalPushResult first = push_wal_file(*storage_, request(name, content));
  const auto before = objects();
  // Another codec now: the stored copy still counts (same content).
  WalPushRequest again = request(name, content);
  again.encode.compression = Compression::lz4;
  const WalPushResult second = push_wal_file(*storage_, again);
  EXPECT_EQ(second.outcome, WalPushOutcome::already_archived);
  EXPECT_EQ(second.key, first.key);
  EXPECT_EQ(second.stored_bytes, 0u);
  EXPECT_EQ(objects(), before);
}

TEST_F(WalPush, DifferentContentUnderAnArchivedNameIsRefusedAndTheOriginalKept) {
  const std::string name = "000000010000000000000003";
  const std::string original = segment_bytes(name, kSysid, 'a');
  const WalPushResult first = push_wal_file(*storage_, request(name, original));
  const auto before = objects();
  const std::string other = segment_bytes(name, kSysid, 'b');
  expect_error([&] { push_wal_file(*storage_, request(name, other)); }, ErrorKind::conflict,
               "different content");
  try {
    push_wal_file(*storage_, request(name, other));
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(sha256_hex(original)), std::string::npos) << msg;
    EXPECT_NE(msg.find(sha256_hex(other)), std::string::npos) << msg;
    EXPECT_NE(msg.find("split brain"), std::string::npos) << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  EXPECT_EQ(objects(), before);
  EXPECT_EQ(storage_->read_all(first.key), original);
}

TEST_F(WalPush, ASegmentOfAnotherClusterIsRefusedBeforeAnythingIsWritten) {
  const std::string name = "000000010000000000000003";
  expect_error([&] { push_wal_file(*storage_, request(name, segment_bytes(name, kSysid + 1))); },
               ErrorKind::conflict, std::to_string(kSysid + 1));
  EXPECT_TRUE(objects().empty());
}

TEST_F(WalPush, ASegmentAtTheWrongPositionOrOfTheWrongSizeIsRefused) {
  // The content of segment 3 under the name of segment 5.
  expect_error(
      [&] {
        push_wal_file(*storage_, request("000000010000000000000005",
                                         segment_bytes("000000010000000000000003")));
      },
      ErrorKind::corrupt);
  const std::string name = "000000010000000000000003";
  expect_error(
      [&] { push_wal_file(*storage_, request(name, segment_bytes(name).substr(0, kSegSize / 2))); },
      ErrorKind::corrupt, "bytes long");
  EXPECT_TRUE(objects().empty());
}

TEST_F(WalPush, HistoryAndBackupFilesHaveNoPageHeader) {
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  const WalPushResult h = push_wal_file(*storage_, request("00000002.history", history));
  EXPECT_EQ(h.outcome, WalPushOutcome::stored);
  EXPECT_EQ(h.key, kSysidText + "/wal/00000002.history");
  EXPECT_EQ(storage_->read_all(h.key), history);
  // Again: compared byte for byte with what is stored.
  EXPECT_EQ(push_wal_file(*storage_, request("00000002.history", history)).outcome,
            WalPushOutcome::already_archived);
  expect_error([&] { push_wal_file(*storage_, request("00000002.history", history + "x")); },
               ErrorKind::conflict, "different content");
  EXPECT_EQ(storage_->read_all(h.key), history);

  const std::string label = "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n";
  const std::string backup = "000000010000000000000003.00000028.backup";
  const WalPushResult b = push_wal_file(*storage_, request(backup, label));
  EXPECT_EQ(b.key,
            kSysidText + "/wal/00000001/0000000100000000/" + backup + "-" + sha256_hex(label));
}

TEST_F(WalPush, BadNamesAndMissingFilesAreClearErrors) {
  expect_error([&] { push_wal_file(*storage_, request("../etc/passwd", "x")); },
               ErrorKind::invalid_argument, "invalid WAL file name");
  WalPushRequest missing = request("000000010000000000000003", "");
  missing.local_path = (dir_.path() / "gone").string();
  expect_error([&] { push_wal_file(*storage_, missing); }, ErrorKind::io, "cannot open");
}

TEST_F(WalPush, EncryptedSegmentDecodesBackThroughDecodeChain) {
  const EncryptionKey key = test_key();
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  WalPushRequest req = request(name, content);
  req.encode.compression = Compression::gzip;
  req.encode.encryption_key = &key;
  const WalPushResult r = push_wal_file(*storage_, req);
  const std::string stored = storage_->read_all(r.key);
  EXPECT_EQ(stored.substr(0, 8), "PGVLTENC");
  StringSink out;
  const DecryptorFactory decryptor = [&](const std::string&, Sink& next) {
    return make_decryptor(key, next);
  };
  backup_reading::DecodeChain decode(r.key, out, decryptor);
  decode.input().write(as_bytes(stored));
  decode.input().finish();
  EXPECT_EQ(out.str(), content);
  EXPECT_EQ(sha256_hex(out.str()), parse_wal_object_key(r.key).sha256);

  // An encrypted history file is compared after decrypting it.
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  WalPushRequest hist = request("00000002.history", history);
  hist.encode.encryption_key = &key;
  hist.history_decryptor = decryptor;
  EXPECT_EQ(push_wal_file(*storage_, hist).outcome, WalPushOutcome::stored);
  EXPECT_EQ(push_wal_file(*storage_, hist).outcome, WalPushOutcome::already_archived);
}

}  // namespace
