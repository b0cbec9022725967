// Walking a data directory and its tablespaces as BASE_BACKUP would
// (include/pgvault/physical/data_directory.hpp), on trees laid out like a
// PostgreSQL 15 cluster.
#include "pgvault/error.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>

using namespace pgvault;
using pgvault::test::put_file;
using pgvault::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A PostgreSQL 15 data directory in miniature, with one tablespace outside it.
struct Cluster {
  TempDir tmp;
  fs::path data = tmp.path() / "data";
  fs::path space = tmp.path() / "ts1";

  Cluster() {
    put_file(data / "PG_VERSION", 3);
    put_file(data / "postgresql.conf", 10);
    put_file(data / "postgresql.auto.conf", 5);
    put_file(data / "postgresql.auto.conf.tmp");
    put_file(data / "postmaster.pid");
    put_file(data / "postmaster.opts");
    put_file(data / "current_logfiles.tmp");
    put_file(data / "backup_label.old", 7);
    put_file(data / "global/pg_control", 8192);
    put_file(data / "global/1262", 8192);
    put_file(data / "global/1262_vm", 8192);
    put_file(data / "global/pg_filenode.map", 512);
    put_file(data / "global/pg_internal.init", 100);
    put_file(data / "base/1/PG_VERSION", 3);
    put_file(data / "base/1/1259", 16384);
    put_file(data / "base/5/16385", 3 * 8192);
    put_file(data / "base/5/16385.1", 8192);
    put_file(data / "base/5/16385_fsm", 3 * 8192);
    put_file(data / "base/5/16390", 8192);      // unlogged: has an init fork
    put_file(data / "base/5/16390_fsm", 8192);  // unlogged
    put_file(data / "base/5/16390_init");
    put_file(data / "base/5/t3_16398", 8192);  // temporary relation
    put_file(data / "base/5/pg_internal.init.4711");
    put_file(data / "base/5/pg_filenode.map", 512);
    put_file(data / "base/pgsql_tmp/pgsql_tmp4711.0", 100);
    for (const char* dir : {"pg_stat_tmp", "pg_replslot/slot1", "pg_dynshmem", "pg_notify",
                            "pg_serial", "pg_snapshots", "pg_subtrans"})
      put_file(data / dir / "content", 1);
    put_file(data / "pg_wal/000000010000000000000001", 1000);
    put_file(data / "pg_wal/archive_status/000000010000000000000001.done");
    put_file(data / "pg_xact/0000", 8192);
    fs::create_directories(data / "pg_stat");
    fs::create_directories(data / "pg_logical/snapshots");
    fs::create_directories(data / "pg_tblspc");
    fs::create_symlink("/etc/hostname", data / "a_link");
    put_file(space / "PG_15_202209061/5/16393", 8192);
    put_file(space / "PG_15_202209061/5/16393_fsm", 8192);
    put_file(space / "PG_15_202209061/5/t4_16400");
    put_file(space / "PG_15_202209061/pgsql_tmp/pgsql_tmp1.0");
    put_file(space / "PG_14_202107181/5/16393", 8192);
    fs::create_directory_symlink(space, data / "pg_tblspc/16384");
    ::mkfifo((data / "a_fifo").c_str(), 0600);
  }
};

std::vector<std::string> paths(const DataDirectoryListing& l) {
  std::vector<std::string> out;
  for (const auto& e : l.entries)
    out.push_back((e.tablespace_oid ? std::to_string(e.tablespace_oid) + ":" : "") + e.path);
  return out;
}

}  // namespace

TEST(DataDirWalk, ListsWhatBaseBackupSendsInAStableOrder) {
  Cluster c;
  const auto listing = list_data_directory(c.data);
  const std::vector<std::string> expected = {
      "PG_VERSION",
      "backup_label.old",
      "base",
      "base/1",
      "base/1/1259",
      "base/1/PG_VERSION",
      "base/5",
      "base/5/16385",
      "base/5/16385.1",
      "base/5/16385_fsm",
      "base/5/16390_init",
      "base/5/pg_filenode.map",
      "global",
      "global/1262",
      "global/1262_vm",
      "global/pg_filenode.map",
      "pg_dynshmem",
      "pg_logical",
      "pg_logical/snapshots",
      "pg_notify",
      "pg_replslot",
      "pg_serial",
      "pg_snapshots",
      "pg_stat",
      "pg_stat_tmp",
      "pg_subtrans",
      "pg_tblspc",
      "pg_tblspc/16384",
      "pg_wal",
      "pg_wal/archive_status",
      "pg_xact",
      "pg_xact/0000",
      "postgresql.auto.conf",
      "postgresql.conf",
      "16384:PG_15_202209061",
      "16384:PG_15_202209061/5",
      "16384:PG_15_202209061/5/16393",
      "16384:PG_15_202209061/5/16393_fsm",
      "global/pg_control",
  };
  EXPECT_EQ(paths(listing), expected);

  std::map<std::string, ExclusionReason> excluded(listing.excluded.begin(), listing.excluded.end());
  const std::map<std::string, ExclusionReason> expected_excluded = {
      {"a_fifo", ExclusionReason::special_file},
      {"a_link", ExclusionReason::special_file},
      {"base/5/16390", ExclusionReason::unlogged_relation},
      {"base/5/16390_fsm", ExclusionReason::unlogged_relation},
      {"base/5/pg_internal.init.4711", ExclusionReason::excluded_file},
      {"base/5/t3_16398", ExclusionReason::temporary_relation},
      {"base/pgsql_tmp", ExclusionReason::temporary_file},
      {"current_logfiles.tmp", ExclusionReason::excluded_file},
      {"global/pg_internal.init", ExclusionReason::excluded_file},
      {"postgresql.auto.conf.tmp", ExclusionReason::excluded_file},
      {"postmaster.opts", ExclusionReason::excluded_file},
      {"postmaster.pid", ExclusionReason::excluded_file},
      {"pg_tblspc/16384/PG_14_202107181", ExclusionReason::other_catalog_version},
      {"pg_tblspc/16384/PG_15_202209061/5/t4_16400", ExclusionReason::temporary_relation},
      {"pg_tblspc/16384/PG_15_202209061/pgsql_tmp", ExclusionReason::temporary_file},
  };
  EXPECT_EQ(excluded, expected_excluded);

  ASSERT_EQ(listing.tablespaces.size(), 1u);
  EXPECT_EQ(listing.tablespaces[0].oid, 16384u);
  EXPECT_EQ(listing.tablespaces[0].location, c.space);
}

