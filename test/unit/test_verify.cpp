#include "doubles/forwarding_storage.hpp"
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/storage/storage.hpp"

#include "backup_fixture.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kPhysical = "20261124T061530Z-physical";
const std::string kLogical = "20261124T070000Z-logical";

// A stand-in for the encryption stage: XOR with a key byte, so a test can
// tell whether the decryptor hook ran (and ran on every object).
std::string xor_bytes(std::string s, char key) {
  for (char& c : s) c = static_cast<char>(c ^ key);
  return s;
}

class XorSink final : public Sink {
 public:
  XorSink(char key, Sink& next) : key_(key), next_(next) {}
  void write(std::span<const std::byte> data) override {
    std::string buf(reinterpret_cast<const char*>(data.data()), data.size());
    next_.write(as_bytes(xor_bytes(std::move(buf), key_)));
  }
  void finish() override { next_.finish(); }

 private:
  char key_;
  Sink& next_;
};

// A physical backup (data directory + one tablespace) and a logical one,
// written through Repository into in-memory storage.
class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string relation = sample_relation();
    base_files = {{"PG_VERSION", "15\n"},
                  {"backup_label", "START WAL LOCATION: 0/2000028\n"},
                  {"global/pg_control", std::string(8192, '\x07')},
                  {"base/5/1234", relation},
                  {"base/5/empty", ""}};
    ts_files = {{"PG_15_202209061/5/16386", std::string(16384, 't')}};
  }

  std::string base_tar() const {
    TarWriter t;
    t.dir("base/");
    t.dir("base/5/");
    for (const auto& f : base_files) t.file(f.path, f.content);
    t.dir("pg_wal/");
    t.file("pg_wal/000000010000000000000002", std::string(4096, 'w'));  // not in the manifest
    t.dir("pg_tblspc/");
    t.symlink("pg_tblspc/16385", "/old/location/ts1");
    t.end();
    return t.str();
  }

  std::string ts_tar() const { return tablespace_tar(ts_files); }

  std::vector<BackupFile> manifest_files() const {
    std::vector<BackupFile> all = base_files;
    for (const auto& f : ts_files) all.push_back({"pg_tblspc/16385/" + f.path, f.content});
    return all;
  }

  void put(BackupMeta& m, const std::string& object, const std::string& bytes) {
    put_object(*storage, m, object, bytes);
  }

  static std::string path_of(const std::string& backup, const std::string& object) {
    return Repository::object_path(kSysid, backup, object);
  }

  // `manifest` overrides the generated backup_manifest; `key` XORs every
  // stored object (see XorSink).
  BackupMeta write_physical(const std::string& manifest = "", char key = 0) {
    BackupMeta m = fixture_meta(kPhysical, "physical");
    m.tablespaces = {{"16385", "/old/location/ts1"}};
    put(m, "base.tar.zst", xor_bytes(zstd(base_tar()), key));
    put(m, "16385.tar.zst", xor_bytes(zstd(ts_tar()), key));
    put(m, "backup_manifest",
        xor_bytes(manifest.empty() ? manifest_for(manifest_files()) : manifest, key));
    Repository(*storage).write_meta(m);
    return m;
  }

  BackupMeta write_logical(const std::string& dump) {
    BackupMeta m = fixture_meta(kLogical, "logical");
    m.database = "app";
    put(m, "dump.pgdump.zst", zstd(dump));
    Repository(*storage).write_meta(m);
    return m;
  }

  VerifyReport verify(const std::string& name, const VerifyOptions& opts = {}) {
    Repository repo(*storage);
    return verify_backup(repo, repo.resolve(name, kSysid), opts,
                         [&](std::string_view line) { log.emplace_back(line); });
  }

  void flip_byte(const std::string& backup, const std::string& object, std::size_t at) {
    std::string bytes = storage->read_all(path_of(backup, object));
    bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
    storage->write_all(path_of(backup, object), bytes);
  }

  std::unique_ptr<Storage> storage = make_memory_storage();
  std::vector<BackupFile> base_files;
  std::vector<BackupFile> ts_files;
  std::vector<std::string> log;
};

}  // namespace

