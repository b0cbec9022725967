// Fetching one archived WAL file (include/pgvault/wal/wal_fetch.hpp) from the
// in-memory store, with objects written by push_wal_file (the archive
// module's core) or, for damage, by hand: found, not found, checksum
// mismatch, damaged compressed and encrypted objects, keys, conflicts,
// another cluster's segment, and that a failure never leaves a partial file.
#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_fetch.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_push.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"
#include "wal_test_segment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

using wal_test::kSegSize;
using wal_test::segment_bytes;

constexpr std::uint64_t kSysid = wal_test::kSegmentSysid;
const std::string kSysidText = std::to_string(kSysid);

EncryptionKey key_with(int seed) {
  std::array<std::byte, kEncryptionKeySize> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 5 + seed);
  return EncryptionKey::from_bytes(bytes);
}

class WalFetch : public ::testing::Test {
 protected:
  // Archives content as name through push_wal_file; returns the key.
  std::string archive(const std::string& name, const std::string& content,
                      Compression compression = Compression::none,
                      const EncryptionKey* key = nullptr) {
    const auto path = dir_.path() / ("push-" + name);
    std::ofstream(path, std::ios::binary) << content;
    WalPushRequest r;
    r.system_identifier = kSysidText;
    r.wal_segment_size = kSegSize;
    r.file_name = name;
    r.local_path = path.string();
    r.encode.compression = compression;
    r.encode.encryption_key = key;
    return push_wal_file(*storage_, r).key;
  }
  WalFetchRequest request(const std::string& name) {
    WalFetchRequest r;
    r.system_identifier = kSysidText;
    r.file_name = name;
    r.destination = destination();
    return r;
  }
  std::string destination() const { return (dir_.path() / "pg_wal" / "RECOVERYXLOG").string(); }
  // What the destination directory holds besides nothing: no partial file ever.
  std::vector<std::string> files_in_destination_directory() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_.path() / "pg_wal"))
      names.push_back(e.path().filename().string());
    return names;
  }
  void SetUp() override { fs::create_directory(dir_.path() / "pg_wal"); }

  TempDir dir_;
  std::unique_ptr<Storage> storage_ = make_memory_storage();
};

TEST_F(WalFetch, FetchesASegmentArchivedByPushInEveryCodec) {
  std::uint32_t seg = 3;
  for (Compression c :
       {Compression::none, Compression::gzip, Compression::lz4, Compression::zstd}) {
    const std::string name = WalFileName::segment(1, seg++, kSegSize).name();
    const std::string content = segment_bytes(name);
    const std::string key = archive(name, content, c);
    const WalFetchResult r = fetch_wal_file(*storage_, request(name));
    EXPECT_EQ(r.outcome, WalFetchOutcome::fetched);
    EXPECT_EQ(r.key, key);
    EXPECT_EQ(r.sha256, sha256_hex(content));
    EXPECT_EQ(r.bytes, kSegSize);
    EXPECT_EQ(slurp(destination()), content);
    EXPECT_EQ(files_in_destination_directory(), std::vector<std::string>{"RECOVERYXLOG"});
  }
}

TEST_F(WalFetch, HistoryBackupAndPartialFilesRoundTrip) {
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  archive("00000002.history", history, Compression::zstd);
  EXPECT_EQ(fetch_wal_file(*storage_, request("00000002.history")).outcome,
            WalFetchOutcome::fetched);
  EXPECT_EQ(slurp(destination()), history);

  const std::string backup = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
  archive("000000010000000000000002.00000028.backup", backup);
  fetch_wal_file(*storage_, request("000000010000000000000002.00000028.backup"));
  EXPECT_EQ(slurp(destination()), backup);

  const std::string partial_name = "000000010000000000000005.partial";
  const std::string partial = segment_bytes("000000010000000000000005");
  archive(partial_name, partial, Compression::lz4);
  fetch_wal_file(*storage_, request(partial_name));
  EXPECT_EQ(slurp(destination()), partial);
}

TEST_F(WalFetch, NotArchivedIsNotFoundAndWritesNothing) {
  archive("000000010000000000000003", segment_bytes("000000010000000000000003"));
  for (const char* name : {"000000010000000000000004", "000000020000000000000003",
                           "00000002.history", "000000010000000000000003.partial"}) {
    const WalFetchResult r = fetch_wal_file(*storage_, request(name));
    EXPECT_EQ(r.outcome, WalFetchOutcome::not_found) << name;
    EXPECT_TRUE(r.key.empty());
  }
  // Another system's WAL under its own prefix is not ours.
  WalFetchRequest other = request("000000010000000000000003");
  other.system_identifier = "42";
  EXPECT_EQ(fetch_wal_file(*storage_, other).outcome, WalFetchOutcome::not_found);
  EXPECT_TRUE(files_in_destination_directory().empty());
}

