// Logical restores against a stand-in pg_restore (a shell script): what it
// is asked for, the dump it is fed (decrypted and decompressed), and every
// way a restore can fail; the key check made before anything changes.
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_restore.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/process/child_process.hpp"
#include "pgvault/restore/key_check.hpp"
#include "pgvault/storage/storage.hpp"

#include "doubles/memory_storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <signal.h>
#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kSys = "7300000000000000001";

void no_interrupt() {}

class LogicalRestore : public ::testing::Test {
 protected:
  // A pg_restore stand-in running `body` (sh).
  std::string fake_pg_restore(const std::string& body) {
    fs::path p = tmp_.path() / ("pg_restore_" + std::to_string(++scripts_));
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    ::chmod(p.c_str(), 0755);
    return p.string();
  }

  // Stores dump as a logical backup's only object, compressed with c and
  // encrypted with key (if given), and returns its backup.json.
  BackupMeta store_backup(const std::string& dump, Compression c,
                          const EncryptionKey* key = nullptr) {
    StringSink stored;
    std::unique_ptr<Sink> encryptor, compressor;
    Sink* head = &stored;
    if (key) {
      encryptor = make_encryptor(*key, *head);
      head = encryptor.get();
    }
    if (c != Compression::none) {
      compressor = make_compressor(c, 0, *head);
      head = compressor.get();
    }
    head->write(as_bytes(dump));
    head->finish();
    BackupMeta meta;
    meta.name = "20261124T090000Z-logical";
    meta.kind = "logical";
    meta.system_identifier = kSys;
    meta.database = "shop";
    const std::string object = "dump.pgdump" + std::string(compression_suffix(c));
    storage_->write_all(Repository::object_path(kSys, meta.name, object), stored.str());
    meta.objects = {{object, stored.str().size(), sha256_hex(stored.str())}};
    return meta;
  }

  LogicalRestoreRequest request(const std::string& pg_restore) {
    LogicalRestoreRequest r;
    r.pg_restore = pg_restore;
    r.conninfo = "host='/tmp' port=5432";
    r.database = "pgvault_restore_1";
    return r;
  }

  // A dump larger than any pipe buffer.
  static std::string big_dump() {
    std::string d = "PGDMP";
    d.resize(4 * 1024 * 1024, 'x');
    return d;
  }

  TempDir tmp_;
  int scripts_ = 0;
  std::unique_ptr<Storage> storage_ = make_memory_storage();
};

DecryptorFactory decryptor_with(const EncryptionKey& key) {
  return [&key](const std::string&, Sink& next) { return make_decryptor(key, next); };
}

TEST(LogicalRestoreArguments, KeepOwnersAndStopAtTheFirstError) {
  LogicalRestoreRequest r;
  r.pg_restore = "/usr/lib/postgresql/15/bin/pg_restore";
  r.conninfo = "host='/run/postgresql' port=5432 options='-c search_path=pg_catalog,pg_temp'";
  r.database = "it's a db\\";
  EXPECT_EQ(pg_restore_arguments(r),
            (std::vector<std::string>{"/usr/lib/postgresql/15/bin/pg_restore", "--exit-on-error",
                                      "--no-password",
                                      "--dbname=host='/run/postgresql' port=5432 options='-c "
                                      "search_path=pg_catalog,pg_temp' dbname='it\\'s a db\\\\'"}));
}

TEST(LogicalRestoreArguments, ABackupWithoutADumpIsNotRestorable) {
  BackupMeta meta;
  meta.name = "x";
  meta.objects = {{"backup_manifest", 1, "00"}};
  expect_error([&] { (void)logical_dump_entry(meta); }, ErrorKind::corrupt,
               "backup \"x\" is a logical backup without a dump.pgdump object");
}