TEST_F(VerifyTest, GoodPhysicalBackupVerifies) {
  const BackupMeta m = write_physical();
  const VerifyReport r = verify(kPhysical);
  EXPECT_EQ(r.backup, kPhysical);
  EXPECT_EQ(r.kind, "physical");
  EXPECT_EQ(r.objects, 3u);
  EXPECT_EQ(r.bytes_read, m.stored_bytes);
  EXPECT_EQ(r.files, 7u);  // 5 base files + 1 WAL segment + 1 tablespace file
  EXPECT_EQ(r.manifest_files, 6u);
  EXPECT_EQ(r.decoded_bytes, base_tar().size() + ts_tar().size() +
                                 storage->read_all(path_of(kPhysical, "backup_manifest")).size());
  EXPECT_TRUE(r.extra_objects.empty());
  EXPECT_TRUE(r.warnings.empty());

  bool saw_base = false, saw_all = false;
  for (const auto& l : log) {
    saw_base |= l.rfind("checking base.tar.zst (", 0) == 0;
    saw_all |= l.find("all 6 files of backup_manifest found") != std::string::npos;
  }
  EXPECT_TRUE(saw_base);
  EXPECT_TRUE(saw_all);
}

TEST_F(VerifyTest, FlippedByteNamesTheObject) {
  write_physical();
  flip_byte(kPhysical, "base.tar.zst", 100);
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "object \"base.tar.zst\" of backup \"" + kPhysical +
                   "\" is corrupt: SHA-256 mismatch (backup.json says ");
}

TEST_F(VerifyTest, FlippedByteInTheManifestNamesIt) {
  write_physical();
  flip_byte(kPhysical, "backup_manifest", 10);
  expect_error(
      [&] { verify(kPhysical); }, ErrorKind::corrupt,
      "object \"backup_manifest\" of backup \"" + kPhysical + "\" is corrupt: SHA-256 mismatch");
}

TEST_F(VerifyTest, TruncatedObjectIsASizeError) {
  write_physical();
  const std::string path = path_of(kPhysical, "16385.tar.zst");
  std::string bytes = storage->read_all(path);
  const std::size_t full = bytes.size();
  bytes.resize(full - 5);
  storage->write_all(path, bytes);
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "object \"16385.tar.zst\" of backup \"" + kPhysical +
                   "\" is corrupt: size mismatch (backup.json says " + std::to_string(full) +
                   " bytes, repository has " + std::to_string(full - 5) + ")");
}

TEST_F(VerifyTest, MissingObjectIsNotFound) {
  write_physical();
  storage->remove(path_of(kPhysical, "16385.tar.zst"));
  expect_error(
      [&] { verify(kPhysical); }, ErrorKind::not_found,
      "object \"16385.tar.zst\" of backup \"" + kPhysical + "\" is missing from the repository");
}

TEST_F(VerifyTest, ManifestChecksumMismatchNamesObjectAndFile) {
  std::vector<BackupFile> files = manifest_files();
  files[3].content[0] ^= 1;  // base/5/1234: same size, other checksum
  write_physical(manifest_for(files));
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "file \"base/5/1234\" in base.tar.zst does not match backup_manifest (SHA-256 is ");
}

// CRC-32C manifests (what pgvault asks BASE_BACKUP for): the files are hashed
// on the decoding thread as the tar stream is parsed, not on a thread of
// their own; a good backup verifies and a changed file is named the same way.
TEST_F(VerifyTest, Crc32cManifestVerifiesAndNamesAChangedFile) {
  std::vector<BackupFile> files = manifest_files();
  std::vector<ManifestEntry> entries = manifest_entries(files);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].crc32c = crc32c_manifest_hex(files[i].content);
    entries[i].sha256.clear();
  }
  write_physical(make_manifest(entries));
  const VerifyReport report = verify(kPhysical);
  EXPECT_EQ(report.manifest_files, files.size());
  EXPECT_EQ(report.files, 7u);  // as GoodPhysicalBackupVerifies: the WAL segment too

  entries[3].crc32c = crc32c_manifest_hex(files[3].content + "x").substr(0, 8);
  write_physical(make_manifest(entries));
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "file \"base/5/1234\" in base.tar.zst does not match backup_manifest (CRC-32C is ");
}

