// What a backup contains, path by path, as PostgreSQL 15's basebackup.c
// decides (include/pgvault/physical/data_directory.hpp).
#include "pgvault/error.hpp"
#include "pgvault/physical/data_directory.hpp"

#include <gtest/gtest.h>

using namespace pgvault;

namespace {

const BackupRoot kData = BackupRoot::data_directory;
const BackupRoot kSpace = BackupRoot::tablespace;
const EntryType kFile = EntryType::regular_file;
const EntryType kDir = EntryType::directory;
const EntryType kLink = EntryType::symbolic_link;

BackupPathKind kind(std::string_view path, EntryType type = kFile, BackupRoot root = kData,
                    bool init = false) {
  return classify_backup_path(root, path, type, init).kind;
}
ExclusionReason reason(std::string_view path, EntryType type = kFile, BackupRoot root = kData,
                       bool init = false) {
  return classify_backup_path(root, path, type, init).reason;
}

}  // namespace

TEST(DataDirRelationName, ParsesWhatReinitAndFdAccept) {
  auto r = parse_relation_file_name("16385");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->relfilenode, 16385u);
  EXPECT_EQ(r->fork, RelationFork::main);
  EXPECT_EQ(r->segment, 0u);
  EXPECT_FALSE(r->temp_backend);
  r = parse_relation_file_name("16385_fsm.3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fork, RelationFork::fsm);
  EXPECT_EQ(r->segment, 3u);
  EXPECT_EQ(parse_relation_file_name("1_vm")->fork, RelationFork::vm);
  EXPECT_EQ(parse_relation_file_name("4294967295_init")->fork, RelationFork::init);
  EXPECT_EQ(parse_relation_file_name("16385.12")->segment, 12u);
  r = parse_relation_file_name("t3_16398");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->temp_backend, 3u);
  EXPECT_EQ(r->relfilenode, 16398u);
  r = parse_relation_file_name("t12_5_init.2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fork, RelationFork::init);
  EXPECT_EQ(r->segment, 2u);

  for (const char* bad :
       {"",           "_fsm",        "16385_main",  "16385_",     "16385.",    "16385.x",
        "16385_fsmx", "16385x",      "12345678901", "4294967296", "t_1",       "t1_",
        "t1",         "tx_1",        "t1_2_",       "t1_2.",      "16385.1.2", "pg_filenode.map",
        "PG_VERSION", "16385_fsm_vm"})
    EXPECT_FALSE(parse_relation_file_name(bad)) << bad;
  EXPECT_STREQ(relation_fork_name(RelationFork::vm), "vm");
}

TEST(DataDirClassify, RelationFilesInDatabasesGlobalAndTablespaces) {
  auto c = classify_backup_path(kData, "base/5/16385.1", kFile);
  EXPECT_EQ(c.kind, BackupPathKind::relation_file);
  ASSERT_TRUE(c.relation);
  EXPECT_EQ(c.relation->database_oid, 5u);
  EXPECT_EQ(c.relation->tablespace_oid, 0u);
  EXPECT_EQ(c.relation->segment, 1u);
  EXPECT_TRUE(c.checksummed);

  c = classify_backup_path(kData, "global/1262", kFile);
  EXPECT_EQ(c.kind, BackupPathKind::relation_file);
  EXPECT_EQ(c.relation->database_oid, 0u);
  EXPECT_TRUE(c.checksummed);

  c = classify_backup_path(kSpace, "PG_15_202209061/5/16393_fsm", kFile);
  EXPECT_EQ(c.kind, BackupPathKind::relation_file);
  EXPECT_EQ(c.relation->database_oid, 5u);
  EXPECT_EQ(c.relation->fork, RelationFork::fsm);
  EXPECT_TRUE(c.checksummed);

  c = classify_backup_path(kData, "pg_tblspc/16384/PG_15_202209061/5/16393", kFile);
  EXPECT_EQ(c.kind, BackupPathKind::relation_file) << "an in-place tablespace";
  EXPECT_EQ(c.relation->tablespace_oid, 16384u);
  EXPECT_FALSE(c.checksummed) << "is_checksummed_file: only ./global/, ./base/ and tablespaces";

  // Digit-named files elsewhere are not relations.
  EXPECT_EQ(kind("pg_xact/0000"), BackupPathKind::other_file);
  EXPECT_FALSE(classify_backup_path(kData, "pg_xact/0000", kFile).checksummed);
  EXPECT_EQ(kind("base/16385"), BackupPathKind::other_file);
  EXPECT_EQ(kind("base/5/sub/16385"), BackupPathKind::other_file);
  EXPECT_EQ(kind("base/x5/16385"), BackupPathKind::other_file);
}

