// Restore and verify on two cores: the stage that decodes on a thread of its
// own (ThreadedSink), CRC-32C manifests (PostgreSQL's default checksum, what
// pgvault's full backups now ask for), and errors raised off the caller's
// thread reaching it unchanged.
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/threaded_sink.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

// ---- CRC-32C ---------------------------------------------------------------

TEST(Crc32c, StandardCheckValueInManifestByteOrder) {
  // The CRC-32C check value of "123456789" is 0xE3069283; PostgreSQL writes
  // the CRC's bytes as they lie in memory (little-endian).
  Crc32c c;
  c.update(std::string_view("123456789"));
  EXPECT_EQ(c.value(), 0xE3069283u);
  EXPECT_EQ(c.manifest_hex(), "839206e3");
  EXPECT_EQ(crc32c_manifest_hex(""), "00000000");
}

TEST(Crc32c, AnyChunkingGivesTheSameValue) {
  std::string data(100000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) % 253);
  const std::string whole = crc32c_manifest_hex(data);
  for (std::size_t chunk : {1u, 3u, 4096u, 65537u}) {
    Crc32c c;
    for (std::size_t at = 0; at < data.size(); at += chunk)
      c.update(std::string_view(data).substr(at, chunk));
    EXPECT_EQ(c.manifest_hex(), whole) << "chunk " << chunk;
  }
}

// ---- ThreadedSink ----------------------------------------------------------

// Records what reached it and on which thread.
class RecordingSink final : public Sink {
 public:
  void write(std::span<const std::byte> data) override {
    std::lock_guard<std::mutex> lock(mutex);
    threads.push_back(std::this_thread::get_id());
    text.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (fail_after != 0 && text.size() >= fail_after)
      throw Error(ErrorKind::corrupt, "downstream says no");
  }
  void finish() override {
    std::lock_guard<std::mutex> lock(mutex);
    threads.push_back(std::this_thread::get_id());
    finished = true;
    if (fail_on_finish) throw Error(ErrorKind::io, "finish says no");
  }
  std::mutex mutex;
  std::string text;
  std::vector<std::thread::id> threads;
  bool finished = false;
  std::size_t fail_after = 0;
  bool fail_on_finish = false;
};

TEST(ThreadedSink, PassesEverythingInOrderOnAnotherThread) {
  RecordingSink rec;
  std::string expected;
  {
    ThreadedSink t(rec, 4096, 2);  // small buffers: the caller waits for free ones
    for (int i = 0; i < 2000; ++i) {
      const std::string piece = std::to_string(i) + std::string(i % 37, 'x') + ";";
      expected += piece;
      t.write(as_bytes(piece));
    }
    t.finish();
  }
  EXPECT_EQ(rec.text, expected);
  EXPECT_TRUE(rec.finished);
  for (const auto& id : rec.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ThreadedSink, DownstreamErrorReachesTheCallerUnchanged) {
  RecordingSink rec;
  rec.fail_after = 10000;
  ThreadedSink t(rec, 4096, 2);
  const std::string piece(1000, 'a');
  expect_error(
      [&] {
        for (int i = 0; i < 1000; ++i) t.write(as_bytes(piece));
        t.finish();
      },
      ErrorKind::corrupt, "downstream says no");
  EXPECT_FALSE(rec.finished);  // nothing after the error goes downstream
}

TEST(ThreadedSink, FinishErrorReachesTheCaller) {
  RecordingSink rec;
  rec.fail_on_finish = true;
  ThreadedSink t(rec);
  t.write(as_bytes("abc"));
  expect_error([&] { t.finish(); }, ErrorKind::io, "finish says no");
  EXPECT_EQ(rec.text, "abc");
}

TEST(ThreadedSink, DestroyedWithoutFinishStopsTheThread) {
  RecordingSink rec;
  {
    ThreadedSink t(rec, 4096, 2);
    const std::string piece(5000, 'b');
    for (int i = 0; i < 10; ++i) t.write(as_bytes(piece));
  }  // the caller failed: no finish(), the destructor joins
  EXPECT_FALSE(rec.finished);
}

// ---- restore and verify with CRC-32C manifests ------------------------------

const std::string kSysid = "7291234567890123456";
const std::string kName = "20261124T061530Z-physical";

std::string zstd(const std::string& data) {
  StringSink out;
  auto c = make_compressor(Compression::zstd, 1, out);
  c->write(as_bytes(data));
  c->finish();
  return out.str();
}

// The manifest PostgreSQL writes for MANIFEST_CHECKSUMS 'CRC32C' (make_manifest's
// layout, its checksum lines rewritten). crc32c false: SHA256, as before.
std::string manifest_with(const std::vector<std::pair<std::string, std::string>>& files,
                          const std::vector<bool>& crc32c) {
  std::vector<ManifestEntry> entries;
  for (const auto& [path, content] : files)
    entries.push_back({path, content.size(), "@" + path + "@"});
  std::string m = make_manifest(entries);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [path, content] = files[i];
    const std::string placeholder = "\"SHA256\", \"Checksum\": \"@" + path + "@\"";
    const std::string real =
        crc32c[i] ? "\"CRC32C\", \"Checksum\": \"" + crc32c_manifest_hex(content) + "\""
                  : "\"SHA256\", \"Checksum\": \"" + sha256_hex(content) + "\"";
    m.replace(m.find(placeholder), placeholder.size(), real);
  }
  // Re-seal: the Manifest-Checksum covers everything before its line.
  const std::size_t last = m.rfind("\"Manifest-Checksum\"");
  m.resize(last);
  m += "\"Manifest-Checksum\": \"" + sha256_hex(m) + "\"}\n";
  return m;
}

