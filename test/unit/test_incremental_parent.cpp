// Which backup an incremental is taken against (catalog/incremental_parent).
#include "pgvault/catalog/incremental_parent.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

using namespace pgvault;
using namespace pgvault::test;

namespace {

const std::string kSys = "7300000000000000001";
const std::string kRepo = "file:///srv/pgvault";

BackupMeta backup(const std::string& name, const std::string& kind, std::uint32_t timeline,
                  const std::string& stop, const std::string& completed,
                  const std::string& parent = "") {
  BackupMeta m;
  m.name = name;
  m.kind = kind;
  m.parent = parent;
  m.system_identifier = kSys;
  m.timeline = timeline;
  m.stop_lsn = stop;
  // Each backup starts 8 MB before it ends, after its parent's end.
  if (!stop.empty()) m.start_lsn = format_lsn(Lsn{parse_lsn(stop).value - 0x800000});
  m.completed_at = completed;
  return m;
}

TEST(IncrementalParent, TheNewestRestorablePhysicalBackupOfThisTimelineAndPast) {
  RepositoryListing listing;
  listing.complete = {
      backup("full", "physical", 1, "0/2000000", "2026-12-01T00:00:00Z"),
      backup("incr", "incremental", 1, "0/3000000", "2026-12-02T00:00:00Z", "full"),
      backup("dump", "logical", 0, "", "2026-12-03T00:00:00Z"),
  };
  EXPECT_EQ(choose_incremental_parent(listing, kSys, 1, Lsn{0x4000000}, kRepo).name, "incr");
  // A backup that ends after this server's position is another server's.
  EXPECT_EQ(choose_incremental_parent(listing, kSys, 1, Lsn{0x2800000}, kRepo).name, "full");
  // Another timeline: none, and the message says why and what to do.
  expect_error([&] { choose_incremental_parent(listing, kSys, 2, Lsn{0x9000000}, kRepo); },
               ErrorKind::not_found,
               "no physical backup can be a parent for an incremental backup of system " + kSys +
                   " on timeline 2 in repository " + kRepo +
                   "; the newest was passed over, \"incr\": it is on timeline 1, this server on 2. "
                   "Take a full backup");
}

// A full backup and a fast incremental on top of it that complete within one
// second: the incremental (the one ending later in the WAL) is the newest,
// though "…-physical" sorts after "…-incremental" by name.
TEST(IncrementalParent, WithinOneSecondTheLaterInTheWalIsTheNewest) {
  RepositoryListing listing;
  listing.complete = {
      backup("20261206T003306Z-physical", "physical", 1, "0/2000100", "2026-12-06T00:33:06.684Z"),
      backup("20261206T003306Z-incremental", "incremental", 1, "0/4000100",
             "2026-12-06T00:33:06.931Z", "20261206T003306Z-physical"),
  };
  EXPECT_EQ(choose_incremental_parent(listing, kSys, 1, Lsn{0x6000000}, kRepo).name,
            "20261206T003306Z-incremental");
}

TEST(IncrementalParent, ABrokenChainIsPassedOver) {
  RepositoryListing listing;
  listing.complete = {
      backup("full", "physical", 1, "0/2000000", "2026-12-01T00:00:00Z"),
      backup("orphan", "incremental", 1, "0/3000000", "2026-12-02T00:00:00Z", "gone"),
  };
  EXPECT_EQ(choose_incremental_parent(listing, kSys, 1, Lsn{0x4000000}, kRepo).name, "full");
}

TEST(IncrementalParent, NoPhysicalBackupAtAll) {
  RepositoryListing listing;
  listing.complete = {backup("dump", "logical", 0, "", "2026-12-03T00:00:00Z")};
  expect_error([&] { choose_incremental_parent(listing, kSys, 1, Lsn{0x4000000}, kRepo); },
               ErrorKind::not_found,
               "no physical backup to be a parent for an incremental backup of system " + kSys +
                   " on timeline 1 in repository " + kRepo +
                   ": take a full backup first (SELECT * FROM vault.create_backup())");
}

}  // namespace