TEST_F(VerifyTest, ManifestSizeMismatchInTablespaceNamesObjectAndFile) {
  std::vector<BackupFile> files = manifest_files();
  files.back().content += "x";
  write_physical(manifest_for(files));
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "file \"pg_tblspc/16385/PG_15_202209061/5/16386\" in 16385.tar.zst has 16384 "
               "bytes but backup_manifest says 16385");
}

TEST_F(VerifyTest, FileNotInManifestAndManifestFileMissing) {
  std::vector<BackupFile> files = manifest_files();
  files.erase(files.begin());  // PG_VERSION
  write_physical(manifest_for(files));
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "file \"PG_VERSION\" in base.tar.zst is not listed in backup_manifest");

  files = manifest_files();
  files.push_back({"base/5/9999", "gone"});
  files.push_back({"base/5/9998", "gone too"});
  write_physical(manifest_for(files));
  expect_error(
      [&] { verify(kPhysical); }, ErrorKind::corrupt,
      "file \"base/5/9999\" listed in backup_manifest is missing from the backup (and 1 more "
      "files)");
}

TEST_F(VerifyTest, UndecodableObjectWithMatchingChecksumNamesTheObject) {
  // backup.json describes the damaged bytes (damaged before they were
  // hashed): only decompression can tell.
  BackupMeta m = fixture_meta(kPhysical, "physical");
  put(m, "base.tar.zst", "this is not zstd data at all");
  put(m, "backup_manifest", manifest_for(manifest_files()));
  Repository(*storage).write_meta(m);
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt,
               "object \"base.tar.zst\" cannot be decoded: corrupt zstd data");
}

// VerifyDepth::stored checks what backup.json says of the stored bytes and
// nothing more: the undecodable object above passes it, a flipped byte, a
// short object or a missing one does not.
TEST_F(VerifyTest, StoredOnlyChecksTheStoredBytesNotTheContents) {
  VerifyOptions stored;
  stored.depth = VerifyDepth::stored;
  BackupMeta m = fixture_meta(kPhysical, "physical");
  put(m, "base.tar.zst", "this is not zstd data at all");
  put(m, "backup_manifest", manifest_for(manifest_files()));
  put(m, "file_identity", "identities");  // read too: every object backup.json lists
  Repository(*storage).write_meta(m);
  const VerifyReport r = verify(kPhysical, stored);
  EXPECT_EQ(r.objects, 3u);
  EXPECT_EQ(r.bytes_read, m.stored_bytes);
  EXPECT_EQ(r.files, 0u);
  EXPECT_EQ(r.manifest_files, 0u);
  EXPECT_EQ(r.decoded_bytes, 0u);
  EXPECT_TRUE(r.chain.empty());
  EXPECT_EQ(log.back(),
            "all 3 objects: sizes and SHA-256 match backup.json (contents not decoded)");
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt, "cannot be decoded");

  flip_byte(kPhysical, "backup_manifest", 10);
  expect_error(
      [&] { verify(kPhysical, stored); }, ErrorKind::corrupt,
      "object \"backup_manifest\" of backup \"" + kPhysical + "\" is corrupt: SHA-256 mismatch");
  flip_byte(kPhysical, "backup_manifest", 10);
  storage->write_all(path_of(kPhysical, "file_identity"), "identitie");
  expect_error([&] { verify(kPhysical, stored); }, ErrorKind::corrupt,
               "object \"file_identity\" of backup \"" + kPhysical +
                   "\" is corrupt: size mismatch (backup.json says 10 bytes, repository has 9)");
  storage->remove(path_of(kPhysical, "file_identity"));
  expect_error([&] { verify(kPhysical, stored); }, ErrorKind::not_found,
               "object \"file_identity\" of backup \"" + kPhysical + "\" is missing");
}

// Holds each read of a backup's object (backup.json aside) until a second
// one is in flight.
class GatedReads final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::unique_ptr<ObjectReader> open_read(const std::string& p) override {
    if (!p.ends_with("/backup.json")) {
      gate.enter();
      gate.leave();
    }
    return inner_.open_read(p);
  }
  OverlapGate gate;
};