TEST_F(LogicalRestore, FeedsTheDecryptedDecompressedDumpToPgRestore) {
  const EncryptionKey key = EncryptionKey::generate();
  const std::string dump = "PGDMP" + std::string(3000000, 'd');
  const BackupMeta meta = store_backup(dump, Compression::zstd, &key);
  const fs::path fed = tmp_.path() / "fed", args = tmp_.path() / "args";
  LogicalRestoreRequest req =
      request(fake_pg_restore("printf '%s\\n' \"$@\" > '" + args.string() + "'; cat > '" +
                              fed.string() + "'; echo notice >&2"));
  req.decryptor = decryptor_with(key);
  const LogicalRestoreResult r = run_logical_restore(*storage_, meta, req, no_interrupt);
  EXPECT_EQ(r.restored_bytes, dump.size());
  EXPECT_FALSE(r.input_left_unread);
  EXPECT_EQ(slurp(fed), dump);
  EXPECT_NE(slurp(args).find("--exit-on-error\n"), std::string::npos);
  EXPECT_NE(slurp(args).find("dbname='pgvault_restore_1'"), std::string::npos);
}

TEST_F(LogicalRestore, PgRestoreFailureCarriesItsStderr) {
  const BackupMeta meta = store_backup("PGDMP small", Compression::lz4);
  const std::string pg_restore = fake_pg_restore(
      "cat > /dev/null; echo 'pg_restore: error: could not execute query: ERROR:  relation "
      "\"orders\" already exists' >&2; exit 1");
  expect_error([&] { run_logical_restore(*storage_, meta, request(pg_restore), no_interrupt); },
               ErrorKind::storage,
               "pg_restore exited with status 1: pg_restore: error: could not execute query: "
               "ERROR:  relation \"orders\" already exists");
}

// pg_restore gone before it read the dump: its own words are the error, not
// the broken pipe.
TEST_F(LogicalRestore, PgRestoreExitingEarlyIsReportedNotTheBrokenPipe) {
  const BackupMeta meta = store_backup(big_dump(), Compression::none);
  const std::string pg_restore =
      fake_pg_restore("echo 'pg_restore: error: connection to server failed' >&2; exit 1");
  expect_error([&] { run_logical_restore(*storage_, meta, request(pg_restore), no_interrupt); },
               ErrorKind::storage,
               "pg_restore exited with status 1: pg_restore: error: connection to server failed");
}

// A child gone before it read its input is an error, not a SIGPIPE that
// would kill the caller (which, unlike the server, does not ignore it here).
TEST(ChildProcessStdin, WritingToAChildThatExitedIsAnError) {
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c", "exit 0"};
  o.pipe_stdin = true;
  ChildProcess p(o);
  const std::string data(1024 * 1024, 'x');
  expect_error([&] { p.write_stdin(as_bytes(data), nullptr); }, ErrorKind::io,
               "/bin/sh stopped reading its input");
  EXPECT_EQ(p.wait(nullptr), 0);
}

TEST_F(LogicalRestore, PgRestoreSucceedingBeforeTheEndOfTheInputIsNoError) {
  const BackupMeta meta = store_backup(big_dump(), Compression::none);
  const LogicalRestoreResult r = run_logical_restore(
      *storage_, meta, request(fake_pg_restore("head -c 10 > /dev/null")), no_interrupt);
  EXPECT_TRUE(r.input_left_unread);
  EXPECT_LT(r.restored_bytes, big_dump().size());
}

TEST_F(LogicalRestore, AChangedDumpIsFoundBeforeAndWhileRestoring) {
  BackupMeta meta = store_backup("PGDMP the original", Compression::none);
  storage_->write_all(Repository::object_path(kSys, meta.name, "dump.pgdump"),
                      "PGDMP the changed!");  // same size, other bytes
  expect_error([&] { check_logical_dump(*storage_, meta, no_interrupt); }, ErrorKind::corrupt,
               "object \"dump.pgdump\" of backup \"20261124T090000Z-logical\" is corrupt: "
               "SHA-256 mismatch");
  // Fed to a pg_restore that takes it all and succeeds: still an error.
  expect_error(
      [&] {
        run_logical_restore(*storage_, meta, request(fake_pg_restore("cat >/dev/null")),
                            no_interrupt);
      },
      ErrorKind::corrupt, "SHA-256 mismatch");
  // A size that differs from backup.json's, likewise.
  meta.objects[0].size += 1;
  expect_error([&] { check_logical_dump(*storage_, meta, no_interrupt); }, ErrorKind::corrupt,
               "size mismatch");
}

