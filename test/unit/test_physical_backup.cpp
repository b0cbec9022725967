// A physical backup against a scripted replication connection: the
// BASE_BACKUP command asked for, the objects and backup.json written from
// the stream, and that a failed stream leaves nothing behind.
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/physical/physical_backup.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/storage/storage.hpp"

#include "doubles/memory_storage.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kSys = "7300000000000000002";
const std::string kName = "20261124T090000Z-physical";

std::string message(char type, const std::string& body) {
  return std::string(1, type) + body;
}

std::string progress_message(std::uint64_t v) {
  std::string m = "p";
  for (int shift = 56; shift >= 0; shift -= 8) m += static_cast<char>((v >> shift) & 0xff);
  return m;
}

const std::string kManifest =
    "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
    "\"Files\": [\n"
    "{ \"Path\": \"PG_VERSION\", \"Size\": 3, \"Last-Modified\": \"x\" },\n"
    "{ \"Path\": \"base/1/1259\", \"Size\": 8192, \"Last-Modified\": \"x\" }\n"
    "] }\n";

// Plays the server's side of BASE_BACKUP: the start position, the
// tablespaces, the COPY stream, the end position.
class ScriptedServer final : public ReplicationConnection {
 public:
  std::vector<std::string> stream;  // CopyData messages
  std::vector<std::string> commands;
  bool send_end = true;

  void send_command(const std::string& command) override { commands.push_back(command); }
  Rows next_rows(const char* what) override {
    if (std::string(what) == "the backup start position") return {{"0/2000028", "1"}};
    // The size column is NULL ("" as text) unless PROGRESS asked for it.
    if (commands.back().find("PROGRESS true") == std::string::npos)
      return {{"", "", ""}, {"16384", "/srv/tblspc", ""}};
    return {{"", "", "100"}, {"16384", "/srv/tblspc", "20"}};
  }
  void expect_copy_out(const char*) override {}
  void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message) override {
    for (const auto& m : stream) on_message(as_bytes(m));
  }
  void pause_reading(std::chrono::milliseconds) override { ++pauses; }
  Rows finish_command(const char*) override {
    if (!send_end) return {};
    return {{"0/2000100", "1"}};
  }
  int pauses = 0;
};

BackupRequest physical_request() {
  BackupRequest r;
  r.kind = BackupKind::physical;
  r.origin.name = kName;
  r.origin.label = "before upgrade";
  r.origin.trigger = "manual";
  r.origin.initiated_by = "alice";
  r.origin.database = "postgres";
  r.origin.system_identifier = kSys;
  r.origin.pg_version = 150018;
  r.compression.algorithm = Compression::zstd;
  return r;
}

void no_progress(const BackupProgress&) {}

TEST(BaseBackupCommand, SaysWhatTheServerDoes) {
  BackupRequest r = physical_request();
  r.compression.workers = 2;
  EXPECT_EQ(base_backup_command(r, true),
            "BASE_BACKUP (LABEL 'pgvault 20261124T090000Z-physical before upgrade', "
            "CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', "
            "MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true, PROGRESS true, "
            "COMPRESSION 'zstd', COMPRESSION_DETAIL 'level=3,workers=2')");
  // Workers are zstd's only; a quote in the label is doubled.
  r.compression = {Compression::gzip, 9, 2};
  r.origin.label = "it's";
  r.max_rate_kb = 1024;
  EXPECT_EQ(base_backup_command(r, false),
            "BASE_BACKUP (LABEL 'pgvault 20261124T090000Z-physical it''s', "
            "CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', "
            "MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true, PROGRESS true, "
            "COMPRESSION 'gzip', COMPRESSION_DETAIL 'level=9')");
  r.compression = {Compression::none, 0, 0};
  EXPECT_EQ(base_backup_command(r, true),
            "BASE_BACKUP (LABEL 'pgvault 20261124T090000Z-physical it''s', "
            "CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', "
            "MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true, PROGRESS true, MAX_RATE 1024)");
  // A backup that walks the data directory itself estimates its size from
  // that walk: the server is not asked to walk it first.
  r.data_directory = "/var/lib/postgresql/15/main";
  EXPECT_EQ(base_backup_command(r, false),
            "BASE_BACKUP (LABEL 'pgvault 20261124T090000Z-physical it''s', "
            "CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', "
            "MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true)");
}