TEST_F(WalFetch, KeysThatDoNotParseAreIgnored) {
  const std::string name = "000000010000000000000003";
  const std::string key = archive(name, segment_bytes(name));
  storage_->write_all(key + ".tmp", "half an upload");
  storage_->write_all(wal_directory(kSysidText, parse_wal_file_name(name)) + name + "-nothex", "x");
  EXPECT_EQ(fetch_wal_file(*storage_, request(name)).key, key);
}

TEST_F(WalFetch, ContentThatDoesNotMatchTheKeysChecksumIsRefused) {
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  // A valid segment of this cluster at this position, but not the one archived.
  const std::string key =
      wal_object_key(kSysidText, parse_wal_file_name(name), sha256_hex(content), Compression::none);
  storage_->write_all(key, segment_bytes(name, kSysid, 'X'));
  std::ofstream(destination()) << "what was there before";
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt,
               "but the key says " + sha256_hex(content));
  // The destination is untouched and no partial file is left.
  EXPECT_EQ(slurp(destination()), "what was there before");
  EXPECT_EQ(files_in_destination_directory(), std::vector<std::string>{"RECOVERYXLOG"});
}

TEST_F(WalFetch, DamagedCompressedObjectIsAnErrorAndLeavesNoFile) {
  const std::string name = "000000010000000000000003";
  const std::string key = archive(name, segment_bytes(name), Compression::zstd);
  std::string stored = storage_->read_all(key);
  stored[stored.size() / 2] ^= 0x5A;
  stored[stored.size() / 2 + 1] ^= 0x5A;
  storage_->write_all(key, stored);
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt, name);
  EXPECT_TRUE(files_in_destination_directory().empty());

  // Truncated: the stream ends early.
  const std::string key4 = archive("000000010000000000000004",
                                   segment_bytes("000000010000000000000004"), Compression::gzip);
  storage_->write_all(key4, storage_->read_all(key4).substr(0, 100));
  try {
    fetch_wal_file(*storage_, request("000000010000000000000004"));
    ADD_FAILURE() << "a truncated object was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("000000010000000000000004"), std::string::npos);
  }
  EXPECT_TRUE(files_in_destination_directory().empty());
}

TEST_F(WalFetch, EncryptedObjectsNeedTheRightKey) {
  const EncryptionKey key = key_with(3);
  const EncryptionKey other = key_with(7);
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  const std::string stored_key = archive(name, content, Compression::zstd, &key);

  WalFetchRequest r = request(name);
  r.decryptor = wal_decryptor(key_provider(key));
  EXPECT_EQ(fetch_wal_file(*storage_, r).outcome, WalFetchOutcome::fetched);
  EXPECT_EQ(slurp(destination()), content);
  fs::remove(destination());

  r.decryptor = wal_decryptor(key_provider(other));
  expect_error([&] { fetch_wal_file(*storage_, r); }, ErrorKind::invalid_argument, name);
  EXPECT_TRUE(files_in_destination_directory().empty());

  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::invalid_argument,
               "no encryption key was given");
  EXPECT_TRUE(files_in_destination_directory().empty());

  // Tampered ciphertext fails authentication.
  std::string stored = storage_->read_all(stored_key);
  stored[stored.size() - 40] ^= 0x01;
  storage_->write_all(stored_key, stored);
  r.decryptor = wal_decryptor(key_provider(key));
  expect_error([&] { fetch_wal_file(*storage_, r); }, ErrorKind::corrupt, name);
  EXPECT_TRUE(files_in_destination_directory().empty());

  // An unencrypted object still reads with a key configured (archived before
  // encryption was turned on); its checksum still decides.
  const std::string plain = "000000010000000000000004";
  archive(plain, segment_bytes(plain));
  r.file_name = plain;
  EXPECT_EQ(fetch_wal_file(*storage_, r).outcome, WalFetchOutcome::fetched);
}

