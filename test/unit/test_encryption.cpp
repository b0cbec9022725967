// Encryption stages: round trips, every kind of tampering, keys, key files,
// passphrases (scrypt known answers) and that no secret reaches a message.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;

namespace {

constexpr std::size_t kHeader = kEncryptionHeaderSize;
constexpr std::size_t kTag = kEncryptionTagSize;
constexpr std::size_t kMiB = std::size_t{1} << 20;
// Small chunks make multi-chunk objects cheap in the tampering tests.
constexpr std::size_t kSmallChunk = 1000;
constexpr std::size_t kSmallRecord = kSmallChunk + kTag;
// Cheap scrypt for tests; one test uses the default parameters.
const ScryptParams kFastScrypt{4, 8, 1};
const std::string kPassphrase = "correct horse battery staple";

std::string make_data(std::size_t size, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::array<std::byte, kEncryptionKeySize> key_bytes(std::uint8_t first = 0) {
  std::array<std::byte, kEncryptionKeySize> bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(first + i);
  return bytes;
}

EncryptionKey test_key(std::uint8_t first = 0) {
  return EncryptionKey::from_bytes(key_bytes(first));
}

// Writes data in odd-sized pieces (cycling 1, 7, 4093, 65537, 333, 1 MiB + 3)
// or piece bytes at a time, then finishes.
void feed(Sink& sink, std::string_view data, std::size_t piece = 0) {
  static const std::size_t pieces[] = {1, 7, 4093, 65537, 333, kMiB + 3};
  std::size_t pos = 0, i = 0;
  while (pos < data.size()) {
    std::size_t n = std::min(piece ? piece : pieces[i++ % std::size(pieces)], data.size() - pos);
    sink.write(as_bytes(data.substr(pos, n)));
    pos += n;
  }
  sink.finish();
}

std::string encrypt(const EncryptionKey& key, std::string_view data,
                    std::size_t chunk = kDefaultEncryptionChunkSize, std::size_t piece = 0) {
  StringSink out;
  auto enc = make_encryptor(key, out, chunk);
  feed(*enc, data, piece);
  return out.str();
}

std::string decrypt(KeyProvider provider, std::string_view data, std::size_t piece = 0) {
  StringSink out;
  auto dec = make_decryptor(std::move(provider), out);
  feed(*dec, data, piece);
  return out.str();
}

std::string decrypt(const EncryptionKey& key, std::string_view data, std::size_t piece = 0) {
  return decrypt(key_provider(key), data, piece);
}

// The message of the pgvault::Error fn throws ("" and a failure if none).
std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a pgvault::Error";
  return "";
}

EncryptionHeader header_of(std::string_view object) {
  return read_encryption_header(as_bytes(object));
}

// Splits an object into header and records (ciphertext + tag).
struct Pieces {
  std::string header;
  std::vector<std::string> records;
  std::string join() const {
    std::string s = header;
    for (const auto& r : records) s += r;
    return s;
  }
};

Pieces split(const std::string& object, std::size_t chunk) {
  Pieces p{object.substr(0, kHeader), {}};
  for (std::size_t pos = kHeader; pos < object.size(); pos += chunk + kTag)
    p.records.push_back(object.substr(pos, chunk + kTag));
  return p;
}

std::string flip_bit(std::string s, std::size_t at, int bit = 0) {
  s[at] = static_cast<char>(s[at] ^ (1 << bit));
  return s;
}

// Key bytes as they could leak: raw and as hex.
void expect_no_key_material(const std::string& text, const std::array<std::byte, 32>& key) {
  std::string raw(reinterpret_cast<const char*>(key.data()), key.size());
  std::string key_hex = hex(raw);
  for (std::size_t i = 0; i + 8 <= key_hex.size(); i += 4)
    EXPECT_EQ(text.find(key_hex.substr(i, 8)), std::string::npos) << text;
  for (std::size_t i = 0; i + 4 <= raw.size(); ++i)
    EXPECT_EQ(text.find(raw.substr(i, 4)), std::string::npos) << text;
}

class CountingSink final : public Sink {
 public:
  void write(std::span<const std::byte> data) override { bytes += data.size(); }
  void finish() override { ++finished; }
  std::size_t bytes = 0;
  int finished = 0;
};

}  // namespace

// ---- round trips ----------------------------------------------------------------------