TEST(PhysicalBackup, StreamsEachArchiveAndTheManifestIntoItsObjectAndWritesBackupJsonLast) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  ScriptedServer server;
  server.stream = {
      message('n', std::string("base.tar.zst\0", 13) + std::string("\0", 1)),
      message('d', "base-archive-bytes"),
      progress_message(4096),
      message('n', std::string("16384.tar.zst\0", 14) + "/srv/tblspc" + std::string("\0", 1)),
      message('d', "tablespace-bytes"),
      message('m', ""),
      message('d', kManifest.substr(0, 50)),
      message('d', kManifest.substr(50))};
  std::vector<std::string> phases;
  std::uint64_t last_done = 0, total = 0;
  const BackupMeta meta =
      run_physical_backup(repo, physical_request(), server, [&](const BackupProgress& p) {
        if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
        last_done = p.done;
        total = p.total;
      });
  ASSERT_EQ(server.commands.size(), 1u);
  EXPECT_EQ(server.commands[0].rfind("BASE_BACKUP (LABEL", 0), 0u);
  EXPECT_EQ(phases, (std::vector<std::string>{"checkpoint", "streaming", "finishing"}));
  EXPECT_EQ(last_done, 4096u);
  EXPECT_EQ(total, 120u * 1024);

  EXPECT_EQ(meta.kind, "physical");
  EXPECT_EQ(meta.compression, "zstd");
  EXPECT_EQ(meta.compression_level, 3);
  EXPECT_EQ(meta.compressed_by, "server");
  EXPECT_EQ(meta.start_lsn, "0/2000028");
  EXPECT_EQ(meta.stop_lsn, "0/2000100");
  EXPECT_EQ(meta.timeline, 1u);
  EXPECT_EQ(meta.source_bytes, 8195u);
  ASSERT_EQ(meta.tablespaces.size(), 1u);
  EXPECT_EQ(meta.tablespaces[0].oid, "16384");
  EXPECT_EQ(meta.tablespaces[0].location, "/srv/tblspc");
  ASSERT_EQ(meta.objects.size(), 3u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"base.tar.zst", "base-archive-bytes"},
      {"16384.tar.zst", "tablespace-bytes"},
      {"backup_manifest", kManifest}};
  std::uint64_t stored = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(meta.objects[i].name, expected[i].first);
    const std::string bytes =
        storage->read_all(Repository::object_path(kSys, kName, expected[i].first));
    EXPECT_EQ(bytes, expected[i].second);
    EXPECT_EQ(meta.objects[i].size, bytes.size());
    EXPECT_EQ(meta.objects[i].sha256, sha256_hex(bytes));
    stored += bytes.size();
  }
  EXPECT_EQ(meta.stored_bytes, stored);
  const BackupMeta written = repo.read_meta(kSys, kName);
  EXPECT_EQ(written.digest(), meta.digest());
  EXPECT_EQ(written.label, "before upgrade");
}

TEST(PhysicalBackup, EncryptedObjectsDecryptToWhatTheServerSent) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  std::array<std::byte, kEncryptionKeySize> bytes{};
  bytes[0] = std::byte{42};
  const EncryptionKey key = EncryptionKey::from_bytes(bytes);
  BackupRequest req = physical_request();
  req.compression.algorithm = Compression::none;
  req.encryption_key = &key;
  ScriptedServer server;
  server.stream = {message('n', std::string("base.tar\0\0", 10)), message('d', "archive"),
                   message('m', ""), message('d', kManifest)};
  const BackupMeta meta = run_physical_backup(repo, req, server, no_progress);
  EXPECT_EQ(meta.compressed_by, "none");
  EXPECT_EQ(meta.encryption, "aes-256-gcm");
  EXPECT_EQ(meta.source_bytes, 8195u);  // counted on the plaintext
  ASSERT_EQ(meta.objects.size(), 2u);
  for (const auto& [object, plain] : std::vector<std::pair<std::string, std::string>>{
           {"base.tar", "archive"}, {"backup_manifest", kManifest}}) {
    const std::string stored = storage->read_all(Repository::object_path(kSys, kName, object));
    EXPECT_EQ(stored.substr(0, 8), "PGVLTENC");
    StringSink out;
    DecryptorFactory decryptor = [&](const std::string&, Sink& next) {
      return make_decryptor(key, next);
    };
    backup_reading::DecodeChain decode(object, out, decryptor);
    decode.input().write(as_bytes(stored));
    decode.input().finish();
    EXPECT_EQ(out.str(), plain);
  }
}