class Crc32cBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string relation(3 * 1024 * 1024 + 123, '\0');  // several writer buffers
    for (std::size_t i = 0; i < relation.size(); ++i)
      relation[i] = static_cast<char>((i * 31) % 251);
    files = {{"PG_VERSION", "15\n"},
             {"backup_label", "START WAL LOCATION: 0/2000028\n"},
             {"global/pg_control", std::string(8192, '\x07')},
             {"base/5/1234", relation},
             {"base/5/empty", ""}};
  }

  std::string base_tar() const {
    TarWriter t;
    t.dir("base/");
    t.dir("base/5/");
    t.dir("global/");
    for (const auto& [path, content] : files) t.file(path, content);
    t.dir("pg_wal/");
    t.end();
    return t.str();
  }

  void put(const std::string& object, const std::string& bytes) {
    storage->write_all(Repository::object_path(kSysid, kName, object), bytes);
    meta.objects.push_back({object, bytes.size(), sha256_hex(bytes)});
    meta.stored_bytes += bytes.size();
  }

  // Every file CRC32C unless crc32c says otherwise (one flag per file).
  void write_backup(std::vector<bool> crc32c = {}, const std::string& manifest = "") {
    if (crc32c.empty()) crc32c.assign(files.size(), true);
    meta = BackupMeta{};
    meta.name = kName;
    meta.kind = "physical";
    meta.trigger = "manual";
    meta.system_identifier = kSysid;
    meta.pg_version = 150004;
    meta.timeline = 1;
    meta.start_lsn = "0/2000028";
    meta.stop_lsn = "0/2000100";
    meta.started_at = "2026-11-24T06:15:30.123Z";
    meta.completed_at = "2026-11-24T06:15:40.456Z";
    meta.compression = "zstd";
    put("base.tar.zst", zstd(base_tar()));
    put("backup_manifest", manifest.empty() ? manifest_with(files, crc32c) : manifest);
    Repository(*storage).write_meta(meta);
  }

  RestoreOptions options() const {
    RestoreOptions o;
    o.pgdata = tmp.str() + "/pgdata";
    return o;
  }

  RestoreReport restore(const RestoreOptions& o) {
    Repository repo(*storage);
    return restore_physical(repo, repo.resolve("latest"), o);
  }

  VerifyReport verify(const VerifyOptions& o = {}) {
    Repository repo(*storage);
    return verify_backup(repo, repo.resolve(kName, kSysid), o);
  }

  std::unique_ptr<Storage> storage = make_memory_storage();
  BackupMeta meta;
  std::vector<std::pair<std::string, std::string>> files;
  TempDir tmp;
};

TEST_F(Crc32cBackupTest, RestoresAndChecksEveryFileByCrc32c) {
  write_backup();
  std::vector<std::string> notes;
  Repository repo(*storage);
  const RestoreReport r = restore_physical(repo, repo.resolve("latest"), options(),
                                           [&](std::string_view l) { notes.emplace_back(l); });
  EXPECT_EQ(r.manifest_files, files.size());
  for (const auto& [path, content] : files)
    EXPECT_EQ(slurp(tmp.path() / "pgdata" / path), content) << path;
  // CRC32C is checked, not merely noted as an algorithm only sizes are checked for.
  for (const auto& n : notes) EXPECT_EQ(n.find("only file sizes"), std::string::npos) << n;
}

TEST_F(Crc32cBackupTest, VerifiesEveryFileByCrc32c) {
  write_backup();
  const VerifyReport r = verify();
  EXPECT_EQ(r.manifest_files, files.size());
  EXPECT_EQ(r.files, files.size());
}

TEST_F(Crc32cBackupTest, ManifestMixingSha256AndCrc32cIsCheckedByBoth) {
  write_backup({true, false, true, false, true});
  EXPECT_EQ(verify().manifest_files, files.size());
  EXPECT_EQ(restore(options()).manifest_files, files.size());
}

TEST_F(Crc32cBackupTest, RestoredFileNotMatchingItsCrc32cIsAnErrorAndTargetRemoved) {
  auto listed = files;
  listed[3].second[2 * 1024 * 1024] ^= 1;  // base/5/1234: same size, another CRC
  write_backup({}, manifest_with(listed, std::vector<bool>(files.size(), true)));
  expect_error([&] { restore(options()); }, ErrorKind::corrupt,
               "file \"base/5/1234\" in base.tar.zst does not match backup_manifest (CRC-32C is " +
                   crc32c_manifest_hex(files[3].second) + ", manifest says " +
                   crc32c_manifest_hex(listed[3].second) + ")");
  EXPECT_FALSE(fs::exists(tmp.path() / "pgdata"));
}