class EncryptionRoundTrip : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EncryptionRoundTrip, DefaultChunks) {
  std::size_t size = GetParam();
  std::string data = make_data(size, static_cast<unsigned>(size));
  EncryptionKey key = test_key();

  std::string sealed = encrypt(key, data);
  EXPECT_EQ(sealed.size(), encrypted_size(size));
  EXPECT_TRUE(looks_encrypted(as_bytes(sealed)));
  std::string opened = decrypt(key, sealed);
  ASSERT_EQ(opened.size(), data.size());
  EXPECT_TRUE(opened == data);
}

INSTANTIATE_TEST_SUITE_P(Sizes, EncryptionRoundTrip,
                         ::testing::Values(std::size_t{0}, std::size_t{1}, kMiB - 1, kMiB, kMiB + 1,
                                           3 * kMiB + 12345),
                         [](const auto& info) { return "size_" + std::to_string(info.param); });

TEST(Encryption, EveryLengthAroundChunkBoundaries) {
  EncryptionKey key = test_key();
  for (std::size_t chunk : {std::size_t{1}, std::size_t{16}, std::size_t{64}}) {
    for (std::size_t size = 0; size <= 4 * chunk + 3; ++size) {
      SCOPED_TRACE("chunk " + std::to_string(chunk) + " size " + std::to_string(size));
      std::string data = make_data(size, static_cast<unsigned>(size));
      std::string sealed = encrypt(key, data, chunk);
      EXPECT_EQ(sealed.size(), encrypted_size(size, chunk));
      EXPECT_EQ(decrypt(key, sealed), data);
    }
  }
}

TEST(Encryption, ByteAtATime) {
  EncryptionKey key = test_key();
  std::string data = make_data(3 * kSmallChunk + 17, 9);
  std::string sealed = encrypt(key, data, kSmallChunk, 1);
  EXPECT_EQ(decrypt(key, sealed, 1), data);
  // Pieces that straddle records, and whole objects in one write.
  EXPECT_EQ(decrypt(key, sealed, kSmallRecord + 1), data);
  EXPECT_EQ(decrypt(key, sealed, 3 * kSmallRecord - 1), data);
  EXPECT_EQ(decrypt(key, sealed, sealed.size()), data);
  EXPECT_EQ(decrypt(key, encrypt(key, data, kSmallChunk, data.size())), data);
}

TEST(Encryption, WithZstdInFront) {
  // source -> zstd -> encryptor -> digest -> stored, and back.
  std::string data;
  while (data.size() < 3 * kMiB) data += "INSERT INTO accounts VALUES (42, 'alice', 1000.00);\n";
  EncryptionKey key = test_key();

  StringSink stored;
  DigestSink stored_digest(stored);
  auto encryptor = make_encryptor(key, stored_digest);
  auto compressor = make_compressor(Compression::zstd, 0, *encryptor);
  feed(*compressor, data);
  EXPECT_EQ(stored_digest.bytes(), stored.str().size());
  EXPECT_EQ(stored_digest.sha256(), sha256_hex(stored.str()));
  EXPECT_LT(stored.str().size(), data.size() / 10);  // compressed before encryption
  EXPECT_TRUE(looks_encrypted(as_bytes(stored.str())));

  StringSink restored;
  auto decompressor = make_decompressor(Compression::zstd, restored);
  auto decryptor = make_decryptor(key, *decompressor);
  feed(*decryptor, stored.str());
  EXPECT_TRUE(restored.str() == data);
}

TEST(Encryption, SameDataEncryptsDifferently) {
  EncryptionKey key = test_key();
  std::string data = make_data(5000, 1);
  std::string a = encrypt(key, data, kSmallChunk), b = encrypt(key, data, kSmallChunk);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a.substr(kHeader), b.substr(kHeader));
  EXPECT_NE(a.substr(0, kHeader), b.substr(0, kHeader));  // the object salt differs
  // Nothing of the plaintext shows through, not even for repeated blocks.
  std::string zeros(4096, '\0');
  EXPECT_EQ(encrypt(key, zeros).find(std::string(32, '\0'), kHeader), std::string::npos);
}