TEST_F(WalFetch, TwoDifferentContentsUnderOneNameAreAConflictNamingBoth) {
  const std::string name = "000000010000000000000003";
  const std::string a = archive(name, segment_bytes(name, kSysid, 'a'));
  const std::string b_content = segment_bytes(name, kSysid, 'b');
  const std::string b = wal_object_key(kSysidText, parse_wal_file_name(name), sha256_hex(b_content),
                                       Compression::none);
  storage_->write_all(b, b_content);
  try {
    fetch_wal_file(*storage_, request(name));
    ADD_FAILURE() << "a conflict was not reported";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find(a), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(b), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files_in_destination_directory().empty());

  // Two history objects (keys carry no checksum) are a conflict too.
  archive("00000002.history", "1\t0/3000000\treason\n");
  storage_->write_all(kSysidText + "/wal/00000002.history.zst", "anything");
  expect_error([&] { fetch_wal_file(*storage_, request("00000002.history")); }, ErrorKind::conflict,
               "00000002.history");
}

TEST_F(WalFetch, TheSameContentInTwoCodecsIsOneFile) {
  const std::string name = "000000010000000000000003";
  const std::string content = segment_bytes(name);
  archive(name, content, Compression::none);
  const std::string zst =
      wal_object_key(kSysidText, parse_wal_file_name(name), sha256_hex(content), Compression::zstd);
  storage_->write_all(zst, storage_->read_all(wal_object_key(
                               kSysidText, parse_wal_file_name(name), sha256_hex(content),
                               Compression::none)));  // content irrelevant: the first key is read
  EXPECT_EQ(fetch_wal_file(*storage_, request(name)).outcome, WalFetchOutcome::fetched);
  EXPECT_EQ(slurp(destination()), content);
}

TEST_F(WalFetch, ASegmentWhosePageHeaderIsWrongIsRefused) {
  const std::string name = "000000010000000000000003";
  auto store_as = [&](const std::string& content) {
    storage_->remove_prefix(wal_root(kSysidText));
    storage_->write_all(wal_object_key(kSysidText, parse_wal_file_name(name), sha256_hex(content),
                                       Compression::none),
                        content);
  };
  // Another cluster's segment, checksum matching its key.
  store_as(segment_bytes(name, 99));
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::conflict, name);
  // Another position's segment.
  store_as(segment_bytes("000000010000000000000007"));
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt, name);
  // Too short, and too long.
  store_as(segment_bytes(name).substr(0, 5000));
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt, "bytes long");
  store_as(segment_bytes(name) + "more");
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt, "more than");
  // Not WAL at all.
  store_as(std::string(kSegSize, 'z'));
  expect_error([&] { fetch_wal_file(*storage_, request(name)); }, ErrorKind::corrupt, name);
  EXPECT_TRUE(files_in_destination_directory().empty());
}

TEST_F(WalFetch, AHistoryFileThatDoesNotParseIsRefused) {
  storage_->write_all(kSysidText + "/wal/00000003.history", "5\t0/3000000\tlater than itself\n");
  expect_error([&] { fetch_wal_file(*storage_, request("00000003.history")); }, ErrorKind::corrupt,
               "");
  EXPECT_TRUE(files_in_destination_directory().empty());
}

TEST_F(WalFetch, BadRequestsAreClearErrors) {
  expect_error([&] { fetch_wal_file(*storage_, request("../etc/passwd")); },
               ErrorKind::invalid_argument, "invalid WAL file name");
  WalFetchRequest r = request("000000010000000000000003");
  r.system_identifier = "12ab";
  expect_error([&] { fetch_wal_file(*storage_, r); }, ErrorKind::invalid_argument, "12ab");
}

// ---- the prefetch spool -------------------------------------------------------

class WalSpoolTest : public WalFetch {
 protected:
  std::string spool_dir() const { return (dir_.path() / "spool").string(); }
  WalPrefetcherOptions options(unsigned depth) {
    WalPrefetcherOptions o;
    o.system_identifier = kSysidText;
    o.depth = depth;
    o.durable = false;
    o.poll = std::chrono::milliseconds(1);
    o.retry = std::chrono::milliseconds(1);
    o.idle_exit = std::chrono::hours(1);  // the tests stop it by condition
    return o;
  }
  // Runs the prefetcher until done(report) holds (or a minute passed, then
  // the caller's expectations fail); returns its final report.
  WalPrefetcherReport prefetch_until(WalSpool& spool, const WalPrefetcherOptions& o,
                                     const std::function<bool(const WalPrefetcherReport&)>& done,
                                     unsigned threads = 2) {
    WalPrefetcherReport last;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    // The memory store is thread-safe; real drivers get one storage per thread.
    std::vector<Storage*> storages(threads, storage_.get());
    return run_wal_prefetcher(
        storages, spool, o,
        [&] { return !done(last) && std::chrono::steady_clock::now() < give_up; },
        [&](const WalPrefetcherReport& r) { last = r; });
  }
  std::vector<std::string> spooled() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(spool_dir()))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string seg(std::uint32_t n) { return WalFileName::segment(1, n, kSegSize).name(); }
};