TEST(DataDirClassify, NoChecksumFiles) {
  for (const char* path :
       {"global/pg_filenode.map", "base/5/pg_filenode.map", "base/5/PG_VERSION"}) {
    auto c = classify_backup_path(kData, path, kFile);
    EXPECT_EQ(c.kind, BackupPathKind::other_file) << path;
    EXPECT_FALSE(c.checksummed) << path;
  }
  EXPECT_FALSE(classify_backup_path(kSpace, "PG_15_202209061/5/PG_VERSION", kFile).checksummed);
  EXPECT_TRUE(classify_backup_path(kData, "base/5/stray", kFile).checksummed)
      << "basebackup.c verifies any other file under base/";
  EXPECT_FALSE(classify_backup_path(kData, "PG_VERSION", kFile).checksummed);
  EXPECT_FALSE(classify_backup_path(kData, "postgresql.conf", kFile).checksummed);
}

TEST(DataDirClassify, ExcludeFilesAtAnyDepth) {
  for (const char* name :
       {"postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label", "tablespace_map",
        "backup_manifest", "postmaster.pid", "postmaster.opts", "pg_internal.init",
        "global/pg_internal.init", "base/5/pg_internal.init.12345", "base/5/backup_label"}) {
    EXPECT_EQ(kind(name), BackupPathKind::excluded) << name;
    EXPECT_EQ(reason(name), ExclusionReason::excluded_file) << name;
  }
  // Whole names only, except pg_internal.init.
  for (const char* name : {"backup_label.old", "postmaster.pid2", "xbackup_label",
                           "postgresql.auto.conf", "current_logfiles", "tablespace_map.old"})
    EXPECT_EQ(kind(name), BackupPathKind::other_file) << name;
}

TEST(DataDirClassify, TemporaryFilesAndDirectories) {
  for (const char* path :
       {"base/pgsql_tmp", "base/pgsql_tmp/pgsql_tmp123.0", "pgsql_tmp_x", "base/5/pgsql_tmp99"}) {
    EXPECT_EQ(reason(path, kDir), ExclusionReason::temporary_file) << path;
    EXPECT_EQ(reason(path, kFile), ExclusionReason::temporary_file) << path;
  }
  EXPECT_EQ(reason("PG_15_202209061/pgsql_tmp", kDir, kSpace), ExclusionReason::temporary_file);
  EXPECT_EQ(kind("base/pgsql_tm", kDir), BackupPathKind::directory);
}

TEST(DataDirClassify, UnloggedRelationsKeepOnlyTheirInitFork) {
  for (const char* path :
       {"base/5/16390", "base/5/16390_fsm", "base/5/16390_vm", "base/5/16390.1"}) {
    auto c = classify_backup_path(kData, path, kFile, /*has_init_fork=*/true);
    EXPECT_EQ(c.kind, BackupPathKind::excluded) << path;
    EXPECT_EQ(c.reason, ExclusionReason::unlogged_relation) << path;
    ASSERT_TRUE(c.relation);
    EXPECT_EQ(c.relation->relfilenode, 16390u);
  }
  EXPECT_EQ(kind("base/5/16390_init", kFile, kData, true), BackupPathKind::relation_file);
  EXPECT_EQ(kind("base/5/16390", kFile, kData, false), BackupPathKind::relation_file);
  EXPECT_EQ(reason("PG_15_202209061/5/16390", kFile, kSpace, true),
            ExclusionReason::unlogged_relation);
  // Only in database directories (isDbDir): global/ has no unlogged relations.
  EXPECT_EQ(kind("global/16390", kFile, kData, true), BackupPathKind::relation_file);
}