TEST(Encryption, FinishPropagatesOnceAndStagesCloseAfterFinish) {
  EncryptionKey key = test_key();
  CountingSink counter;
  auto enc = make_encryptor(key, counter, kSmallChunk);
  enc->write(as_bytes("abc"));
  enc->finish();
  EXPECT_EQ(counter.finished, 1);
  EXPECT_EQ(counter.bytes, kHeader + 3 + kTag);
  expect_error([&] { enc->write(as_bytes("x")); }, ErrorKind::internal, "after finish");

  CountingSink plain;
  auto dec = make_decryptor(key, plain);
  std::string sealed = encrypt(key, "abc");
  dec->write(as_bytes(sealed));
  dec->finish();
  EXPECT_EQ(plain.finished, 1);
  EXPECT_EQ(plain.bytes, 3u);
  expect_error([&] { dec->finish(); }, ErrorKind::internal, "after finish");
}

TEST(Encryption, ChunkSizeLimits) {
  EncryptionKey key = test_key();
  StringSink out;
  expect_error([&] { make_encryptor(key, out, 0); }, ErrorKind::invalid_argument,
               "encryption chunk size 0 is out of range");
  expect_error([&] { make_encryptor(key, out, kMaxEncryptionChunkSize + 1); },
               ErrorKind::invalid_argument, "out of range");
  EXPECT_EQ(encrypted_size(0), kHeader + kTag);
  EXPECT_EQ(encrypted_size(kMiB), kHeader + kMiB + kTag);
  EXPECT_EQ(encrypted_size(kMiB + 1), kHeader + kMiB + 1 + 2 * kTag);
}

// ---- the header --------------------------------------------------------------------------

TEST(Encryption, HeaderIsReadableWithoutTheKey) {
  EncryptionKey key = test_key();
  std::string sealed = encrypt(key, "x", kSmallChunk);
  EXPECT_EQ(sealed.substr(0, 8), "PGVLTENC");
  EncryptionHeader h = header_of(sealed);
  EXPECT_EQ(h.format_version, 1);
  EXPECT_EQ(h.chunk_size, kSmallChunk);
  EXPECT_EQ(h.key_origin.derivation, KeyDerivation::raw_key);
  EXPECT_EQ(h.key_fingerprint, key.fingerprint());

  PassphraseSalt salt = new_salt();
  EncryptionKey derived = derive_key_from_passphrase(kPassphrase, salt, kFastScrypt);
  EncryptionHeader hp = header_of(encrypt(derived, "x"));
  EXPECT_EQ(hp.key_origin.derivation, KeyDerivation::scrypt);
  EXPECT_EQ(hp.key_origin.scrypt, kFastScrypt);
  EXPECT_EQ(hp.key_origin.salt, salt);
  EXPECT_EQ(hp.key_fingerprint, derived.fingerprint());
  EXPECT_EQ(hp.chunk_size, kDefaultEncryptionChunkSize);

  EXPECT_FALSE(looks_encrypted(as_bytes("PGVLTEN")));
  EXPECT_FALSE(looks_encrypted(as_bytes("\x28\xb5\x2f\xfd plain zstd")));
  EXPECT_TRUE(looks_encrypted(as_bytes("PGVLTENC")));
  expect_error([&] { header_of(sealed.substr(0, 50)); }, ErrorKind::corrupt,
               "ends inside its header (50 of 96 bytes)");
  expect_error(
      [&] { header_of("plain text, long enough to hold a header ......................"); },
      ErrorKind::corrupt, "not a pgvault encrypted object");
}

TEST(Encryption, NewerFormatVersionIsUnsupported) {
  EncryptionKey key = test_key();
  std::string sealed = encrypt(key, "x");
  sealed[8] = 2;
  expect_error([&] { decrypt(key, sealed); }, ErrorKind::unsupported,
               "format version 2; this pgvault reads 1");
}

TEST(Encryption, FlippedBitInHeaderIsRejected) {
  EncryptionKey key = test_key();
  std::string sealed = encrypt(key, make_data(2500), kSmallChunk);
  for (std::size_t at = 0; at < kHeader; ++at) {
    for (int bit : {0, 7}) {
      SCOPED_TRACE("byte " + std::to_string(at) + " bit " + std::to_string(bit));
      std::string bad = flip_bit(sealed, at, bit);
      StringSink out;
      auto dec = make_decryptor(key, out);
      if (at < 8) {
        expect_error([&] { feed(*dec, bad); }, ErrorKind::corrupt, "not a pgvault encrypted");
      } else if (at == 8) {
        // 1 -> 0 is no version, anything else looks like a newer one.
        expect_error([&] { feed(*dec, bad); },
                     bit == 0 ? ErrorKind::corrupt : ErrorKind::unsupported);
      } else {
        expect_error([&] { feed(*dec, bad); }, ErrorKind::corrupt,
                     "its header does not match its checksum");
      }
      EXPECT_TRUE(out.str().empty());
    }
  }
}

