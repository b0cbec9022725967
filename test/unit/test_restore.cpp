#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/storage/storage.hpp"

#include "backup_fixture.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kName = "20261124T061530Z-physical";

// A synthetic physical backup with one tablespace, written through Repository.
class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relation = sample_relation();
    base_files = {{"PG_VERSION", "15\n"},
                  {"backup_label", "START WAL LOCATION: 0/2000028\n"},
                  {"global/pg_control", std::string(8192, '\x07')},
                  {"base/5/1234", relation},
                  {"base/5/empty", ""},
                  {"tablespace_map", "16385 /old/location/ts1\n"}};
    ts_files = {{"PG_15_202209061/5/16386", std::string(16384, 't')}};
  }

  std::string base_tar() const {
    TarWriter t;
    t.file("backup_label", base_files[1].content);
    t.dir("base/");
    t.dir("base/5/");
    t.file("base/5/1234", base_files[3].content);
    t.file("base/5/empty", "");
    t.dir("global/");
    t.file("global/pg_control", base_files[2].content);
    t.file("PG_VERSION", base_files[0].content);
    t.file("tablespace_map", base_files[5].content);
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

  void put(const std::string& object, const std::string& bytes) {
    put_object(*storage, meta, object, bytes);
  }

  // Writes the backup; `manifest` overrides the generated backup_manifest.
  void write_backup(const std::string& manifest = "") {
    meta = fixture_meta(kName, "physical");
    meta.start_lsn = "0/2000028";
    meta.stop_lsn = "0/2000100";
    meta.compression_level = 3;
    meta.compressed_by = "client";
    meta.tablespaces = {{"16385", "/old/location/ts1"}};
    put("base.tar.zst", zstd(base_tar()));
    put("16385.tar.zst", zstd(ts_tar()));
    put("backup_manifest", manifest.empty() ? manifest_for(manifest_files()) : manifest);
    Repository(*storage).write_meta(meta);
  }

  RestoreOptions options() const {
    RestoreOptions o;
    o.pgdata = tmp.str() + "/pgdata";
    o.tablespace_mapping["16385"] = tmp.str() + "/ts1";
    return o;
  }

  Error restore_error(const RestoreOptions& o) {
    Repository repo(*storage);
    try {
      restore_physical(repo, repo.resolve("latest"), o);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "restore succeeded";
    return Error(ErrorKind::internal, "");
  }

  std::unique_ptr<Storage> storage = make_memory_storage();
  BackupMeta meta;
  std::string relation;
  std::vector<BackupFile> base_files;
  std::vector<BackupFile> ts_files;
  TempDir tmp;
};

}  // namespace

