// Pipeline stages: compression round trips, corruption detection, SHA-256.
#include "doubles/memory_storage.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;

namespace {

// Half compressible text, half random bytes, in 4 KiB blocks.
std::string make_data(std::size_t size, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(size);
  static const std::string text =
      "INSERT INTO accounts VALUES (42, 'alice', 1000.00, now()); -- pgvault test row\n";
  std::size_t block = 0;
  while (out.size() < size) {
    std::size_t n = std::min<std::size_t>(4096, size - out.size());
    if (block++ % 2 == 0) {
      for (std::size_t i = 0; i < n; ++i) out.push_back(text[(out.size() + i) % text.size()]);
    } else {
      for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(rng() & 0xff));
    }
  }
  return out;
}

// Writes data into sink in odd-sized chunks (cycling 1, 7, 4093, 65537, 333,
// 1 MiB + 3), then finishes it.
void feed(Sink& sink, std::string_view data, bool finish = true) {
  static const std::size_t chunks[] = {1, 7, 4093, 65537, 333, (1u << 20) + 3};
  std::size_t pos = 0, i = 0;
  while (pos < data.size()) {
    std::size_t n = std::min(chunks[i++ % std::size(chunks)], data.size() - pos);
    sink.write(as_bytes(data.substr(pos, n)));
    pos += n;
  }
  if (finish) sink.finish();
}

std::string compress(Compression c, std::string_view data, int level = 0) {
  StringSink out;
  auto comp = make_compressor(c, level, out);
  feed(*comp, data);
  return out.str();
}

std::string decompress(Compression c, std::string_view data) {
  StringSink out;
  auto dec = make_decompressor(c, out);
  feed(*dec, data);
  return out.str();
}

const Compression kAll[] = {Compression::none, Compression::gzip, Compression::lz4,
                            Compression::zstd};
const Compression kReal[] = {Compression::gzip, Compression::lz4, Compression::zstd};

// The signal mask ("SigBlk:" of /proc/self/task/<tid>/status) of every
// thread of this process but the calling one.
std::vector<std::uint64_t> other_threads_signal_masks() {
  std::vector<std::uint64_t> masks;
  const std::string self = std::to_string(::gettid());
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (task.path().filename() == self) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) masks.push_back(std::stoull(line.substr(7), nullptr, 16));
    }
  }
  return masks;
}

// Counts finish() calls to check that stages finish their successors once.
class CountingSink final : public Sink {
 public:
  void write(std::span<const std::byte> data) override { bytes += data.size(); }
  void finish() override { ++finished; }
  std::size_t bytes = 0;
  int finished = 0;
};

}  // namespace

// ---- SHA-256 ---------------------------------------------------------------------

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data = make_data(300000, 7);
  Sha256 h;
  for (std::size_t pos = 0; pos < data.size(); pos += 1000)
    h.update(std::string_view(data).substr(pos, 1000));
  EXPECT_EQ(h.final_hex(), sha256_hex(data));
  EXPECT_THROW(h.update("more"), Error);
}

