// Storage drivers: the posix driver (file://) and the in-memory driver share
// the contract tests; posix-only behaviour is tested separately.
#include "doubles/memory_storage.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> paths(const std::vector<ObjectInfo>& objs) {
  std::vector<std::string> out;
  for (const auto& o : objs) out.push_back(o.path);
  return out;
}

std::vector<std::string> files_on_disk(const fs::path& root) {
  std::vector<std::string> out;
  if (!fs::exists(root)) return out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string random_data(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// ---- contract tests, run against both drivers ----------------------------------------

class StorageContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "file") {
      root_ = tmp_.path() / "repo";
      storage_ = open_repository("file://" + root_.string(), {});
    } else {
      storage_ = make_memory_storage();
    }
  }
  TempDir tmp_;
  fs::path root_;
  std::unique_ptr<Storage> storage_;
};

TEST_P(StorageContract, WriteCommitReadBack) {
  // 3 MiB in spans of varying size, including spans larger than the write buffer.
  std::string data = random_data(3 * (1u << 20) + 5, 1);
  auto w = storage_->open_write("sys/backups/b1/base.tar");
  std::size_t pos = 0;
  for (std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{(1u << 20) + 7},
                        std::size_t{65536}, std::size_t{3}, std::size_t{1u << 21}}) {
    n = std::min(n, data.size() - pos);
    w->write(bytes(std::string_view(data).substr(pos, n)));
    pos += n;
  }
  w->write(bytes(std::string_view(data).substr(pos)));
  EXPECT_FALSE(storage_->info("sys/backups/b1/base.tar").has_value()) << "visible before commit";
  w->commit();

  auto info = storage_->info("sys/backups/b1/base.tar");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->path, "sys/backups/b1/base.tar");
  EXPECT_EQ(info->size, data.size());
  EXPECT_GT(info->mtime_unix, 1700000000);  // a plausible "now"

  // Read back with an odd buffer size.
  auto r = storage_->open_read("sys/backups/b1/base.tar");
  std::string back;
  std::vector<std::byte> buf(9999);
  while (std::size_t n = r->read(buf)) back.append(reinterpret_cast<const char*>(buf.data()), n);
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(storage_->read_all("sys/backups/b1/base.tar") == data);
}

TEST_P(StorageContract, EmptyObject) {
  storage_->write_all("empty", "");
  auto info = storage_->info("empty");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 0u);
  EXPECT_EQ(storage_->read_all("empty"), "");
}

TEST_P(StorageContract, UncommittedWriterLeavesNothing) {
  {
    auto w = storage_->open_write("a/b/c.bin");
    w->write(bytes("partial data"));
  }
  EXPECT_FALSE(storage_->info("a/b/c.bin").has_value());
  EXPECT_TRUE(storage_->list("").empty());
  if (GetParam() == "file") {
    EXPECT_EQ(files_on_disk(root_), std::vector<std::string>{});
  }
}

TEST_P(StorageContract, OverwriteIsAtomic) {
  storage_->write_all("obj", "old content");
  {
    auto w = storage_->open_write("obj");
    w->write(bytes("new"));
    EXPECT_EQ(storage_->read_all("obj"), "old content");
  }
  EXPECT_EQ(storage_->read_all("obj"), "old content");
  storage_->write_all("obj", "new content");
  EXPECT_EQ(storage_->read_all("obj"), "new content");
  EXPECT_EQ(storage_->list("").size(), 1u);
}

TEST_P(StorageContract, WriteAfterCommitIsRefused) {
  auto w = storage_->open_write("x");
  w->write(bytes("1"));
  w->commit();
  EXPECT_THROW(w->write(bytes("2")), Error);
  EXPECT_THROW(w->commit(), Error);
  EXPECT_EQ(storage_->read_all("x"), "1");
}