TEST(PhysicalBackup, AStreamWithoutManifestLeavesNothing) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  ScriptedServer server;
  server.stream = {message('n', std::string("base.tar.zst\0\0", 14)), message('d', "bytes")};
  expect_error([&] { run_physical_backup(repo, physical_request(), server, no_progress); },
               ErrorKind::storage, "server sent no backup_manifest");
  EXPECT_TRUE(storage->list("").empty());
}

TEST(PhysicalBackup, AMalformedStreamLeavesNothing) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  ScriptedServer server;
  server.stream = {message('n', std::string("base.tar.zst\0\0", 14)), message('d', "bytes"),
                   message('n', std::string("../escape\0\0", 11))};
  expect_error([&] { run_physical_backup(repo, physical_request(), server, no_progress); },
               ErrorKind::corrupt, "unexpected archive name");
  EXPECT_TRUE(storage->list("").empty());
}

TEST(PhysicalBackup, ARepositoryOfANewerFormatIsRefusedBeforeTheServerIsAsked) {
  auto storage = make_memory_storage();
  storage->write_all(Repository::kFormatFile, R"({"format": 2})");
  Repository repo(*storage);
  ScriptedServer server;
  server.stream = {message('n', std::string("base.tar.zst\0\0", 14)), message('d', "bytes")};
  expect_error([&] { run_physical_backup(repo, physical_request(), server, no_progress); },
               ErrorKind::unsupported,
               "repository format 2 is newer than this pgvault understands");
  EXPECT_TRUE(server.commands.empty());
  EXPECT_EQ(storage->list("").size(), 1u);  // the format file, nothing else
}

TEST(PhysicalBackup, NoEndPositionIsAFailure) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  ScriptedServer server;
  server.send_end = false;
  server.stream = {message('n', std::string("base.tar.zst\0\0", 14)), message('d', "bytes"),
                   message('m', ""), message('d', kManifest)};
  expect_error([&] { run_physical_backup(repo, physical_request(), server, no_progress); },
               ErrorKind::storage, "server sent no backup end position");
  EXPECT_TRUE(storage->list("").empty());
}

// A complete physical backup of kSys already in the repository.
void store_backup(Repository& repo, const std::string& name, std::uint32_t timeline,
                  const std::string& stop_lsn) {
  BackupOrigin origin;
  origin.name = name;
  origin.trigger = "manual";
  origin.database = "postgres";
  origin.system_identifier = kSys;
  origin.pg_version = 150018;
  BackupMeta meta = begin_backup_meta(origin, "physical");
  meta.timeline = timeline;
  meta.start_lsn = "0/1000028";
  meta.stop_lsn = stop_lsn;
  meta.completed_at = meta.started_at;
  repo.write_meta(meta);
}

ScriptedServer complete_stream() {
  ScriptedServer server;
  server.stream = {message('n', std::string("base.tar.zst\0\0", 14)), message('d', "bytes"),
                   message('m', ""), message('d', kManifest)};
  return server;
}

// The scripted server starts at 0/2000028 on timeline 1.
TEST(PhysicalBackup, ABackupOfTheSameTimelineEndingAfterTheStartIsASecondWriter) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  store_backup(repo, "20261124T080000Z-physical", 1, "0/5000100");
  const auto before = storage->list("");
  ScriptedServer server = complete_stream();
  expect_error([&] { run_physical_backup(repo, physical_request(), server, no_progress); },
               ErrorKind::conflict,
               "backup \"20261124T080000Z-physical\" of system 7300000000000000002 in this "
               "repository ends at 0/5000100 on timeline 1, after this server's position "
               "0/2000028: another server of the same system writes into this repository");
  EXPECT_EQ(storage->list("").size(), before.size());
  EXPECT_EQ(repo.list_backups(kSys).size(), 1u);
}