TEST(Encryption, HeaderChangedWithValidChecksumFailsAuthentication) {
  // Someone who recomputes the unkeyed checksum still cannot change the header:
  // it is authenticated data of every chunk.
  EncryptionKey key = test_key();
  std::string sealed = encrypt(key, make_data(2500), kSmallChunk);
  std::string bad = sealed;
  bad[20 + 3] = static_cast<char>(bad[20 + 3] ^ 1);  // chunk size 1000 -> 1001
  std::string checksum = sha256_hex(bad.substr(0, 88)).substr(0, 16);
  for (std::size_t i = 0; i < 8; ++i)
    bad[88 + i] = static_cast<char>(std::stoi(checksum.substr(2 * i, 2), nullptr, 16));
  expect_error([&] { decrypt(key, bad); }, ErrorKind::corrupt, "failed authentication");
}

// ---- tampering, truncation, reordering ---------------------------------------------------

TEST(Encryption, FlippedBitInChunkBodyOrTagIsRejected) {
  EncryptionKey key = test_key();
  std::string data = make_data(3 * kSmallChunk + 500);
  std::string sealed = encrypt(key, data, kSmallChunk);
  struct Case {
    std::size_t at;
    std::string needle;
  };
  const Case cases[] = {
      {kHeader, "chunk 1 (at byte 96) failed authentication"},                    // first body byte
      {kHeader + kSmallChunk + 3, "chunk 1 (at byte 96) failed authentication"},  // first tag
      {kHeader + kSmallRecord + 500, "chunk 2 (at byte 1112) failed authentication"},
      {kHeader + 2 * kSmallRecord + kSmallChunk + kTag - 1, "chunk 3"},  // last tag byte
      {kHeader + 3 * kSmallRecord + 10, "last chunk 4"},                 // final chunk body
      {sealed.size() - 1, "last chunk 4"},                               // final tag
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("byte " + std::to_string(c.at));
    StringSink out;
    auto dec = make_decryptor(key, out);
    expect_error([&] { feed(*dec, flip_bit(sealed, c.at, 3)); }, ErrorKind::corrupt, c.needle);
    // Only authenticated chunks before the bad one were passed on.
    std::size_t good_chunks = (c.at - kHeader) / kSmallRecord;
    EXPECT_EQ(out.str(), data.substr(0, good_chunks * kSmallChunk));
  }
}

TEST(Encryption, DroppedChunksAreDetected) {
  EncryptionKey key = test_key();
  std::string data = make_data(4 * kSmallChunk + 321);
  Pieces p = split(encrypt(key, data, kSmallChunk), kSmallChunk);
  ASSERT_EQ(p.records.size(), 5u);

  Pieces middle = p;
  middle.records.erase(middle.records.begin() + 2);
  expect_error([&] { decrypt(key, middle.join()); }, ErrorKind::corrupt,
               "chunk 3 (at byte 2128) failed authentication");

  Pieces first = p;
  first.records.erase(first.records.begin());
  expect_error([&] { decrypt(key, first.join()); }, ErrorKind::corrupt,
               "chunk 1 (at byte 96) failed authentication");

  Pieces last = p;
  last.records.pop_back();
  expect_error([&] { decrypt(key, last.join()); }, ErrorKind::corrupt,
               "encrypted object is truncated: the final chunk is missing (it ends after chunk 4");

  expect_error([&] { decrypt(key, p.header); }, ErrorKind::corrupt,
               "the final chunk is missing (nothing follows the header)");
}

TEST(Encryption, DroppedFinalChunkOfExactMultipleIsDetected) {
  // Input that fills its chunks exactly: the last full chunk carries the final flag.
  EncryptionKey key = test_key();
  Pieces p = split(encrypt(key, make_data(3 * kSmallChunk), kSmallChunk), kSmallChunk);
  ASSERT_EQ(p.records.size(), 3u);
  p.records.pop_back();
  expect_error([&] { decrypt(key, p.join()); }, ErrorKind::corrupt,
               "the final chunk is missing (it ends after chunk 2");
}