TEST(DataDirClassify, TemporaryRelations) {
  for (const char* path : {"base/5/t3_16398", "base/5/t3_16398_fsm", "base/5/t12_1.4"}) {
    auto c = classify_backup_path(kData, path, kFile);
    EXPECT_EQ(c.reason, ExclusionReason::temporary_relation) << path;
    ASSERT_TRUE(c.relation);
    EXPECT_TRUE(c.relation->temp_backend);
  }
  EXPECT_EQ(reason("PG_15_202209061/5/t3_16398", kFile, kSpace),
            ExclusionReason::temporary_relation);
  EXPECT_EQ(kind("global/t3_16398"), BackupPathKind::other_file) << "not a database directory";
  EXPECT_EQ(kind("base/5/t3x16398"), BackupPathKind::other_file);
}

TEST(DataDirClassify, DirectoriesKeptEmpty) {
  for (const char* path : {"pg_stat_tmp", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
                           "pg_snapshots", "pg_subtrans", "pg_wal", "base/pg_notify"}) {
    EXPECT_EQ(kind(path, kDir), BackupPathKind::empty_directory) << path;
  }
  EXPECT_EQ(kind("pg_wal", kLink), BackupPathKind::empty_directory) << "a symlinked pg_wal";
  EXPECT_EQ(kind("base/pg_wal", kDir), BackupPathKind::directory) << "pg_wal only at the top";
  for (const char* path : {"pg_stat", "pg_xact", "pg_multixact", "pg_logical", "pg_twophase",
                           "pg_commit_ts", "pg_tblspc", "global", "base", "base/5"})
    EXPECT_EQ(kind(path, kDir), BackupPathKind::directory) << path;
}

TEST(DataDirClassify, ControlFileTablespacesAndSpecialFiles) {
  EXPECT_EQ(kind("global/pg_control"), BackupPathKind::control_file);
  EXPECT_FALSE(classify_backup_path(kData, "global/pg_control", kFile).checksummed);
  EXPECT_EQ(kind("base/5/pg_control"), BackupPathKind::other_file);
  EXPECT_EQ(kind("pg_tblspc/16384", kLink), BackupPathKind::tablespace_link);
  EXPECT_EQ(kind("pg_tblspc/16384", kDir), BackupPathKind::directory) << "in-place tablespace";
  EXPECT_EQ(reason("postgresql.conf", kLink), ExclusionReason::special_file);
  EXPECT_EQ(reason("pg_tblspc/16384/x", kLink), ExclusionReason::special_file);
  EXPECT_EQ(reason("base/5/16385", kLink), ExclusionReason::special_file);
  EXPECT_EQ(reason("socket", EntryType::other), ExclusionReason::special_file);
  EXPECT_EQ(reason("PG_14_202107181", kDir, kSpace), ExclusionReason::other_catalog_version);
  EXPECT_EQ(reason("PG_14_202107181/5/16385", kFile, kSpace),
            ExclusionReason::other_catalog_version);
  EXPECT_EQ(kind("PG_15_202209061", kDir, kSpace), BackupPathKind::directory);
  EXPECT_STREQ(exclusion_reason_text(ExclusionReason::temporary_relation), "temporary relation");
}

TEST(DataDirClassify, MalformedPathsAreRefused) {
  for (const char* path :
       {"", "/base/5", "base//5", "base/5/", "./base", "base/../global", "..", "."})
    EXPECT_THROW(classify_backup_path(kData, path, kFile), Error) << path;
}
