// The chain of an incremental backup (catalog/backup_chain.hpp).
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_chain.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace pgvault;
using namespace pgvault::test;

namespace {

constexpr const char* kSys = "7291450313927315981";

BackupMeta backup(const std::string& name, const std::string& parent, const std::string& start,
                  const std::string& stop, std::uint32_t timeline = 1) {
  BackupMeta m;
  m.name = name;
  m.kind = parent.empty() ? "physical" : "incremental";
  m.parent = parent;
  m.trigger = "manual";
  m.system_identifier = kSys;
  m.pg_version = 150004;
  m.timeline = timeline;
  m.start_lsn = start;
  m.stop_lsn = stop;
  m.started_at = "2026-12-0" + name.substr(0, 1) + "T00:00:00Z";
  m.completed_at = m.started_at;
  return m;
}

class BackupChainTest : public ::testing::Test {
 protected:
  void put(const BackupMeta& m) { repo.write_meta(m); }
  std::unique_ptr<Storage> storage = make_memory_storage();
  Repository repo{*storage};
};

}  // namespace

TEST_F(BackupChainTest, FollowsParentsDownToTheFull) {
  put(backup("1-full", "", "0/1000028", "0/1000100"));
  put(backup("2-incr", "1-full", "0/3000028", "0/3000100"));
  put(backup("3-incr", "2-incr", "0/5000028", "0/5000100", 2));  // after a timeline switch
  const BackupChain chain = resolve_chain(repo, repo.read_meta(kSys, "3-incr"));
  ASSERT_EQ(chain.backups.size(), 3u);
  EXPECT_EQ(chain.newest().name, "3-incr");
  EXPECT_EQ(chain.backups[1].name, "2-incr");
  EXPECT_EQ(chain.full().name, "1-full");
  EXPECT_EQ(chain.describe(), "1-full <- 2-incr <- 3-incr");
  // A full backup is a chain of one; the listing gives the same chain.
  EXPECT_EQ(resolve_chain(repo, repo.read_meta(kSys, "1-full")).backups.size(), 1u);
  EXPECT_EQ(resolve_chain(repo.list_all(kSys), repo.read_meta(kSys, "3-incr")).describe(),
            chain.describe());
}

TEST_F(BackupChainTest, MissingParentNamesTheBrokenLink) {
  put(backup("2-incr", "1-full", "0/3000028", "0/3000100"));
  put(backup("3-incr", "2-incr", "0/5000028", "0/5000100"));
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "3-incr")); }, ErrorKind::not_found,
               "the chain of backup \"3-incr\" is broken: backup \"2-incr\" is relative to "
               "\"1-full\", which is missing from the repository");
  expect_error([&] { resolve_chain(repo.list_all(kSys), repo.read_meta(kSys, "3-incr")); },
               ErrorKind::not_found, "\"1-full\", which is missing");
}

TEST_F(BackupChainTest, UnreadableParentIsRefusedWithItsError) {
  put(backup("2-incr", "1-full", "0/3000028", "0/3000100"));
  storage->write_all(Repository::object_path(kSys, "1-full", "backup.json"), "{not json");
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "2-incr")); }, ErrorKind::corrupt,
               "\"1-full\", which cannot be read: backup \"1-full\"");
  expect_error([&] { resolve_chain(repo.list_all(kSys), repo.read_meta(kSys, "2-incr")); },
               ErrorKind::corrupt, "which cannot be read");
}

TEST_F(BackupChainTest, LogicalParentLaterParentAndLoopsAreRefused) {
  BackupMeta logical = backup("1-logical", "", "0/0", "0/0");
  logical.kind = "logical";
  put(logical);
  put(backup("2-incr", "1-logical", "0/3000028", "0/3000100"));
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "2-incr")); }, ErrorKind::corrupt,
               "\"1-logical\", a logical backup; an incremental is relative to a full");

  put(backup("4-full", "", "0/9000028", "0/9000100"));
  put(backup("5-incr", "4-full", "0/8000028", "0/8000100"));  // starts before its parent ends
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "5-incr")); }, ErrorKind::corrupt,
               "which ends at 0/9000100, after the child starts (0/8000028)");

  put(backup("6-full", "", "0/1000028", "0/1000100", 3));
  put(backup("7-incr", "6-full", "0/3000028", "0/3000100", 2));
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "7-incr")); }, ErrorKind::corrupt,
               "on timeline 3, after the child's 2");

  // Positions that backup.json cannot give do not stop the walk; the loop does.
  put(backup("8-incr", "9-incr", "", ""));
  put(backup("9-incr", "8-incr", "", ""));
  expect_error([&] { resolve_chain(repo, repo.read_meta(kSys, "8-incr")); }, ErrorKind::corrupt,
               "already in its chain (a loop: 8-incr -> 9-incr -> 8-incr)");
}

TEST_F(BackupChainTest, AnotherSystemsParentIsRefused) {
  BackupMeta child = backup("2-incr", "1-full", "0/3000028", "0/3000100");
  BackupMeta other = backup("1-full", "", "0/1000028", "0/1000100");
  other.system_identifier = "7300000000000000001";
  expect_error(
      [&] { resolve_chain(child, [&](const std::string&, const std::string&) { return other; }); },
      ErrorKind::corrupt,
      "a backup of another system (7300000000000000001, not " + std::string(kSys) + ")");
  BackupMeta logical = backup("1-full", "", "0/1000028", "0/1000100");
  logical.kind = "logical";
  expect_error(
      [&] {
        resolve_chain(logical, [](const std::string&, const std::string&) { return BackupMeta{}; });
      },
      ErrorKind::unsupported, "only physical backups (full or incremental) have a chain");
}