TEST_F(WalSpoolTest, PrefetchFillsTheSpoolAndTakeMovesAVerifiedFile) {
  for (std::uint32_t n = 3; n <= 6; ++n) archive(seg(n), segment_bytes(seg(n)), Compression::zstd);
  WalSpool spool(spool_dir(), (dir_.path() / "pgdata").string());
  EXPECT_EQ(fs::status(spool_dir()).permissions() & fs::perms::all, fs::perms::owner_all);
  spool.set_wanted(parse_wal_file_name(seg(3)), kSegSize);
  const WalPrefetcherReport r = prefetch_until(spool, options(5), [](const WalPrefetcherReport& r) {
    return r.fetched == 3 && r.end_of_archive;
  });
  EXPECT_EQ(r.fetched, 3u);
  ASSERT_TRUE(r.end_of_archive);
  EXPECT_EQ(r.end_of_archive->name(), seg(7));
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(spooled(), (std::vector<std::string>{seg(4), seg(5), seg(6), "wanted"}));

  // Taken: moved into the destination, gone from the spool, without the store.
  storage_->remove_prefix(wal_root(kSysidText));
  std::string why_not;
  std::uint64_t size = 0;
  const WalFileName four = parse_wal_file_name(seg(4));
  EXPECT_TRUE(spool.take(four, destination(), kSysidText, why_not, size)) << why_not;
  EXPECT_EQ(size, kSegSize);
  EXPECT_EQ(slurp(destination()), segment_bytes(seg(4)));
  EXPECT_FALSE(spool.has(four));
  EXPECT_FALSE(spool.take(four, destination(), kSysidText, why_not, size));
  EXPECT_EQ(why_not, "not in the spool");
}

TEST_F(WalSpoolTest, TheWindowFollowsWantedAndTheEndOfTheArchiveIsAskedAgain) {
  for (std::uint32_t n = 4; n <= 5; ++n) archive(seg(n), segment_bytes(seg(n)));
  WalSpool spool(spool_dir(), "");
  spool.set_wanted(parse_wal_file_name(seg(3)), kSegSize);
  bool archived_more = false;
  std::string wanted_seen;
  // Depth 3 after 3: 4 and 5, and the end of the archive at 6; then recovery
  // asks for 5, and 6 and 7 are archived.
  const WalPrefetcherReport r =
      prefetch_until(spool, options(3), [&](const WalPrefetcherReport& r) {
        if (!archived_more && r.end_of_archive && spool.has(parse_wal_file_name(seg(5)))) {
          // As wal-fetch does: what it asks for is recorded before it is taken.
          std::string why_not;
          std::uint64_t size = 0;
          spool.set_wanted(parse_wal_file_name(seg(5)), kSegSize);
          spool.take(parse_wal_file_name(seg(4)), destination(), kSysidText, why_not, size);
          spool.take(parse_wal_file_name(seg(5)), destination(), kSysidText, why_not, size);
          for (std::uint32_t n = 6; n <= 7; ++n) archive(seg(n), segment_bytes(seg(n)));
          archived_more = true;
        }
        return archived_more && spool.has(parse_wal_file_name(seg(6))) &&
               spool.has(parse_wal_file_name(seg(7)));
      });
  EXPECT_TRUE(archived_more);
  EXPECT_EQ(r.fetched, 4u);
  EXPECT_EQ(spooled(), (std::vector<std::string>{seg(6), seg(7), "wanted"}));
}