TEST_F(Crc32cBackupTest, VerifyFindsAFileNotMatchingItsCrc32cOrItsSha256) {
  for (const bool crc : {true, false}) {
    auto listed = files;
    listed[2].second[100] ^= 1;  // global/pg_control
    meta = BackupMeta{};
    write_backup({}, manifest_with(listed, std::vector<bool>(files.size(), crc)));
    expect_error([&] { verify(); }, ErrorKind::corrupt,
                 std::string("file \"global/pg_control\" in base.tar.zst does not match "
                             "backup_manifest (") +
                     (crc ? "CRC-32C is " : "SHA-256 is "));
  }
}

TEST_F(Crc32cBackupTest, CorruptStoredObjectWinsOverTheDecodeErrorItCauses) {
  write_backup();
  const std::string path = Repository::object_path(kSysid, kName, "base.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes[bytes.size() / 2] ^= 0x55;  // zstd fails on the decode thread, the SHA-256 here
  storage->write_all(path, bytes);
  const std::string message = "object \"base.tar.zst\" of backup \"" + kName +
                              "\" is corrupt: SHA-256 mismatch (backup.json says ";
  expect_error([&] { verify(); }, ErrorKind::corrupt, message);
  expect_error([&] { restore(options()); }, ErrorKind::corrupt, message);
  EXPECT_FALSE(fs::exists(tmp.path() / "pgdata"));
}

// A decryption stage that fails after some data, on whatever thread runs it.
class FailingDecryptor final : public Sink {
 public:
  FailingDecryptor(Sink& next, std::atomic<bool>& off_caller, std::thread::id caller)
      : next_(next), off_caller_(off_caller), caller_(caller) {}
  void write(std::span<const std::byte> data) override {
    if (std::this_thread::get_id() != caller_) off_caller_ = true;
    seen_ += data.size();
    if (seen_ > 64) throw Error(ErrorKind::invalid_argument, "wrong key for this object");
    next_.write(data);
  }
  void finish() override { next_.finish(); }

 private:
  Sink& next_;
  std::atomic<bool>& off_caller_;
  std::thread::id caller_;
  std::size_t seen_ = 0;
};

TEST_F(Crc32cBackupTest, ErrorOnTheDecodeThreadReachesTheCallerAsTheSameError) {
  write_backup();
  std::atomic<bool> off_caller{false};
  const std::thread::id caller = std::this_thread::get_id();
  DecryptorFactory failing = [&](const std::string& object, Sink& next) -> std::unique_ptr<Sink> {
    if (object == "backup_manifest") return nullptr;  // read whole, on this thread
    return std::make_unique<FailingDecryptor>(next, off_caller, caller);
  };
  const std::string message =
      "object \"base.tar.zst\" cannot be decoded: wrong key for this object";
  VerifyOptions vo;
  vo.decryptor = failing;
  expect_error([&] { verify(vo); }, ErrorKind::invalid_argument, message);
  EXPECT_TRUE(off_caller.load());
  off_caller = false;
  RestoreOptions ro = options();
  ro.decryptor = failing;
  expect_error([&] { restore(ro); }, ErrorKind::invalid_argument, message);
  EXPECT_TRUE(off_caller.load());
  EXPECT_FALSE(fs::exists(tmp.path() / "pgdata"));
}

TEST(ManifestChecker, Crc32cEntriesAreCheckedAndOtherAlgorithmsNoted) {
  const std::string m = manifest_with({{"a", "alpha"}, {"b", "beta"}}, {true, false});
  const BackupManifest manifest = BackupManifest::parse(m);
  EXPECT_TRUE(manifest.uses("crc32c"));
  EXPECT_TRUE(manifest.uses("SHA256"));
  EXPECT_FALSE(manifest.uses("SHA512"));
  ManifestChecker checker(manifest);
  checker.check_file("base.tar", "a", 5, FileSums{"", crc32c_manifest_hex("alpha")});
  checker.check_file("base.tar", "b", 4, FileSums{sha256_hex("beta"), ""});
  checker.check_complete();
  EXPECT_EQ(checker.files_checked(), 2u);
  ManifestChecker again(manifest);
  expect_error(
      [&] {
        again.check_file("base.tar", "a", 5, FileSums{"", crc32c_manifest_hex("alphb")});
      },
      ErrorKind::corrupt, "file \"a\" in base.tar does not match backup_manifest (CRC-32C is ");
  EXPECT_EQ(listed_sums(*manifest.find("a")).crc32c, crc32c_manifest_hex("alpha"));
  EXPECT_EQ(listed_sums(*manifest.find("b")).sha256, sha256_hex("beta"));
}

}  // namespace