TEST(Encryption, TruncatedTailIsDetected) {
  EncryptionKey key = test_key();
  std::string sealed = encrypt(key, make_data(3 * kSmallChunk + 700), kSmallChunk);
  const std::size_t cuts[] = {sealed.size() - 1,
                              sealed.size() - kTag,
                              sealed.size() - kTag - 1,
                              sealed.size() - 600,
                              kHeader + 3 * kSmallRecord + 5,  // inside the last tag's room
                              kHeader + 3 * kSmallRecord,      // at a chunk boundary
                              kHeader + 2 * kSmallRecord + 500,
                              kHeader + 10,
                              kHeader,
                              kHeader - 1,
                              8,
                              3,
                              0};
  for (std::size_t keep : cuts) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    std::string message = error_message([&] { decrypt(key, sealed.substr(0, keep)); });
    EXPECT_TRUE(message.find("truncated") != std::string::npos ||
                message.find("failed authentication") != std::string::npos ||
                message.find("empty") != std::string::npos)
        << message;
    expect_error([&] { decrypt(key, sealed.substr(0, keep)); }, ErrorKind::corrupt);
  }
  expect_error([&] { decrypt(key, sealed.substr(0, kHeader + 3 * kSmallRecord)); },
               ErrorKind::corrupt, "the final chunk is missing");
  expect_error([&] { decrypt(key, sealed.substr(0, kHeader + 3 * kSmallRecord + 5)); },
               ErrorKind::corrupt, "has only 5 bytes, less than its 16-byte tag");
  expect_error([&] { decrypt(key, sealed.substr(0, sealed.size() - 1)); }, ErrorKind::corrupt,
               "truncated or was modified: its last chunk 4");
  expect_error([&] { decrypt(key, sealed.substr(0, 40)); }, ErrorKind::corrupt,
               "ends inside its header (40 of 96 bytes)");
  expect_error([&] { decrypt(key, sealed.substr(0, 3)); }, ErrorKind::corrupt,
               "ends inside its header (3 of 96 bytes)");
  expect_error([&] { decrypt(key, ""); }, ErrorKind::corrupt, "encrypted object is empty");
}

TEST(Encryption, SwappedChunksAreDetected) {
  EncryptionKey key = test_key();
  Pieces p = split(encrypt(key, make_data(4 * kSmallChunk), kSmallChunk), kSmallChunk);
  ASSERT_EQ(p.records.size(), 4u);
  Pieces swapped = p;
  std::swap(swapped.records[1], swapped.records[2]);
  expect_error([&] { decrypt(key, swapped.join()); }, ErrorKind::corrupt,
               "chunk 2 (at byte 1112) failed authentication");
  Pieces last_two = p;  // the final chunk moved forward
  std::swap(last_two.records[2], last_two.records[3]);
  expect_error([&] { decrypt(key, last_two.join()); }, ErrorKind::corrupt, "chunk 3");

  // A chunk of another object encrypted with the same key, same position.
  Pieces other = split(encrypt(key, make_data(4 * kSmallChunk), kSmallChunk), kSmallChunk);
  Pieces spliced = p;
  spliced.records[1] = other.records[1];
  expect_error([&] { decrypt(key, spliced.join()); }, ErrorKind::corrupt,
               "chunk 2 (at byte 1112) failed authentication");
}

TEST(Encryption, AppendedDataIsDetected) {
  EncryptionKey key = test_key();
  std::string partial = encrypt(key, make_data(2 * kSmallChunk + 10), kSmallChunk);
  for (std::string garbage : {std::string("x"), std::string(kTag, 'g'), std::string(5000, 'g')}) {
    SCOPED_TRACE("garbage " + std::to_string(garbage.size()));
    expect_error([&] { decrypt(key, partial + garbage); }, ErrorKind::corrupt);
  }
  // After a final chunk that is full, the extra data is named as such.
  std::string exact = encrypt(key, make_data(2 * kSmallChunk), kSmallChunk);
  expect_error([&] { decrypt(key, exact + "garbage"); }, ErrorKind::corrupt,
               "unexpected data after its final chunk 2 (at byte 1112)");
  // Two objects concatenated.
  expect_error([&] { decrypt(key, exact + exact); }, ErrorKind::corrupt,
               "unexpected data after its final chunk 2");
}