// While the end of the archive is asked again (every retry interval), it
// stays the first missing segment: nothing past it is asked for, so once the
// first answers are in (7 and 8 are asked together before either is known
// missing) the report never names a later one. Once it is archived, it is
// fetched and the end moves on.
TEST_F(WalSpoolTest, TheEndOfTheArchiveStaysTheFirstMissingSegmentWhileAskedAgain) {
  for (std::uint32_t n = 3; n <= 6; ++n) archive(seg(n), segment_bytes(seg(n)));
  WalSpool spool(spool_dir(), "");
  spool.set_wanted(parse_wal_file_name(seg(3)), kSegSize);
  std::set<std::string> ends;
  const auto start = std::chrono::steady_clock::now();
  const auto first_answers_in = start + std::chrono::milliseconds(100);
  const auto asked_again_for_a_while = start + std::chrono::milliseconds(400);
  WalPrefetcherReport r = prefetch_until(spool, options(5), [&](const WalPrefetcherReport& r) {
    if (r.end_of_archive && std::chrono::steady_clock::now() > first_answers_in)
      ends.insert(r.end_of_archive->name());
    return r.fetched == 3 && r.end_of_archive &&
           std::chrono::steady_clock::now() > asked_again_for_a_while;
  });
  EXPECT_EQ(ends, (std::set<std::string>{seg(7)}));
  ASSERT_TRUE(r.end_of_archive);
  EXPECT_EQ(r.end_of_archive->name(), seg(7));

  archive(seg(7), segment_bytes(seg(7)));
  r = prefetch_until(spool, options(5), [](const WalPrefetcherReport& r) {
    return r.fetched == 1 && r.end_of_archive && r.end_of_archive->name() == seg(8);
  });
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_TRUE(spool.has(parse_wal_file_name(seg(7))));
}

TEST_F(WalSpoolTest, ThePrefetcherStopsWhenNothingIsAskedFor) {
  WalSpool spool(spool_dir(), "");
  WalPrefetcherOptions o = options(4);
  o.idle_exit = std::chrono::milliseconds(20);
  const WalPrefetcherReport r = run_wal_prefetcher({storage_.get()}, spool, o, [] { return true; });
  EXPECT_EQ(r.fetched, 0u);
  EXPECT_FALSE(r.wanted);
  // Nor when what is asked for stays at the end of the archive (it is asked
  // for again every `retry`, which is not work that keeps it alive).
  spool.set_wanted(parse_wal_file_name(seg(3)), kSegSize);
  o.idle_exit = std::chrono::milliseconds(200);  // time enough to meet the end
  const WalPrefetcherReport at_end =
      run_wal_prefetcher({storage_.get()}, spool, o, [] { return true; });
  EXPECT_EQ(at_end.fetched, 0u);
  ASSERT_TRUE(at_end.end_of_archive);
  EXPECT_EQ(at_end.end_of_archive->name(), seg(4));
}

TEST_F(WalSpoolTest, ADamagedOrForeignSpooledFileIsRemovedNotTaken) {
  WalSpool spool(spool_dir(), "");
  const WalFileName five = parse_wal_file_name("000000010000000000000005");
  std::ofstream(spool.path_of(five), std::ios::binary)
      << segment_bytes("000000010000000000000005", 99);  // another cluster's
  std::string why_not;
  std::uint64_t size = 0;
  EXPECT_FALSE(spool.take(five, destination(), kSysidText, why_not, size));
  EXPECT_NE(why_not.find("failed its check"), std::string::npos) << why_not;
  EXPECT_FALSE(spool.has(five));
  std::ofstream(spool.path_of(five), std::ios::binary)
      << segment_bytes("000000010000000000000005").substr(0, 4096);  // truncated
  EXPECT_FALSE(spool.take(five, destination(), kSysidText, why_not, size));
  EXPECT_FALSE(fs::exists(destination()));
}

TEST_F(WalSpoolTest, FailuresInThePrefetchAreCollectedAndLeaveNothing) {
  const std::string good = seg(4);
  archive(good, segment_bytes(good));
  const std::string bad = seg(5);
  const std::string key = archive(bad, segment_bytes(bad), Compression::gzip);
  storage_->write_all(key, "garbage");
  WalSpool spool(spool_dir(), "");
  spool.set_wanted(parse_wal_file_name(seg(3)), kSegSize);
  const WalPrefetcherReport r = prefetch_until(
      spool, options(2),
      [](const WalPrefetcherReport& r) { return r.fetched == 1 && !r.errors.empty(); }, 1);
  EXPECT_EQ(r.fetched, 1u);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find(bad), std::string::npos);
  EXPECT_EQ(spooled(), (std::vector<std::string>{good, "wanted"}));
}