TEST(DataDirWalk, EntriesCarrySizesKindsAndRelations) {
  Cluster c;
  const auto listing = list_data_directory(c.data);
  std::map<std::string, BackupEntry> by_path;
  for (const auto& e : listing.entries)
    by_path[(e.tablespace_oid ? std::to_string(e.tablespace_oid) + ":" : "") + e.path] = e;

  const auto& heap = by_path.at("base/5/16385.1");
  EXPECT_EQ(heap.kind, BackupPathKind::relation_file);
  EXPECT_EQ(heap.size, 8192u);
  EXPECT_EQ(heap.source, c.data / "base/5/16385.1");
  ASSERT_TRUE(heap.relation);
  EXPECT_EQ(heap.relation->database_oid, 5u);
  EXPECT_EQ(heap.relation->segment, 1u);
  EXPECT_TRUE(heap.checksummed);

  const auto& spc = by_path.at("16384:PG_15_202209061/5/16393");
  EXPECT_EQ(spc.kind, BackupPathKind::relation_file);
  EXPECT_EQ(spc.relation->tablespace_oid, 16384u);
  EXPECT_EQ(spc.source, c.space / "PG_15_202209061/5/16393");
  EXPECT_TRUE(spc.checksummed);

  EXPECT_EQ(by_path.at("pg_tblspc/16384").kind, BackupPathKind::tablespace_link);
  EXPECT_EQ(by_path.at("pg_tblspc/16384").link_target, c.space.string());
  EXPECT_EQ(by_path.at("pg_wal").kind, BackupPathKind::empty_directory);
  EXPECT_TRUE(by_path.at("pg_wal/archive_status").source.empty()) << "synthesised";
  EXPECT_EQ(by_path.at("pg_xact/0000").kind, BackupPathKind::other_file);
  EXPECT_FALSE(by_path.at("pg_xact/0000").checksummed);
  EXPECT_EQ(by_path.at("base/5/16390_init").size, 0u);
  EXPECT_EQ(by_path.at("global/pg_filenode.map").kind, BackupPathKind::other_file);
  EXPECT_FALSE(by_path.at("global/pg_filenode.map").checksummed);

  EXPECT_EQ(listing.entries.back().path, "global/pg_control");
  EXPECT_EQ(listing.entries.back().kind, BackupPathKind::control_file);
  EXPECT_EQ(listing.entries.back().size, 8192u);
}

TEST(DataDirWalk, WalkTwiceGivesTheSameListing) {
  Cluster c;
  EXPECT_EQ(paths(list_data_directory(c.data)), paths(list_data_directory(c.data)));
}

TEST(DataDirWalk, MissingTablespaceTargetIsSkippedLikeBaseBackup) {
  Cluster c;
  fs::remove_all(c.space);
  const auto listing = list_data_directory(c.data);
  const auto p = paths(listing);
  EXPECT_NE(std::find(p.begin(), p.end(), "pg_tblspc/16384"), p.end());
  EXPECT_EQ(std::count_if(p.begin(), p.end(),
                          [](const std::string& s) { return s.starts_with("16384:"); }),
            0);
}

TEST(DataDirWalk, RefusesWhatIsNotADataDirectory) {
  Cluster c;
  pgvault::test::expect_error([&] { list_data_directory(c.tmp.path() / "nope"); }, ErrorKind::io,
                              "could not open directory");
  fs::remove(c.data / "global/pg_control");
  pgvault::test::expect_error([&] { list_data_directory(c.data); }, ErrorKind::not_found,
                              "global/pg_control");
  put_file(c.data / "global/pg_control");
  fs::create_directory_symlink(c.space, c.data / "pg_tblspc/not_an_oid");
  pgvault::test::expect_error([&] { list_data_directory(c.data); }, ErrorKind::corrupt,
                              "\"not_an_oid\" is not a tablespace oid");
}

// PGVAULT_TEST_DATA_DIRECTORY=<a real data directory> prints the listing
// (one "path size" line a file, for comparing with pg_basebackup's output).
TEST(DataDirWalk, RealDataDirectoryFromTheEnvironment) {
  const char* dir = std::getenv("PGVAULT_TEST_DATA_DIRECTORY");
  if (dir == nullptr) GTEST_SKIP() << "set PGVAULT_TEST_DATA_DIRECTORY to a data directory";
  const auto listing = list_data_directory(dir);
  ASSERT_FALSE(listing.entries.empty());
  EXPECT_EQ(listing.entries.back().path, "global/pg_control");
  for (const auto& e : listing.entries)
    std::cout << "entry " << (e.tablespace_oid ? std::to_string(e.tablespace_oid) + ":" : "")
              << e.path << " " << e.size << "\n";
  for (const auto& [path, why] : listing.excluded)
    std::cout << "excluded " << path << " (" << exclusion_reason_text(why) << ")\n";
}