TEST(PhysicalBackup, EarlierBackupsAndOtherTimelinesAreNotASecondWriter) {
  auto storage = make_memory_storage();
  Repository repo(*storage);
  store_backup(repo, "20261124T070000Z-physical", 1, "0/2000028");  // ends where this starts
  store_backup(repo, "20261124T080000Z-physical", 2, "0/9000000");  // a restored copy's timeline
  ScriptedServer server = complete_stream();
  run_physical_backup(repo, physical_request(), server, no_progress);
  EXPECT_EQ(repo.list_backups(kSys).size(), 3u);
}

TEST(PhysicalBackup, SecondWriterCheckIgnoresOtherSystemsKindsAndUnreadablePositions) {
  BackupMeta other_system;
  other_system.kind = "physical";
  other_system.system_identifier = "7300000000000000009";
  other_system.timeline = 1;
  other_system.stop_lsn = "1/0";
  BackupMeta logical = other_system;
  logical.kind = "logical";
  logical.system_identifier = kSys;
  BackupMeta unreadable = other_system;
  unreadable.system_identifier = kSys;
  unreadable.stop_lsn = "not an lsn";
  EXPECT_NO_THROW(refuse_second_writer({other_system, logical, unreadable}, kSys, 1, "0/2000028"));
  EXPECT_THROW(refuse_second_writer({other_system}, other_system.system_identifier, 1, "0/0"),
               Error);
  // An incremental backup is a physical one: it is a second writer's too.
  BackupMeta incremental = other_system;
  incremental.kind = "incremental";
  incremental.system_identifier = kSys;
  EXPECT_THROW(refuse_second_writer({incremental}, kSys, 1, "0/2000028"), Error);
}

// With a data directory, the full records its relation files' identities
// (file_identity.hpp) from a walk after the backup's start position: a file
// there when the server sends that position is recorded, as it is on disk.
TEST(PhysicalBackup, RecordsTheRelationFilesThereAtTheStartWithTheirIdentity) {
  class StartCreatesAFile final : public ReplicationConnection {
   public:
    explicit StartCreatesAFile(fs::path data) : data_(std::move(data)) {}
    ScriptedServer scripted;
    void send_command(const std::string& c) override { scripted.send_command(c); }
    Rows next_rows(const char* what) override {
      if (std::string(what) == "the backup start position") put_file(data_ / "base/5/16400", 16384);
      return scripted.next_rows(what);
    }
    void expect_copy_out(const char* w) override { scripted.expect_copy_out(w); }
    void receive_copy(const std::function<void(std::span<const std::byte>)>& f) override {
      scripted.receive_copy(f);
    }
    void pause_reading(std::chrono::milliseconds d) override { scripted.pause_reading(d); }
    Rows finish_command(const char* w) override { return scripted.finish_command(w); }

   private:
    fs::path data_;
  };
  TempDir d;
  const fs::path data = d.path() / "data";
  put_file(data / "PG_VERSION", 3);
  put_file(data / "global/pg_control", 8192);
  put_file(data / "global/1262", 8192);
  put_file(data / "base/5/16385", 24576);
  auto storage = make_memory_storage();
  Repository repo(*storage);
  StartCreatesAFile server(data);
  server.scripted = complete_stream();
  BackupRequest req = physical_request();
  req.data_directory = data;
  std::uint64_t total = 0;
  const BackupMeta meta =
      run_physical_backup(repo, req, server, [&](const BackupProgress& p) { total = p.total; });
  // The server is not asked to estimate the size: the walk, after the
  // start position, counts all five files.
  EXPECT_EQ(server.scripted.commands.at(0).find("PROGRESS"), std::string::npos);
  EXPECT_EQ(total, 3u + 8192 + 8192 + 24576 + 16384);
  const ObjectEntry* object = meta.find_object(kFileIdentityObject);
  ASSERT_NE(object, nullptr);
  const auto records = parse_file_identity(
      storage->read_all(Repository::object_path(kSys, kName, kFileIdentityObject)), "test");
  std::vector<std::string> paths;
  for (const auto& r : records) {
    paths.push_back(r.path);
    const auto on_disk = stat_file_identity(data / r.path);
    ASSERT_TRUE(on_disk) << r.path;
    EXPECT_EQ(r.identity, on_disk->identity) << r.path;
    EXPECT_EQ(r.size, on_disk->size) << r.path;
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"base/5/16385", "base/5/16400", "global/1262"}));
  EXPECT_EQ(repo.read_meta(kSys, kName).digest(), meta.digest());
}

}  // namespace