TEST(Encryption, NotEncryptedInputIsRejectedAtOnce) {
  EncryptionKey key = test_key();
  StringSink out;
  auto dec = make_decryptor(key, out);
  expect_error([&] { dec->write(as_bytes("\x28\xb5\x2f\xfd")); }, ErrorKind::corrupt,
               "not a pgvault encrypted object");
  expect_error([&] { dec->write(as_bytes("more")); }, ErrorKind::internal, "after it failed");
}

// ---- keys -----------------------------------------------------------------------------------

TEST(Encryption, WrongKeyIsNamedAsSuch) {
  EncryptionKey key = test_key(0), other = test_key(1);
  std::string sealed = encrypt(key, make_data(100));
  std::string message = error_message([&] { decrypt(other, sealed); });
  EXPECT_EQ(message,
            "the encryption key does not match: this object was encrypted with a key "
            "whose fingerprint is " +
                key.fingerprint() + "; the given key's fingerprint is " + other.fingerprint());
  expect_error([&] { decrypt(other, sealed); }, ErrorKind::invalid_argument);
  expect_no_key_material(message, key_bytes(0));
  expect_no_key_material(message, key_bytes(1));
}

TEST(Encryption, PassphraseRoundTripAndWrongPassphrase) {
  PassphraseSalt salt = new_salt();
  EncryptionKey key = derive_key_from_passphrase(kPassphrase, salt, kFastScrypt);
  std::string data = make_data(2 * kSmallChunk + 1);
  std::string sealed = encrypt(key, data, kSmallChunk);

  EXPECT_EQ(decrypt(passphrase_key_provider(kPassphrase), sealed), data);
  EXPECT_EQ(decrypt(key, sealed), data);  // the derived key itself works too

  std::string message = error_message(
      [&] { decrypt(passphrase_key_provider("correct horse battery stapler"), sealed); });
  EXPECT_NE(message.find("the encryption passphrase does not match: this object was encrypted "
                         "with a key whose fingerprint is " +
                         key.fingerprint()),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("horse"), std::string::npos) << message;
  expect_error([&] { decrypt(passphrase_key_provider("wrong"), sealed); },
               ErrorKind::invalid_argument, "passphrase does not match");

  // A key derived with another backup's salt.
  EncryptionKey other_salt = derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt);
  expect_error([&] { decrypt(other_salt, sealed); }, ErrorKind::invalid_argument, "another salt");
}

TEST(Encryption, PassphraseProviderDerivesOncePerSalt) {
  KeyProvider provider = passphrase_key_provider(kPassphrase);
  KeyProvider copy = provider;  // copies share what was derived
  PassphraseSalt salt = new_salt();
  EncryptionKey key = derive_key_from_passphrase(kPassphrase, salt, kFastScrypt);
  std::string a = encrypt(key, "first object"), b = encrypt(key, "second object");
  EXPECT_EQ(decrypt(provider, a), "first object");
  EXPECT_EQ(decrypt(copy, b), "second object");
  EncryptionKey other = derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt);
  EXPECT_EQ(decrypt(copy, encrypt(other, "another backup")), "another backup");
  EXPECT_EQ(decrypt(provider, a), "first object");
}

TEST(Encryption, RawKeyAndPassphraseMismatch) {
  EncryptionKey raw = test_key();
  EncryptionKey derived = derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt);
  std::string raw_sealed = encrypt(raw, "data"), pass_sealed = encrypt(derived, "data");

  std::string m1 =
      error_message([&] { decrypt(passphrase_key_provider(kPassphrase), raw_sealed); });
  EXPECT_EQ(m1, "this object was encrypted with a raw key (key fingerprint " + raw.fingerprint() +
                    "), but a passphrase was given: set pgvault.encryption_key_file, not "
                    "pgvault.encryption_passphrase, to decrypt it");
  EXPECT_EQ(m1.find(kPassphrase), std::string::npos);
  expect_error([&] { decrypt(raw, pass_sealed); }, ErrorKind::invalid_argument,
               "this object was encrypted with a key derived from a passphrase (key fingerprint " +
                   derived.fingerprint() + "), but a raw key was given");
}