TEST_F(RestoreTest, RestoresDataDirectoryAndTablespace) {
  write_backup();
  Repository repo(*storage);
  const BackupMeta m = repo.resolve("latest");
  std::vector<std::string> log;
  const RestoreOptions o = options();
  const RestoreReport r =
      restore_physical(repo, m, o, [&](std::string_view line) { log.emplace_back(line); });

  EXPECT_EQ(r.files, 8u);  // 6 base files + 1 WAL segment + 1 tablespace file
  EXPECT_EQ(r.objects, 3u);
  for (const auto& f : base_files) {
    if (f.path == "tablespace_map") continue;
    EXPECT_EQ(slurp(o.pgdata + "/" + f.path), f.content) << f.path;
  }
  EXPECT_EQ(slurp(o.pgdata + "/pg_wal/000000010000000000000002"), std::string(4096, 'w'));
  EXPECT_EQ(slurp(tmp.str() + "/ts1/" + ts_files[0].path), ts_files[0].content);
  EXPECT_EQ(fs::read_symlink(o.pgdata + "/pg_tblspc/16385").string(), tmp.str() + "/ts1");
  EXPECT_EQ(slurp(o.pgdata + "/pg_tblspc/16385/" + ts_files[0].path), ts_files[0].content);
  // The server recreates pg_tblspc/<oid> from tablespace_map at startup: it
  // must name the new location, and the data directory's backup_manifest
  // must describe the rewritten file (and still carry a valid checksum).
  const std::string new_map = "16385 " + tmp.str() + "/ts1\n";
  EXPECT_EQ(slurp(o.pgdata + "/tablespace_map"), new_map);
  const BackupManifest copy = BackupManifest::parse(slurp(o.pgdata + "/backup_manifest"));
  ASSERT_NE(copy.find("tablespace_map"), nullptr);
  EXPECT_EQ(copy.find("tablespace_map")->checksum, sha256_hex(new_map));
  EXPECT_EQ(copy.find("tablespace_map")->size, new_map.size());
  EXPECT_EQ(copy.files().size(), manifest_files().size());
  struct stat st;
  ASSERT_EQ(::stat(o.pgdata.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((o.pgdata + "/base/5/1234").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  bool saw_progress = false;
  for (const auto& l : log) saw_progress |= l.rfind("restoring base.tar.zst (", 0) == 0;
  EXPECT_TRUE(saw_progress);
}

TEST_F(RestoreTest, IntoExistingEmptyDirectoryAndByOriginalLocation) {
  write_backup();
  RestoreOptions o = options();
  fs::create_directory(o.pgdata);
  o.tablespace_mapping.clear();
  o.tablespace_mapping["/old/location/ts1/"] = tmp.str() + "/ts-by-location";
  Repository repo(*storage);
  restore_physical(repo, repo.resolve(kName), o);
  EXPECT_EQ(slurp(o.pgdata + "/PG_VERSION"), "15\n");
  EXPECT_EQ(fs::read_symlink(o.pgdata + "/pg_tblspc/16385").string(),
            tmp.str() + "/ts-by-location");
  EXPECT_EQ(slurp(o.pgdata + "/tablespace_map"), "16385 " + tmp.str() + "/ts-by-location\n");
}

TEST_F(RestoreTest, DefaultLocationKeepsTablespaceMapAndManifest) {
  write_backup();
  RestoreOptions o = options();
  o.tablespace_mapping.clear();
  meta.tablespaces = {{"16385", tmp.str() + "/ts-orig"}};
  // Rewrite backup.json (and the map inside base.tar) so the original
  // location is a directory this test may use.
  base_files[5].content = "16385 " + tmp.str() + "/ts-orig\n";
  meta.objects.clear();
  meta.stored_bytes = 0;
  write_backup();
  Repository repo(*storage);
  BackupMeta m = repo.resolve("latest");
  m.tablespaces = {{"16385", tmp.str() + "/ts-orig"}};
  restore_physical(repo, m, o);
  EXPECT_EQ(fs::read_symlink(o.pgdata + "/pg_tblspc/16385").string(), tmp.str() + "/ts-orig");
  EXPECT_EQ(slurp(o.pgdata + "/tablespace_map"), base_files[5].content);
  EXPECT_EQ(slurp(o.pgdata + "/backup_manifest"), manifest_for(manifest_files()));
}

TEST_F(RestoreTest, CorruptObjectIsDetectedAndTargetRemoved) {
  write_backup();
  const std::string path = Repository::object_path(kSysid, kName, "base.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes[bytes.size() / 2] ^= 0x40;
  storage->write_all(path, bytes);

  const RestoreOptions o = options();
  const Error e = restore_error(o);
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_NE(std::string(e.what()).find("object \"base.tar.zst\" of backup \"" + kName +
                                       "\" is corrupt: SHA-256 mismatch"),
            std::string::npos)
      << e.what();
  EXPECT_FALSE(fs::exists(o.pgdata));
  EXPECT_FALSE(fs::exists(tmp.str() + "/ts1"));
}

TEST_F(RestoreTest, CorruptTablespaceObjectEmptiesExistingTargets) {
  write_backup();
  const std::string path = Repository::object_path(kSysid, kName, "16385.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes.resize(bytes.size() - 5);  // truncated
  storage->write_all(path, bytes);

  const RestoreOptions o = options();
  fs::create_directory(o.pgdata);
  fs::create_directory(tmp.str() + "/ts1");
  const Error e = restore_error(o);
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_NE(std::string(e.what()).find("size mismatch"), std::string::npos) << e.what();
  ASSERT_TRUE(fs::exists(o.pgdata));  // it existed before: kept, but emptied
  EXPECT_TRUE(fs::is_empty(o.pgdata));
  EXPECT_TRUE(fs::is_empty(tmp.str() + "/ts1"));
}

TEST_F(RestoreTest, FileMissingFromBackupIsAnError) {
  std::vector<BackupFile> files = manifest_files();
  files.push_back({"base/5/9999", "gone"});
  write_backup(manifest_for(files));
  const RestoreOptions o = options();
  const Error e = restore_error(o);
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_STREQ(e.what(),
               "file \"base/5/9999\" listed in backup_manifest is missing from the backup");
  EXPECT_FALSE(fs::exists(o.pgdata));
}

TEST_F(RestoreTest, FileNotMatchingManifestIsAnError) {
  std::vector<BackupFile> files = manifest_files();
  files[3].content[0] ^= 1;  // base/5/1234: same size, other checksum
  write_backup(manifest_for(files));
  const Error e = restore_error(options());
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_NE(std::string(e.what()).find("base/5/1234"), std::string::npos) << e.what();
}

TEST_F(RestoreTest, FileNotInManifestOutsidePgWalIsAnError) {
  std::vector<BackupFile> files = manifest_files();
  files.erase(files.begin());  // PG_VERSION
  write_backup(manifest_for(files));
  const Error e = restore_error(options());
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_NE(std::string(e.what()).find("\"PG_VERSION\""), std::string::npos) << e.what();
}

TEST_F(RestoreTest, NonEmptyTargetIsRefusedAndLeftAlone) {
  write_backup();
  const RestoreOptions o = options();
  fs::create_directory(o.pgdata);
  { std::ofstream(o.pgdata + "/precious") << "keep me"; }
  const Error e = restore_error(o);
  EXPECT_EQ(e.kind(), ErrorKind::already_exists);
  EXPECT_EQ(std::string(e.what()), "target directory \"" + o.pgdata +
                                       "\" is not empty; restore needs an empty or missing "
                                       "directory; to re-sync an existing data directory, "
                                       "restore with --delta");
  EXPECT_EQ(slurp(o.pgdata + "/precious"), "keep me");
  EXPECT_FALSE(fs::exists(tmp.str() + "/ts1"));
}

TEST_F(RestoreTest, CorruptManifestObjectIsRefused) {
  write_backup();
  const std::string path = Repository::object_path(kSysid, kName, "backup_manifest");
  std::string text = storage->read_all(path);
  text[10] = 'X';
  storage->write_all(path, text);
  const Error e = restore_error(options());
  EXPECT_EQ(e.kind(), ErrorKind::corrupt);
  EXPECT_NE(std::string(e.what()).find("backup_manifest"), std::string::npos) << e.what();
}

TEST_F(RestoreTest, LogicalBackupAndUnknownMappingAreRefused) {
  write_backup();
  Repository repo(*storage);
  BackupMeta m = repo.resolve("latest");
  RestoreOptions o = options();
  o.tablespace_mapping["/no/such/tablespace"] = tmp.str() + "/x";
  try {
    restore_physical(repo, m, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
  }
  m.kind = "logical";
  try {
    restore_physical(repo, m, options());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
  }
  EXPECT_FALSE(fs::exists(options().pgdata));
}