TEST_F(WalSpoolTest, StaleFilesAreRemoved) {
  WalSpool spool(spool_dir(), "");
  for (const char* name : {"000000010000000000000003", "000000010000000000000007",
                           "000000020000000000000008", "000000020000000000000008.pgvault-partial",
                           "000000020000000000000009", "00000002000000000000000A.pgvault-partial"})
    std::ofstream(spool_dir() + "/" + name) << "x";
  spool.set_wanted(parse_wal_file_name("000000020000000000000009"), kSegSize);
  spool.remove_stale(parse_wal_file_name("000000020000000000000009"));
  // The partial file of a segment ahead is being fetched: it stays.
  EXPECT_EQ(spooled(),
            (std::vector<std::string>{"000000020000000000000009",
                                      "00000002000000000000000A.pgvault-partial", "wanted"}));
  const auto wanted = spool.wanted();
  ASSERT_TRUE(wanted);
  EXPECT_EQ(wanted->file.name(), "000000020000000000000009");
  EXPECT_EQ(wanted->segment_size, kSegSize);
}

TEST_F(WalSpoolTest, ASpoolOfAnotherSessionIsEmptiedBeforeUse) {
  WalSpool spool(spool_dir(), "");
  EXPECT_EQ(spool.session(), "");
  for (const char* name : {"000000010000000000000004", "000000010000000000000005.pgvault-partial",
                           "prefetch.status", "lock"})
    std::ofstream(spool_dir() + "/" + name) << "x";
  spool.set_wanted(parse_wal_file_name("000000010000000000000003"), kSegSize);
  spool.start_session("server 42 1700000000\n");
  EXPECT_EQ(spool.session(), "server 42 1700000000\n");
  EXPECT_EQ(spooled(), (std::vector<std::string>{"lock", "session"}));
  EXPECT_FALSE(spool.wanted());
}

TEST_F(WalSpoolTest, RemoveAllRemovesASpoolAndRefusesAnythingElse) {
  {
    WalSpool spool(spool_dir(), "");
    spool.start_session("s\n");
    spool.set_wanted(parse_wal_file_name("000000010000000000000003"), kSegSize);
    for (const char* name : {"000000010000000000000004", "000000010000000000000005.pgvault-partial",
                             "prefetch.status", "prefetch.status.tmp", "lock"})
      std::ofstream(spool_dir() + "/" + name) << "x";
    EXPECT_TRUE(spool.foreign_entries().empty());
    spool.remove_all();
    EXPECT_FALSE(fs::exists(spool_dir()));
  }
  expect_error([&] { WalSpool(spool_dir(), "", WalSpool::Open::existing); }, ErrorKind::not_found,
               "there is no spool directory");
  EXPECT_FALSE(fs::exists(spool_dir()));

  // A directory that holds anything else is not a spool: nothing is removed.
  WalSpool spool(spool_dir(), "");
  std::ofstream(spool_dir() + "/000000010000000000000004") << "x";
  std::ofstream(spool_dir() + "/PG_VERSION") << "15";
  fs::create_directory(spool_dir() + "/base");
  EXPECT_EQ(spool.foreign_entries(), (std::vector<std::string>{"PG_VERSION", "base"}));
  expect_error([&] { spool.remove_all(); }, ErrorKind::invalid_argument,
               "which pgvault's WAL spool never writes");
  EXPECT_EQ(spooled(),
            (std::vector<std::string>{"000000010000000000000004", "PG_VERSION", "base"}));
}

TEST_F(WalSpoolTest, ASpoolInsideTheDataDirectoryOrSharedWithOthersIsRefused) {
  const std::string pgdata = (dir_.path() / "pgdata").string();
  fs::create_directory(pgdata);
  expect_error([&] { WalSpool(pgdata + "/spool", pgdata); }, ErrorKind::invalid_argument,
               "inside the data directory");
  expect_error([&] { WalSpool(pgdata + "/pg_wal/../x", pgdata); }, ErrorKind::invalid_argument,
               "inside the data directory");
  EXPECT_NO_THROW(WalSpool(pgdata + ".pgvault-spool", pgdata));
  fs::create_directory(dir_.path() / "open");
  fs::permissions(dir_.path() / "open", fs::perms::all);
  expect_error([&] { WalSpool((dir_.path() / "open").string(), ""); }, ErrorKind::invalid_argument,
               "0700");
  std::ofstream(dir_.path() / "file") << "x";
  expect_error([&] { WalSpool((dir_.path() / "file").string(), ""); }, ErrorKind::invalid_argument,
               "not a directory");
}

}  // namespace
