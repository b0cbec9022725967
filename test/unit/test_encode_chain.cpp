// EncodeChain, the writing side of every backup object: what it stores reads
// back through DecodeChain unchanged for every codec with and without
// encryption, its entry matches the stored bytes, and an unfinished chain
// leaves nothing behind.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <tuple>

using namespace pgvault;
using namespace pgvault::test;

namespace {

const std::string kDir = Repository::backup_dir("7300000000000000001", "20261124T090000Z-logical");

EncryptionKey test_key() {
  std::array<std::byte, kEncryptionKeySize> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 7 + 1);
  return EncryptionKey::from_bytes(bytes);
}

// Several MiB of text that compresses, written in uneven pieces.
std::string payload() {
  std::string s;
  for (int i = 0; s.size() < 3 * 1024 * 1024 + 17; ++i)
    s += "row " + std::to_string(i) + " of a table that compresses well\n";
  return s;
}

void write_in_pieces(Sink& sink, const std::string& data) {
  std::size_t pos = 0, piece = 1;
  while (pos < data.size()) {
    const std::size_t n = std::min(piece, data.size() - pos);
    sink.write(as_bytes(std::string_view(data).substr(pos, n)));
    pos += n;
    piece = piece * 3 + 1;
  }
}

class EncodeChainRoundTrip : public ::testing::TestWithParam<std::tuple<Compression, bool>> {};

TEST_P(EncodeChainRoundTrip, DecodeChainReadsBackWhatWasWritten) {
  const auto [compression, encrypted] = GetParam();
  auto storage = make_memory_storage();
  const EncryptionKey key = test_key();
  EncodeOptions options;
  options.compression = compression;
  options.encryption_key = encrypted ? &key : nullptr;
  const std::string data = payload();

  EncodeChain chain(*storage, kDir, "dump.pgdump", options);
  EXPECT_EQ(chain.name(), "dump.pgdump" + std::string(compression_suffix(compression)));
  EXPECT_EQ(chain.path(), kDir + chain.name());
  write_in_pieces(chain.input(), data);
  const ObjectEntry entry = chain.finish();

  // The entry is what backup.json records: the stored bytes' name, size, hash.
  const std::string stored = storage->read_all(chain.path());
  EXPECT_EQ(entry.name, chain.name());
  EXPECT_EQ(entry.size, stored.size());
  EXPECT_EQ(entry.sha256, sha256_hex(stored));
  EXPECT_EQ(chain.stored_bytes(), stored.size());
  if (compression != Compression::none) {
    EXPECT_LT(stored.size(), data.size() / 4);
  }
  if (encrypted) {
    EXPECT_EQ(stored.substr(0, 8), "PGVLTENC");
  } else if (compression == Compression::none) {
    EXPECT_EQ(stored, data);
  }

  StringSink out;
  DecryptorFactory decryptor;
  if (encrypted) {
    decryptor = [&](const std::string&, Sink& next) { return make_decryptor(key, next); };
  }
  backup_reading::DecodeChain decode(entry.name, out, decryptor);
  decode.input().write(as_bytes(stored));
  decode.input().finish();
  EXPECT_EQ(out.str(), data);
}

INSTANTIATE_TEST_SUITE_P(EveryCodecWithAndWithoutKey, EncodeChainRoundTrip,
                         ::testing::Combine(::testing::Values(Compression::none, Compression::gzip,
                                                              Compression::lz4, Compression::zstd),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(compression_name(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_encrypted" : "_plain");
                         });

TEST(EncodeChain, DestroyedUnfinishedLeavesNoObject) {
  auto storage = make_memory_storage();
  const EncryptionKey key = test_key();
  {
    EncodeOptions options;
    options.compression = Compression::zstd;
    options.encryption_key = &key;
    EncodeChain chain(*storage, kDir, "base.tar", options);
    write_in_pieces(chain.input(), payload());
  }
  EXPECT_TRUE(storage->list("").empty());
}

TEST(EncodeChain, EmptyStreamIsAnObjectToo) {
  auto storage = make_memory_storage();
  EncodeChain chain(*storage, kDir, "backup_manifest", {});
  const ObjectEntry entry = chain.finish();
  EXPECT_EQ(entry.name, "backup_manifest");
  EXPECT_EQ(entry.size, 0u);
  EXPECT_EQ(entry.sha256, sha256_hex(""));
  ASSERT_EQ(storage->list("").size(), 1u);
}

TEST(EncodeChain, AnAlreadyCompressedStreamKeepsItsName) {
  // BASE_BACKUP with server-side compression: nothing is compressed here.
  auto storage = make_memory_storage();
  EncodeChain chain(*storage, kDir, "base.tar.zst", {});
  chain.input().write(as_bytes("not really zstd"));
  EXPECT_EQ(chain.finish().name, "base.tar.zst");
  EXPECT_EQ(storage->read_all(kDir + "base.tar.zst"), "not really zstd");
}

TEST(EncodeChain, FinishingTwiceIsABug) {
  auto storage = make_memory_storage();
  EncodeChain chain(*storage, kDir, "x", {});
  chain.finish();
  expect_error([&] { chain.finish(); }, ErrorKind::internal, "finished twice");
}

}  // namespace