TEST(Encryption, MissingKeyMessage) {
  EncryptionKey raw = test_key();
  std::string sealed = encrypt(raw, "data");
  expect_error([&] { decrypt(no_key_provider(), sealed); }, ErrorKind::invalid_argument,
               "this object is encrypted (key fingerprint " + raw.fingerprint() +
                   "), but no encryption key was given: set pgvault.encryption_key_file");
  EncryptionKey derived = derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt);
  EXPECT_NE(missing_key_message(header_of(encrypt(derived, "x")))
                .find("set pgvault.encryption_passphrase"),
            std::string::npos);
}

TEST(EncryptionKey, FingerprintIsStableAndRevealsNothing) {
  EncryptionKey key = test_key();
  // HMAC-SHA256(key 00..1f, "pgvault key fingerprint v1"), first 16 bytes (openssl mac).
  EXPECT_EQ(key.fingerprint(), "b382980a945b7f04f97e2c8a45b309d8");
  EXPECT_EQ(test_key().fingerprint(), key.fingerprint());
  EXPECT_NE(test_key(1).fingerprint(), key.fingerprint());
  expect_no_key_material(key.fingerprint(), key_bytes(0));

  std::ostringstream printed;
  printed << key;
  EXPECT_EQ(printed.str(), "EncryptionKey(fingerprint b382980a945b7f04f97e2c8a45b309d8)");
  expect_no_key_material(printed.str(), key_bytes(0));
}

TEST(EncryptionKey, MoveWipesAndCloneCopies) {
  EncryptionKey key = test_key();
  EncryptionKey copy = key.clone();
  EXPECT_EQ(copy.fingerprint(), key.fingerprint());
  EncryptionKey moved = std::move(key);
  EXPECT_EQ(moved.fingerprint(), copy.fingerprint());
  expect_error([&] { (void)key.secret_bytes(); }, ErrorKind::internal, "moved from");
  StringSink out;
  expect_error([&] { make_encryptor(key, out); }, ErrorKind::internal, "moved from");
  std::ostringstream printed;
  printed << key;
  EXPECT_EQ(printed.str(), "EncryptionKey(moved from)");

  EncryptionKey a = EncryptionKey::generate(), b = EncryptionKey::generate();
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.origin().derivation, KeyDerivation::raw_key);
}

// ---- key files -------------------------------------------------------------------------------

namespace {

std::string write_key_file(const TempDir& dir, const std::string& name, const std::string& content,
                           mode_t mode = 0600) {
  std::string path = (dir.path() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), mode);
  return path;
}

// Recognizable content, so a leak would show in the message.
const std::string kSecretText = "SECRETKEYSECRETKEYSECRETKEYSECRETKEY";

}  // namespace

TEST(KeyFile, LoadsExactly32RawBytes) {
  TempDir dir;
  auto bytes = key_bytes(7);
  std::string path =
      write_key_file(dir, "key", std::string(reinterpret_cast<const char*>(bytes.data()), 32));
  EncryptionKey key = load_key_file(path);
  EXPECT_EQ(key.fingerprint(), test_key(7).fingerprint());
  EXPECT_EQ(key.origin().derivation, KeyDerivation::raw_key);
  // Group access is fine only for root-owned files (PostgreSQL's ssl_key_file rule).
  ::chmod(path.c_str(), 0400);
  EXPECT_NO_THROW(load_key_file(path));
}