TEST_F(LogicalRestore, AMissingDumpIsNamed) {
  BackupMeta meta = store_backup("PGDMP", Compression::none);
  storage_->remove(Repository::object_path(kSys, meta.name, "dump.pgdump"));
  expect_error([&] { check_logical_dump(*storage_, meta, no_interrupt); }, ErrorKind::not_found,
               "object \"dump.pgdump\" of backup \"20261124T090000Z-logical\" is missing");
}

bool process_gone(const fs::path& pid_file) {
  const std::string pid = slurp(pid_file);
  if (pid.empty()) return false;
  return ::kill(std::stoi(pid), 0) == -1 && errno == ESRCH;
}

// An interrupt while pg_restore does not read (the pipe is full) ends the
// restore, and pg_restore with it.
TEST_F(LogicalRestore, AnInterruptWhilePgRestoreIsBusyStopsIt) {
  const BackupMeta meta = store_backup(big_dump(), Compression::none);
  const fs::path pid = tmp_.path() / "pid";
  const std::string pg_restore = fake_pg_restore("echo $$ > '" + pid.string() + "'; exec sleep 60");
  int calls = 0;
  EXPECT_THROW(run_logical_restore(*storage_, meta, request(pg_restore),
                                   [&] {
                                     if (++calls >= 5 && !slurp(pid).empty())
                                       throw std::runtime_error("cancelled");
                                   }),
               std::runtime_error);
  EXPECT_TRUE(process_gone(pid));
}

// An interrupt while waiting for pg_restore to finish, likewise.
TEST_F(LogicalRestore, AnInterruptWhileWaitingForPgRestoreStopsIt) {
  const BackupMeta meta = store_backup("PGDMP small", Compression::none);
  const fs::path pid = tmp_.path() / "pid";
  const std::string pg_restore =
      fake_pg_restore("echo $$ > '" + pid.string() + "'; cat > /dev/null; exec sleep 60");
  bool fed = false;
  EXPECT_THROW(run_logical_restore(*storage_, meta, request(pg_restore),
                                   [&] {
                                     // Once the pid file is there, the dump is in the pipe.
                                     if (fed && !slurp(pid).empty())
                                       throw std::runtime_error("cancelled");
                                     fed = true;
                                   }),
               std::runtime_error);
  EXPECT_TRUE(process_gone(pid));
}

TEST_F(LogicalRestore, TheKeyIsCheckedOnTheDumpsHeader) {
  const EncryptionKey key = EncryptionKey::generate();
  const EncryptionKey other = EncryptionKey::generate();
  const BackupMeta meta = store_backup("PGDMP secret", Compression::zstd, &key);
  const ObjectEntry& dump = logical_dump_entry(meta);
  EXPECT_NO_THROW(backup_reading::check_decryption_key(*storage_, meta, dump, decryptor_with(key)));
  expect_error(
      [&] { backup_reading::check_decryption_key(*storage_, meta, dump, decryptor_with(other)); },
      ErrorKind::invalid_argument,
      "object \"dump.pgdump.zst\" of backup \"20261124T090000Z-logical\": ");
  // An unencrypted backup needs no key.
  const BackupMeta plain = store_backup("PGDMP plain", Compression::zstd);
  EXPECT_NO_THROW(
      backup_reading::check_decryption_key(*storage_, plain, logical_dump_entry(plain), {}));
  storage_->remove(Repository::object_path(kSys, meta.name, dump.name));
  expect_error(
      [&] { backup_reading::check_decryption_key(*storage_, meta, dump, decryptor_with(key)); },
      ErrorKind::not_found, "is missing");
}

}  // namespace