TEST(DigestSink, PassesThroughAndHashes) {
  std::string data = make_data(123457);
  StringSink out;
  DigestSink digest(out);
  feed(digest, data);
  EXPECT_EQ(out.str(), data);
  EXPECT_EQ(digest.bytes(), data.size());
  EXPECT_EQ(digest.sha256(), sha256_hex(data));

  StringSink out2;
  DigestSink abc(out2);
  abc.write(as_bytes("ab"));
  abc.write(as_bytes("c"));
  abc.finish();
  EXPECT_EQ(abc.sha256(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(abc.bytes(), 3u);
}

TEST(ObjectSink, CommitsOnFinish) {
  auto storage = make_memory_storage();
  auto writer = storage->open_write("a/b.bin");
  ObjectSink sink(*writer);
  DigestSink digest(sink);
  digest.write(as_bytes("hello "));
  EXPECT_FALSE(storage->info("a/b.bin").has_value());
  digest.write(as_bytes("world"));
  digest.finish();
  EXPECT_EQ(storage->read_all("a/b.bin"), "hello world");
  EXPECT_EQ(digest.sha256(), sha256_hex("hello world"));
}

// ---- compression round trips ----------------------------------------------------

class RoundTrip : public ::testing::TestWithParam<std::tuple<Compression, std::size_t>> {};

TEST_P(RoundTrip, CompressDecompress) {
  auto [c, size] = GetParam();
  std::string data = make_data(size, static_cast<unsigned>(size));

  // data -> DigestSink -> compressor -> DigestSink -> StringSink
  StringSink stored;
  DigestSink stored_digest(stored);
  auto comp = make_compressor(c, 0, stored_digest);
  DigestSink source_digest(*comp);
  feed(source_digest, data);

  EXPECT_EQ(source_digest.bytes(), data.size());
  EXPECT_EQ(source_digest.sha256(), sha256_hex(data));
  EXPECT_EQ(stored_digest.bytes(), stored.str().size());
  EXPECT_EQ(stored_digest.sha256(), sha256_hex(stored.str()));
  if (c == Compression::none) {
    EXPECT_EQ(stored.str(), data);
  } else {
    EXPECT_FALSE(stored.str().empty());  // even an empty input has a header
    if (size >= (1u << 20)) {
      EXPECT_LT(stored.str().size(), data.size() * 3 / 4);
    }
  }

  StringSink restored;
  DigestSink restored_digest(restored);
  auto dec = make_decompressor(c, restored_digest);
  feed(*dec, stored.str());
  ASSERT_EQ(restored.str().size(), data.size());
  EXPECT_TRUE(restored.str() == data);
  EXPECT_EQ(restored_digest.sha256(), source_digest.sha256());
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, RoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kAll),
                                            ::testing::Values(std::size_t{0}, std::size_t{1},
                                                              std::size_t{4095},
                                                              std::size_t{(1u << 20) + 17},
                                                              std::size_t{5 * (1u << 20) + 12345})),
                         [](const auto& info) {
                           return std::string(compression_name(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(Compression, ByteAtATimeDecompression) {
  std::string data = make_data(70000, 3);
  for (Compression c : kReal) {
    std::string packed = compress(c, data);
    StringSink out;
    auto dec = make_decompressor(c, out);
    for (char ch : packed) dec->write(as_bytes(std::string_view(&ch, 1)));
    dec->finish();
    EXPECT_TRUE(out.str() == data) << compression_name(c);
  }
}

TEST(Compression, HighlyCompressibleOutputExceedsBuffers) {
  // 20 MiB of zeros compresses to almost nothing; each input byte of the
  // decompressor then produces far more than one output buffer.
  std::string zeros(20u << 20, '\0');
  for (Compression c : kReal) {
    std::string packed = compress(c, zeros);
    EXPECT_LT(packed.size(), 200000u) << compression_name(c);
    CountingSink counter;
    auto dec = make_decompressor(c, counter);
    feed(*dec, packed);
    EXPECT_EQ(counter.bytes, zeros.size()) << compression_name(c);
    EXPECT_EQ(counter.finished, 1) << compression_name(c);
  }
}

TEST(Compression, NonDefaultLevels) {
  std::string data = make_data(300000, 11);
  for (auto [c, level] : std::vector<std::pair<Compression, int>>{{Compression::gzip, 1},
                                                                  {Compression::gzip, 9},
                                                                  {Compression::lz4, 12},
                                                                  {Compression::zstd, 1},
                                                                  {Compression::zstd, 19}}) {
    EXPECT_TRUE(decompress(c, compress(c, data, level)) == data)
        << compression_name(c) << " level " << level;
  }
}

TEST(Compression, MagicBytes) {
  auto starts = [](const std::string& s, std::string_view magic) {
    return s.compare(0, magic.size(), magic) == 0;
  };
  EXPECT_TRUE(starts(compress(Compression::gzip, "x"), "\x1f\x8b"));
  EXPECT_TRUE(starts(compress(Compression::zstd, "x"), "\x28\xb5\x2f\xfd"));
  EXPECT_TRUE(starts(compress(Compression::lz4, "x"), "\x04\x22\x4d\x18"));
}

TEST(Compression, ConcatenatedStreams) {
  std::string a = make_data(100000, 1), b = make_data(50001, 2);
  for (Compression c : kReal) {
    std::string joined = compress(c, a) + compress(c, b);
    EXPECT_TRUE(decompress(c, joined) == a + b) << compression_name(c);
  }
  // gzip members split at an arbitrary point across writes.
  std::string joined = compress(Compression::gzip, "first") + compress(Compression::gzip, "second");
  StringSink out;
  auto dec = make_decompressor(Compression::gzip, out);
  std::size_t cut = compress(Compression::gzip, "first").size();
  dec->write(as_bytes(std::string_view(joined).substr(0, cut)));
  dec->write(as_bytes(std::string_view(joined).substr(cut)));
  dec->finish();
  EXPECT_EQ(out.str(), "firstsecond");
}

TEST(Compression, TruncatedInputIsCorrupt) {
  std::string data = make_data(200000, 5);
  for (Compression c : kReal) {
    std::string packed = compress(c, data);
    for (std::size_t keep :
         {packed.size() - 1, packed.size() - 4, packed.size() / 2, std::size_t{5}}) {
      SCOPED_TRACE(std::string(compression_name(c)) + " keep " + std::to_string(keep));
      expect_error([&] { decompress(c, packed.substr(0, keep)); }, ErrorKind::corrupt,
                   "corrupt " + std::string(compression_name(c)) + " data");
    }
    expect_error([&] { decompress(c, ""); }, ErrorKind::corrupt, "truncated");
  }
}

TEST(Compression, GarbledInputIsCorrupt) {
  std::string data = make_data(200000, 6);
  for (Compression c : kReal) {
    std::string packed = compress(c, data);
    for (std::size_t at : {packed.size() / 3, packed.size() / 2, packed.size() - 2}) {
      SCOPED_TRACE(std::string(compression_name(c)) + " flip at " + std::to_string(at));
      std::string bad = packed;
      bad[at] = static_cast<char>(bad[at] ^ 0x5a);
      expect_error([&] { decompress(c, bad); }, ErrorKind::corrupt);
    }
    expect_error([&] { decompress(c, "this is plain text, not compressed at all"); },
                 ErrorKind::corrupt);
  }
}

TEST(Compression, TrailingGarbageIsCorrupt) {
  std::string packed = compress(Compression::gzip, "payload");
  expect_error([&] { decompress(Compression::gzip, packed + "garbage!"); }, ErrorKind::corrupt);
  std::string z = compress(Compression::zstd, "payload");
  expect_error([&] { decompress(Compression::zstd, z + "garbage!"); }, ErrorKind::corrupt);
}

TEST(Compression, LevelValidation) {
  expect_error([] { validate_compression_level(Compression::zstd, 30); },
               ErrorKind::invalid_argument,
               "compression level 30 is out of range for zstd (allowed: 1..22)");
  expect_error([] { validate_compression_level(Compression::gzip, 10); },
               ErrorKind::invalid_argument,
               "compression level 10 is out of range for gzip (allowed: 1..9)");
  expect_error([] { validate_compression_level(Compression::lz4, -1); },
               ErrorKind::invalid_argument,
               "compression level -1 is out of range for lz4 (allowed: 1..12)");
  expect_error([] { validate_compression_level(Compression::none, 3); },
               ErrorKind::invalid_argument, "not allowed without compression");
  StringSink out;
  expect_error([&] { make_compressor(Compression::zstd, 23, out); }, ErrorKind::invalid_argument,
               "out of range");
  expect_error([&] { make_compressor(Compression::zstd, 0, out, 65); }, ErrorKind::invalid_argument,
               "compression workers 65 is out of range (allowed: 0..64)");
  expect_error([&] { make_compressor(Compression::zstd, 0, out, -1); }, ErrorKind::invalid_argument,
               "out of range (allowed: 0..64)");
  for (Compression c : kAll) {
    LevelRange r = compression_levels(c);
    EXPECT_NO_THROW(validate_compression_level(c, 0));  // 0 = default
    EXPECT_NO_THROW(validate_compression_level(c, r.min));
    EXPECT_NO_THROW(validate_compression_level(c, r.max));
    EXPECT_GE(r.default_level, r.min);
    EXPECT_LE(r.default_level, r.max);
  }
}

TEST(Compression, Names) {
  EXPECT_EQ(parse_compression("ZSTD"), Compression::zstd);
  EXPECT_EQ(parse_compression("Gzip"), Compression::gzip);
  EXPECT_EQ(parse_compression("lz4"), Compression::lz4);
  EXPECT_EQ(parse_compression("none"), Compression::none);
  EXPECT_FALSE(parse_compression("bzip2").has_value());
  EXPECT_FALSE(parse_compression("").has_value());
  EXPECT_FALSE(parse_compression("zstd ").has_value());
  EXPECT_EQ(compression_suffix(Compression::zstd), ".zst");
  EXPECT_EQ(compression_suffix(Compression::gzip), ".gz");
  EXPECT_EQ(compression_suffix(Compression::lz4), ".lz4");
  EXPECT_EQ(compression_suffix(Compression::none), "");
  EXPECT_EQ(compression_from_name("base.tar.zst"), Compression::zstd);
  EXPECT_EQ(compression_from_name("dump.pgdump.gz"), Compression::gzip);
  EXPECT_EQ(compression_from_name("16385.tar.lz4"), Compression::lz4);
  EXPECT_EQ(compression_from_name("backup_manifest"), Compression::none);
  EXPECT_EQ(compression_from_name("base.tar"), Compression::none);
  for (Compression c : kAll) EXPECT_EQ(parse_compression(compression_name(c)), c);
}

TEST(Compression, FinishPropagatesOnce) {
  for (Compression c : kAll) {
    CountingSink counter;
    auto comp = make_compressor(c, 0, counter);
    comp->write(as_bytes("abc"));
    comp->finish();
    EXPECT_EQ(counter.finished, 1) << compression_name(c);
  }
}

TEST(Compression, ZstdWorkersGiveOneFrameAndTakeNoSignals) {
  // Several MB, so libzstd's workers get jobs of their own (1 MiB each).
  std::string data;
  for (int i = 0; data.size() < 6u * 1024 * 1024; ++i)
    data += "row " + std::to_string(i * 7919 % 100003) + " of a table that compresses well\n";
  StringSink out;
  auto comp = make_compressor(Compression::zstd, 3, out, 2);
  feed(*comp, data, false);
  // libzstd's threads exist while the compressor does; they run in a
  // PostgreSQL backend too, where every signal belongs to the main thread.
  const auto masks = other_threads_signal_masks();
  ASSERT_GE(masks.size(), 2u) << "libzstd started no worker threads";
  constexpr std::uint64_t kTerm = 1ull << (SIGTERM - 1), kUsr1 = 1ull << (SIGUSR1 - 1),
                          kInt = 1ull << (SIGINT - 1), kQuit = 1ull << (SIGQUIT - 1);
  for (std::uint64_t m : masks)
    EXPECT_EQ(m & (kTerm | kUsr1 | kInt | kQuit), kTerm | kUsr1 | kInt | kQuit);
  comp->finish();
  // One frame, as without workers: any zstd reader (and pgvault's) takes it.
  const std::string& z = out.str();
  EXPECT_EQ(ZSTD_findFrameCompressedSize(z.data(), z.size()), z.size());
  EXPECT_EQ(decompress(Compression::zstd, z), data);
  EXPECT_LT(z.size(), data.size() / 4);
}