TEST_P(StorageContract, ListSortedWithPrefix) {
  for (const char* p : {"b/2", "a/1", "a/10", "a/2/x", "ab", "a/2/y/z"})
    storage_->write_all(p, std::string(p) + "!");
  EXPECT_EQ(paths(storage_->list("")),
            (std::vector<std::string>{"a/1", "a/10", "a/2/x", "a/2/y/z", "ab", "b/2"}));
  EXPECT_EQ(paths(storage_->list("a/")),
            (std::vector<std::string>{"a/1", "a/10", "a/2/x", "a/2/y/z"}));
  EXPECT_EQ(paths(storage_->list("a")),
            (std::vector<std::string>{"a/1", "a/10", "a/2/x", "a/2/y/z", "ab"}));
  EXPECT_EQ(paths(storage_->list("a/1")), (std::vector<std::string>{"a/1", "a/10"}));
  EXPECT_EQ(paths(storage_->list("a/2/")), (std::vector<std::string>{"a/2/x", "a/2/y/z"}));
  EXPECT_TRUE(storage_->list("c/").empty());
  EXPECT_TRUE(storage_->list("a/3").empty());
  auto objs = storage_->list("b/");
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_EQ(objs[0].size, 4u);  // "b/2!"
}

// The directories directly under a directory that hold an object: what the
// repository lists to find its systems without listing their WAL.
TEST_P(StorageContract, ListDirectoriesNamesThoseHoldingObjects) {
  for (const char* p : {"top", "a/1", "a/2/x", "a/3/y/z", "a-b/1", "b/c/d", "sys/wal/0/1"})
    storage_->write_all(p, "x");
  storage_->prepare_prefix("e/f/");  // a directory with nothing in it yet
  EXPECT_EQ(storage_->list_directories(""), (std::vector<std::string>{"a", "a-b", "b", "sys"}));
  EXPECT_EQ(storage_->list_directories("a/"), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(storage_->list_directories("a/3/"), std::vector<std::string>{"y"});
  EXPECT_EQ(storage_->list_directories("b/"), std::vector<std::string>{"c"});
  EXPECT_EQ(storage_->list_directories("sys/"), std::vector<std::string>{"wal"});
  EXPECT_TRUE(storage_->list_directories("b/c/").empty()) << "d is an object, not a directory";
  EXPECT_TRUE(storage_->list_directories("e/").empty());
  EXPECT_TRUE(storage_->list_directories("nowhere/").empty());
  storage_->remove("a/2/x");
  EXPECT_EQ(storage_->list_directories("a/"), std::vector<std::string>{"3"});
  for (const char* bad : {"a", "a/2", "../", "a/../", "/abs/", "a//"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { storage_->list_directories(bad); }, ErrorKind::invalid_argument);
  }
  expect_error([&] { storage_->list_directories("a"); }, ErrorKind::invalid_argument,
               "invalid directory \"a\": a directory is empty (the root) or ends with '/'");
}

TEST_P(StorageContract, Remove) {
  storage_->write_all("d/one", "1");
  storage_->write_all("d/two", "2");
  storage_->remove("d/one");
  EXPECT_FALSE(storage_->info("d/one").has_value());
  EXPECT_EQ(paths(storage_->list("")), std::vector<std::string>{"d/two"});
  EXPECT_NO_THROW(storage_->remove("d/one"));  // missing: not an error
  EXPECT_NO_THROW(storage_->remove("nowhere/at/all"));
}

TEST_P(StorageContract, RemovePrefix) {
  for (const char* p :
       {"sys/backups/n1/backup.json", "sys/backups/n1/base.tar.zst", "sys/backups/n1/sub/deep",
        "sys/backups/n10/backup.json", "sys/backups/n2/backup.json", "sys/wal/1/0001"})
    storage_->write_all(p, "x");
  storage_->remove_prefix("sys/backups/n1/");
  EXPECT_EQ(paths(storage_->list("")),
            (std::vector<std::string>{"sys/backups/n10/backup.json", "sys/backups/n2/backup.json",
                                      "sys/wal/1/0001"}));
  if (GetParam() == "file") {
    EXPECT_FALSE(fs::exists(root_ / "sys/backups/n1")) << "emptied directory left behind";
    EXPECT_TRUE(fs::exists(root_ / "sys/backups/n10"));
  }
  storage_->remove_prefix("sys/");
  EXPECT_TRUE(storage_->list("").empty());
  if (GetParam() == "file") {
    EXPECT_FALSE(fs::exists(root_ / "sys"));
    EXPECT_TRUE(fs::exists(root_)) << "the repository root itself must stay";
  }
  EXPECT_NO_THROW(storage_->remove_prefix("nothing/here/"));
}

TEST_P(StorageContract, OpenReadMissingIsNotFound) {
  expect_error([&] { storage_->open_read("sys/backups/x/backup.json"); }, ErrorKind::not_found,
               "object \"sys/backups/x/backup.json\" not found in repository " + storage_->url());
  EXPECT_FALSE(storage_->info("sys/backups/x/backup.json").has_value());
}

TEST_P(StorageContract, BadPathsAreRejected) {
  for (const char* bad :
       {"../x", "a/../b", "a/..", "..", "/abs/path", "a//b", "", "a/", "./a", "a/./b"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { storage_->open_write(bad); }, ErrorKind::invalid_argument,
                 "invalid object path");
    expect_error([&] { storage_->open_read(bad); }, ErrorKind::invalid_argument);
    expect_error([&] { storage_->info(bad); }, ErrorKind::invalid_argument);
    expect_error([&] { storage_->remove(bad); }, ErrorKind::invalid_argument);
  }
  expect_error([&] { storage_->list("../"); }, ErrorKind::invalid_argument);
  expect_error([&] { storage_->list("a/../"); }, ErrorKind::invalid_argument);
  expect_error([&] { storage_->remove_prefix("/"); }, ErrorKind::invalid_argument);
  if (GetParam() == "file") {
    EXPECT_FALSE(fs::exists(tmp_.path() / "x"));
  }
}

// A prepared prefix holds nothing until an object is committed there, and
// remove_prefix leaves nothing of it.
TEST_P(StorageContract, PreparedPrefixListsNothingUntilWritten) {
  storage_->prepare_prefix("sys/backups/b1/");
  EXPECT_TRUE(storage_->list("").empty());
  if (GetParam() == "file") {
    EXPECT_TRUE(fs::is_directory(root_ / "sys/backups/b1"));
    struct stat st;
    ASSERT_EQ(::stat((root_ / "sys/backups/b1").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
  }
  storage_->prepare_prefix("sys/backups/b1/");  // again: nothing to do
  storage_->write_all("sys/backups/b1/backup.json", "{}");
  EXPECT_EQ(paths(storage_->list("")), std::vector<std::string>{"sys/backups/b1/backup.json"});
  storage_->prepare_prefix("sys/backups/b2/");
  storage_->remove_prefix("sys/backups/b2/");
  if (GetParam() == "file") {
    EXPECT_FALSE(fs::exists(root_ / "sys/backups/b2")) << "an unused prepared directory stays";
  }
  for (const char* bad : {"../", "a/../", "/abs/", "a//b/"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { storage_->prepare_prefix(bad); }, ErrorKind::invalid_argument);
  }
  if (GetParam() == "file") {
    EXPECT_FALSE(fs::exists(tmp_.path() / "abs"));
  }
}

TEST_P(StorageContract, RootExistsOnceSomethingWasWritten) {
  storage_->write_all("sys/backups/b1/backup.json", "{}");
  EXPECT_TRUE(storage_->root_exists());
  storage_->remove_prefix("sys/");
  EXPECT_TRUE(storage_->root_exists()) << "an emptied repository still exists";
}

INSTANTIATE_TEST_SUITE_P(Drivers, StorageContract, ::testing::Values("file", "memory"),
                         [](const auto& info) { return info.param; });

// ---- posix driver ----------------------------------------------------------------------

TEST(FileStorage, RootCreatedOnFirstWriteWithMode0700) {
  TempDir tmp;
  fs::path root = tmp.path() / "deep/er/repo";
  auto s = open_repository("file://" + root.string(), {});
  EXPECT_FALSE(fs::exists(root)) << "opening must not create anything";
  EXPECT_TRUE(s->list("").empty());
  EXPECT_FALSE(s->info("a").has_value());
  expect_error([&] { s->open_read("a"); }, ErrorKind::not_found);
  s->write_all("7291/backups/b/backup.json", "{}");
  ASSERT_TRUE(fs::is_directory(root));
  struct stat st;
  ASSERT_EQ(::stat(root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((root / "7291/backups/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((root / "7291/backups/b/backup.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(slurp(root / "7291/backups/b/backup.json"), "{}");
}

TEST(FileStorage, RootExistsTellsAMissingDirectoryFromAnEmptyOne) {
  TempDir tmp;
  auto missing = open_repository("file://" + (tmp.path() / "pgvualt").string(), {});
  EXPECT_FALSE(missing->root_exists());
  EXPECT_TRUE(missing->list("").empty()) << "list() alone cannot tell";
  EXPECT_FALSE(fs::exists(tmp.path() / "pgvualt")) << "asking must not create it";
  fs::create_directory(tmp.path() / "empty");
  EXPECT_TRUE(open_repository("file://" + (tmp.path() / "empty").string(), {})->root_exists());
  // Below a file: nothing can be there.
  std::ofstream(tmp.path() / "plain") << "not a directory";
  EXPECT_FALSE(open_repository((tmp.path() / "plain/repo").string(), {})->root_exists());
  // The root itself a file: that is not "missing", it is wrong.
  expect_error([&] { open_repository((tmp.path() / "plain").string(), {})->root_exists(); },
               ErrorKind::storage, "is not a directory");
}

TEST(FileStorage, RootExistsReportsWhatItCannotLookAt) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir tmp;
  fs::create_directory(tmp.path() / "closed");
  fs::permissions(tmp.path() / "closed", fs::perms::none);
  auto s = open_repository((tmp.path() / "closed/repo").string(), {});
  expect_error([&] { s->root_exists(); }, ErrorKind::io, "Permission denied");
  fs::permissions(tmp.path() / "closed", fs::perms::owner_all);
}

TEST(FileStorage, TempFileWhileWritingThenGone) {
  TempDir tmp;
  auto s = open_repository(tmp.path().string(), {});
  {
    auto w = s->open_write("d/obj");
    w->write(bytes("abc"));
    auto on_disk = files_on_disk(tmp.path());
    ASSERT_EQ(on_disk.size(), 1u);
    EXPECT_EQ(on_disk[0].rfind("d/obj.pgvault-tmp.", 0), 0u) << on_disk[0];
    EXPECT_TRUE(s->list("").empty()) << "temp files must not be listed";
    w->commit();
  }
  EXPECT_EQ(files_on_disk(tmp.path()), std::vector<std::string>{"d/obj"});
}

// Objects of many writes, buffered and not, start their write-back as they
// are written (write_back.hpp) and land whole.
TEST(FileStorage, LargeObjectsOfMixedWritesLandWhole) {
  TempDir tmp;
  auto s = open_repository(tmp.path().string(), {});
  const std::string data = random_data(9 * 1024 * 1024 + 4321, 5);
  auto w = s->open_write("sys/backups/b/base.tar");
  std::size_t at = 0;
  for (std::size_t step : {std::size_t{1000}, std::size_t{2} << 20, std::size_t{777} << 10}) {
    for (int i = 0; i < 3 && at < data.size(); ++i) {
      const std::size_t n = std::min(step, data.size() - at);
      w->write(bytes(std::string_view(data).substr(at, n)));
      at += n;
    }
  }
  w->write(bytes(std::string_view(data).substr(at)));
  w->commit();
  EXPECT_EQ(s->read_all("sys/backups/b/base.tar"), data);
}

TEST(FileStorage, StrayTempFilesIgnoredAndRemovedByRemovePrefix) {
  TempDir tmp;
  auto s = open_repository(tmp.path().string(), {});
  s->write_all("sys/backups/b/base.tar", "data");
  std::ofstream(tmp.path() / "sys/backups/b/base.tar.pgvault-tmp.999.0") << "crash leftover";
  EXPECT_EQ(paths(s->list("")), std::vector<std::string>{"sys/backups/b/base.tar"});
  s->remove_prefix("sys/backups/b/");
  EXPECT_EQ(files_on_disk(tmp.path()), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(tmp.path() / "sys/backups/b"));
}

TEST(FileStorage, UnwritableRootGivesIoErrorWithStrerror) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir tmp;
  fs::path root = tmp.path() / "ro";
  fs::create_directory(root);
  fs::permissions(root, fs::perms::owner_read | fs::perms::owner_exec);
  auto s = open_repository("file://" + root.string(), {});
  expect_error([&] { s->write_all("obj", "x"); }, ErrorKind::io, "Permission denied");
  expect_error([&] { s->write_all("sub/obj", "x"); }, ErrorKind::io,
               "\"" + (root / "sub").string() + "\": Permission denied");
}

TEST(FileStorage, RootBelowAFileGivesIoErrorWithStrerror) {
  // Works as root too (unlike permission checks).
  TempDir tmp;
  std::ofstream(tmp.path() / "plain") << "not a directory";
  auto s = open_repository((tmp.path() / "plain/repo").string(), {});
  expect_error([&] { s->write_all("obj", "x"); }, ErrorKind::io, "Not a directory");
  try {
    s->write_all("obj", "x");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((tmp.path() / "plain").string()), std::string::npos)
        << e.what();
  }
}

// A directory whose only file is a writer's temp file holds no object yet.
TEST(FileStorage, ListDirectoriesSkipsDirectoriesHoldingOnlyTempFiles) {
  TempDir tmp;
  auto s = open_repository("file://" + (tmp.path() / "repo").string(), {});
  s->write_all("done/x", "1");
  auto writer = s->open_write("writing/deep/x");
  writer->write(bytes("partial"));
  EXPECT_EQ(s->list_directories(""), std::vector<std::string>{"done"});
  writer->commit();
  EXPECT_EQ(s->list_directories(""), (std::vector<std::string>{"done", "writing"}));
}

TEST(FileStorage, ObjectPathThatIsADirectory) {
  TempDir tmp;
  auto s = open_repository(tmp.path().string(), {});
  s->write_all("dir/obj", "x");
  EXPECT_FALSE(s->info("dir").has_value());
  expect_error([&] { s->open_read("dir"); }, ErrorKind::not_found);
  expect_error([&] { s->write_all("dir/obj/below", "x"); }, ErrorKind::io, "Not a directory");
}

TEST(FileStorage, UrlIsNormalized) {
  TempDir tmp;
  std::string p = tmp.path().string();
  EXPECT_EQ(open_repository("file://" + p + "/", {})->url(), "file://" + p);
  EXPECT_EQ(open_repository(p + "//", {})->url(), "file://" + p);
  EXPECT_EQ(open_repository(p, {})->url(), "file://" + p);
  EXPECT_EQ(open_repository("file://" + p + "/./sub/..", {})->url(), "file://" + p);
}

TEST(RepositoryUrl, Validation) {
  EXPECT_NO_THROW(validate_repository_url("file:///var/lib/pgvault"));
  EXPECT_NO_THROW(validate_repository_url("/var/lib/pgvault/"));
  EXPECT_NO_THROW(validate_repository_url("s3://bucket/prefix"));
  EXPECT_NO_THROW(validate_repository_url("azure://container/p"));
  EXPECT_NO_THROW(validate_repository_url("gs://bucket"));
  for (const char* bad : {"relative/path", "", "http://example.com/x", "file://host/path",
                          "file:relative", "file:///", "/", "ftp:///x"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { validate_repository_url(bad); }, ErrorKind::invalid_argument,
                 "invalid repository URL \"" + std::string(bad) + "\"");
    expect_error([&] { validate_repository_url(bad); }, ErrorKind::invalid_argument,
                 "file:///absolute/path");
  }
}

TEST(ErrorKinds, NamesAndOsErrors) {
  EXPECT_EQ(error_kind_name(ErrorKind::corrupt), "corrupt");
  EXPECT_EQ(error_kind_name(ErrorKind::not_found), "not_found");
  EXPECT_EQ(error_kind_name(ErrorKind::invalid_argument), "invalid_argument");
  try {
    throw_os_error("could not write file \"/r/x\"", ENOSPC);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_STREQ(e.what(), "could not write file \"/r/x\": No space left on device");
  }
}

}  // namespace