// The stored bytes are hashed a core each: objects are read side by side,
// progress still reaches the caller's thread (ending at the total), and a
// caller that stops it (a backend's interrupt) gets its error with every
// reading thread joined.
TEST_F(VerifyTest, StoredOnlyReadsObjectsSideBySide) {
  const BackupMeta m = write_physical();
  GatedReads gated(*storage);
  Repository repo(gated);
  VerifyOptions stored;
  stored.depth = VerifyDepth::stored;
  const std::thread::id caller = std::this_thread::get_id();
  std::uint64_t last = 0;
  stored.on_progress = [&](std::uint64_t read, std::uint64_t total) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_GE(read, last);
    EXPECT_EQ(total, m.stored_bytes);
    last = read;
  };
  const VerifyReport r = verify_backup(repo, repo.resolve(kPhysical, kSysid), stored);
  EXPECT_EQ(r.objects, 3u);
  EXPECT_EQ(r.bytes_read, m.stored_bytes);
  EXPECT_EQ(last, m.stored_bytes);
  EXPECT_GE(gated.gate.max_in_flight(), 2) << "the objects were read one after another";

  stored.on_progress = [](std::uint64_t, std::uint64_t) {
    throw Error(ErrorKind::cancelled, "canceling statement due to user request");
  };
  expect_error([&] { verify_backup(repo, repo.resolve(kPhysical, kSysid), stored); },
               ErrorKind::cancelled, "user request");
}

TEST_F(VerifyTest, StoredOnlyReadsLogicalAndUnknownKindsAlike) {
  VerifyOptions stored;
  stored.depth = VerifyDepth::stored;
  write_logical("-- not a custom-format dump, which only decoding can tell\n");
  EXPECT_EQ(verify(kLogical, stored).objects, 1u);
  BackupMeta m = fixture_meta("20261124T080000Z-other", "snapshot");
  put(m, "whatever", "x");
  Repository(*storage).write_meta(m);
  EXPECT_EQ(verify(m.name, stored).objects, 1u)
      << "sizes and SHA-256 need no knowledge of the kind";
}

TEST_F(VerifyTest, ExtraObjectIsAWarningOnly) {
  write_physical();
  storage->write_all(path_of(kPhysical, "stray.tmp"), "left over");
  const VerifyReport r = verify(kPhysical);
  EXPECT_EQ(r.objects, 3u);
  ASSERT_EQ(r.extra_objects, std::vector<std::string>{"stray.tmp"});
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "object \"stray.tmp\" in the directory of backup \"" + kPhysical +
                               "\" is not listed in backup.json; it was not checked and nothing "
                               "restores it");
  Repository repo(*storage);
  EXPECT_EQ(unlisted_objects(repo, repo.resolve(kPhysical, kSysid)),
            std::vector<std::string>{"stray.tmp"});
}

TEST_F(VerifyTest, LogicalBackupWithDumpMagicVerifies) {
  const std::string dump = "PGDMP\x01\x0e\x00" + std::string(100000, 'd');
  const BackupMeta m = write_logical(dump);
  const VerifyReport r = verify(kLogical);
  EXPECT_EQ(r.kind, "logical");
  EXPECT_EQ(r.objects, 1u);
  EXPECT_EQ(r.files, 0u);
  EXPECT_EQ(r.bytes_read, m.stored_bytes);
  EXPECT_EQ(r.decoded_bytes, dump.size());
}

TEST_F(VerifyTest, LogicalBackupWithoutDumpMagicFails) {
  write_logical("-- PostgreSQL database dump (plain format)\n");
  expect_error([&] { verify(kLogical); }, ErrorKind::corrupt,
               "object \"dump.pgdump.zst\" of backup \"" + kLogical +
                   "\" is not a pg_dump custom-format archive: it starts with \"-- Po\"");
}

TEST_F(VerifyTest, EmptyLogicalDumpFails) {
  write_logical("");
  expect_error([&] { verify(kLogical); }, ErrorKind::corrupt,
               "object \"dump.pgdump.zst\" of backup \"" + kLogical + "\" is empty once decoded");
}