TEST(KeyFile, ErrorsNameTheFileNeverItsContent) {
  TempDir dir;
  std::string missing = (dir.path() / "nope").string();
  expect_error([&] { load_key_file(missing); }, ErrorKind::not_found,
               "encryption key file " + missing + " does not exist");

  for (std::size_t size : {std::size_t{31}, std::size_t{33}, std::size_t{0}, std::size_t{64}}) {
    SCOPED_TRACE(size);
    std::string content = (kSecretText + kSecretText).substr(0, size);
    std::string path = write_key_file(dir, "key" + std::to_string(size), content);
    std::string message = error_message([&] { load_key_file(path); });
    EXPECT_NE(message.find("encryption key file " + path + " holds " + std::to_string(size) +
                           " bytes, but a key is exactly 32 raw bytes"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("SECRETKEY"), std::string::npos) << message;
    EXPECT_EQ(message.find(hex("SECR")), std::string::npos) << message;
    expect_error([&] { load_key_file(path); }, ErrorKind::invalid_argument);
  }
  std::string hex_key = write_key_file(dir, "hexkey", std::string(64, 'a') + "\n");
  expect_error([&] { load_key_file(hex_key); }, ErrorKind::invalid_argument, "hex text");
  std::string newline = write_key_file(dir, "newline", kSecretText.substr(0, 32) + "\n");
  expect_error([&] { load_key_file(newline); }, ErrorKind::invalid_argument,
               "a trailing newline counts");

  expect_error([&] { load_key_file(dir.str()); }, ErrorKind::invalid_argument,
               "is not a regular file");
  expect_error([&] { load_key_file(""); }, ErrorKind::invalid_argument, "no encryption key file");
}

TEST(KeyFile, RefusesFilesOthersCanRead) {
  TempDir dir;
  std::string path = write_key_file(dir, "key", kSecretText.substr(0, 32), 0644);
  std::string message = error_message([&] { load_key_file(path); });
  EXPECT_EQ(message, "encryption key file " + path +
                         " can be accessed by other users (mode 0644); make it private with: "
                         "chmod 600 " +
                         path);
  if (::geteuid() != 0) {  // root owns the file when tests run as root
    ::chmod(path.c_str(), 0640);
    expect_error([&] { load_key_file(path); }, ErrorKind::invalid_argument,
                 "can be accessed by its group (mode 0640)");
  }
}

// ---- passphrases ---------------------------------------------------------------------------

namespace {

std::string scrypt_hex(std::string_view passphrase, std::string_view salt, ScryptParams params,
                       std::size_t length) {
  std::vector<std::byte> out(length);
  scrypt_kdf(passphrase, as_bytes(salt), params, out);
  return hex(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
}

}  // namespace

TEST(Passphrase, ScryptMatchesRfc7914) {
  // RFC 7914, section 12 (the vector with the empty password is refused on purpose).
  EXPECT_EQ(scrypt_hex("password", "NaCl", {10, 8, 16}, 64),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  EXPECT_EQ(scrypt_hex("pleaseletmein", "SodiumChloride", {14, 8, 1}, 64),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

TEST(Passphrase, DefaultParametersDeriveScrypt) {
  // The defaults are N=2^15, r=8, p=1 and the key is plain scrypt of the passphrase and salt.
  ScryptParams defaults;
  EXPECT_EQ(defaults, (ScryptParams{15, 8, 1}));
  PassphraseSalt salt;
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = std::byte(0xa0 + i);
  EncryptionKey key = derive_key_from_passphrase(kPassphrase, salt);
  std::array<std::byte, 32> expected;
  scrypt_kdf(kPassphrase, salt, defaults, expected);
  EXPECT_EQ(key.fingerprint(), EncryptionKey::from_bytes(expected).fingerprint());
  EXPECT_EQ(key.origin(), (KeyOrigin{KeyDerivation::scrypt, defaults, salt}));
  EXPECT_EQ(derive_key_from_passphrase(kPassphrase, salt).fingerprint(), key.fingerprint());
  EXPECT_NE(derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt).fingerprint(),
            derive_key_from_passphrase(kPassphrase, new_salt(), kFastScrypt).fingerprint());
  EXPECT_NE(new_salt(), new_salt());
}

TEST(Passphrase, RefusedInputsAndNoPassphraseInMessages) {
  PassphraseSalt salt = new_salt();
  expect_error([&] { derive_key_from_passphrase("", salt); }, ErrorKind::invalid_argument,
               "the encryption passphrase is empty");
  expect_error([&] { passphrase_key_provider(""); }, ErrorKind::invalid_argument,
               "the encryption passphrase is empty");
  std::string m = error_message([&] { derive_key_from_passphrase(kPassphrase, salt, {30, 8, 1}); });
  EXPECT_NE(m.find("scrypt parameters N=2^30, r=8, p=1 are out of range"), std::string::npos) << m;
  EXPECT_EQ(m.find(kPassphrase), std::string::npos);
  expect_error(
      [&] {
        validate_scrypt_params({22, 8, 1});
      },
      ErrorKind::invalid_argument, "need 4096 MiB of memory; at most 1024 MiB are allowed");
  expect_error(
      [&] {
        validate_scrypt_params({16, 1, 1});
      },
      ErrorKind::invalid_argument, "N must be less than 2^(16 r)");
  expect_error(
      [&] {
        validate_scrypt_params({15, 8, 0});
      },
      ErrorKind::invalid_argument, "out of range");
  EXPECT_NO_THROW(validate_scrypt_params({20, 8, 1}));  // exactly 1 GiB
}