TEST_F(VerifyTest, CorruptLogicalDumpNamesTheObject) {
  write_logical("PGDMP" + std::string(5000, 'x'));
  flip_byte(kLogical, "dump.pgdump.zst", 3);
  expect_error([&] { verify(kLogical); }, ErrorKind::corrupt,
               "object \"dump.pgdump.zst\" of backup \"" + kLogical + "\" is corrupt: SHA-256");
}

TEST_F(VerifyTest, UnknownKindIsUnsupported) {
  // "incremental" is a kind backup.json knows now (format_version 2, with a
  // parent); a kind no pgvault writes stands for one a newer pgvault might.
  BackupMeta m = fixture_meta("20261124T080000Z-other", "snapshot");
  put(m, "whatever", "x");
  Repository(*storage).write_meta(m);
  expect_error([&] { verify(m.name); }, ErrorKind::unsupported, "\"snapshot\"");
}

TEST_F(VerifyTest, DecryptorHookRunsOnEveryObject) {
  write_physical("", 0x5a);
  // Without the hook the stored bytes are not zstd: the first object read
  // (the manifest) fails to parse.
  EXPECT_THROW(verify(kPhysical), Error);

  std::vector<std::string> decrypted;
  VerifyOptions opts;
  opts.decryptor = [&](const std::string& object, Sink& next) -> std::unique_ptr<Sink> {
    decrypted.push_back(object);
    return std::make_unique<XorSink>(0x5a, next);
  };
  const VerifyReport r = verify(kPhysical, opts);
  EXPECT_EQ(r.manifest_files, 6u);
  EXPECT_EQ(decrypted,
            (std::vector<std::string>{"backup_manifest", "base.tar.zst", "16385.tar.zst"}));

  // The same hook serves restore (shared reading code).
  TempDir tmp;
  RestoreOptions ro;
  ro.pgdata = tmp.str() + "/pgdata";
  ro.tablespace_mapping["16385"] = tmp.str() + "/ts1";
  ro.decryptor = opts.decryptor;
  Repository repo(*storage);
  const RestoreReport restored = restore_physical(repo, repo.resolve(kPhysical, kSysid), ro);
  EXPECT_EQ(restored.manifest_files, 6u);
  EXPECT_EQ(restored.bytes_read, r.bytes_read);
  EXPECT_EQ(slurp(ro.pgdata + "/base/5/1234"), base_files[3].content);
}

TEST_F(VerifyTest, DecryptionErrorsNameTheObject) {
  write_physical();
  VerifyOptions opts;
  opts.decryptor = [](const std::string& object, Sink& next) -> std::unique_ptr<Sink> {
    if (object != "base.tar.zst") return nullptr;  // only this one "is encrypted"
    struct Failing final : Sink {
      void write(std::span<const std::byte>) override {
        throw Error(ErrorKind::invalid_argument, "wrong key (fingerprint 00ff)");
      }
      void finish() override {}
    };
    (void)next;
    return std::make_unique<Failing>();
  };
  expect_error([&] { verify(kPhysical, opts); }, ErrorKind::invalid_argument,
               "object \"base.tar.zst\" cannot be decoded: wrong key (fingerprint 00ff)");
}

TEST_F(VerifyTest, ProgressReportsBytesAndCanCancel) {
  const BackupMeta m = write_physical();
  std::uint64_t last = 0, total = 0;
  VerifyOptions opts;
  opts.on_progress = [&](std::uint64_t read, std::uint64_t all) {
    EXPECT_GE(read, last);
    last = read;
    total = all;
  };
  verify(kPhysical, opts);
  EXPECT_EQ(last, m.stored_bytes);
  EXPECT_EQ(total, m.stored_bytes);

  opts.on_progress = [](std::uint64_t, std::uint64_t) {
    throw Error(ErrorKind::cancelled, "canceling statement due to user request");
  };
  expect_error([&] { verify(kPhysical, opts); }, ErrorKind::cancelled, "user request");
}

TEST_F(VerifyTest, MissingBaseArchiveOrManifestIsCorrupt) {
  BackupMeta m = fixture_meta(kPhysical, "physical");
  put(m, "base.tar.zst", zstd(base_tar()));
  Repository(*storage).write_meta(m);
  expect_error([&] { verify(kPhysical); }, ErrorKind::corrupt, "has no backup_manifest object");
}

// The scan mode of the tar reader sees exactly what an extraction sees and
// writes nothing; a hard link is judged by its target's manifest entry.
TEST(TarScan, ReportsFilesWithoutWritingAndChecksHardLinks) {
  TarWriter t;
  t.dir("base/");
  t.file("base/a", "alpha");
  t.hardlink("base/b", "base/a");
  t.symlink("pg_tblspc/1", "/elsewhere");
  t.end();

  std::map<std::string, ExtractedFile> seen;
  TarExtractOptions o;
  o.scan_only = true;
  o.target_dir = "/nonexistent/never/written";
  o.archive_name = "base.tar";
  o.on_file = [&](const ExtractedFile& f) { seen[f.path] = f; };
  TarExtractor scanner(std::move(o));
  scanner.write(as_bytes(t.str()));
  scanner.finish();
  EXPECT_FALSE(fs::exists("/nonexistent/never/written"));
  EXPECT_EQ(scanner.files(), 2u);
  EXPECT_EQ(scanner.bytes(), 5u);
  ASSERT_EQ(seen.count("base/a"), 1u);
  EXPECT_EQ(seen["base/a"].sha256, sha256_hex("alpha"));
  EXPECT_EQ(seen["base/a"].size, 5u);
  ASSERT_EQ(seen.count("base/b"), 1u);
  EXPECT_EQ(seen["base/b"].hard_link_target, "base/a");
  EXPECT_TRUE(seen["base/b"].sha256.empty());

  const std::string good =
      make_manifest({{"base/a", 5, sha256_hex("alpha")}, {"base/b", 5, sha256_hex("alpha")}});
  const std::string bad =
      make_manifest({{"base/a", 5, sha256_hex("alpha")}, {"base/b", 5, sha256_hex("other")}});
  for (const std::string* text : {&good, &bad}) {
    const BackupManifest manifest = BackupManifest::parse(*text);
    ManifestChecker checker(manifest);
    checker.check_file("base.tar", "base/a", 5, sha256_hex("alpha"));
    if (text == &good) {
      checker.check_hard_link("base.tar", "base/b", "base/a");
      checker.check_complete();
      EXPECT_EQ(checker.files_checked(), 2u);
    } else {
      expect_error([&] { checker.check_hard_link("base.tar", "base/b", "base/a"); },
                   ErrorKind::corrupt, "\"base/b\" in base.tar is a hard link to \"base/a\"");
    }
  }
}

// Scanning refuses what extracting refuses.
TEST(TarScan, RefusesEscapingPathsLikeExtraction) {
  TarWriter t;
  t.file("../outside", "x");
  t.end();
  TarExtractOptions o;
  o.scan_only = true;
  o.archive_name = "base.tar";
  TarExtractor scanner(std::move(o));
  expect_error([&] { scanner.write(as_bytes(t.str())); }, ErrorKind::corrupt,
               "tar archive \"base.tar\": entry \"../outside\" contains a \"..\" component");
}

// vault.verify_backup's depth argument: the two names, and anything else
// refused with what is allowed, the value shown escaped.
TEST(VerifyDepthNames, RoundTripAndRefuseTheRest) {
  for (VerifyDepth d : {VerifyDepth::decoded, VerifyDepth::stored}) {
    EXPECT_EQ(parse_verify_depth(verify_depth_name(d)), d);
  }
  EXPECT_STREQ(verify_depth_name(VerifyDepth::stored), "stored");
  expect_error([] { parse_verify_depth("Stored"); }, ErrorKind::invalid_argument,
               "invalid verification depth \"Stored\" (allowed: decoded,");
  expect_error([] { parse_verify_depth("x\"\n"); }, ErrorKind::invalid_argument,
               "invalid verification depth \"x\\x22\\x0A\"");
}
