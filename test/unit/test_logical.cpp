// Logical backups against a stand-in pg_dump (a shell script): what pg_dump
// is asked for, the stored object, and every way it can fail.
#include "doubles/memory_storage.hpp"
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/logical/logical_backup.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kSys = "7300000000000000001";

class LogicalBackup : public ::testing::Test {
 protected:
  // A pg_dump stand-in running `body` (sh).
  std::string fake_pg_dump(const std::string& body) {
    fs::path p = tmp_.path() / ("pg_dump_" + std::to_string(++scripts_));
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    ::chmod(p.c_str(), 0755);
    return p.string();
  }

  BackupRequest request(const std::string& pg_dump) {
    BackupRequest r;
    r.kind = BackupKind::logical;
    r.origin.name = "20261124T090000Z-logical";
    r.origin.trigger = "manual";
    r.origin.initiated_by = "alice";
    r.origin.database = "shop";
    r.origin.system_identifier = kSys;
    r.origin.pg_version = 150018;
    r.pg_dump = pg_dump;
    r.conninfo = "host='/tmp' port=5432";
    r.compression.algorithm = Compression::zstd;
    return r;
  }

  std::string decompressed(const BackupMeta& m) {
    const auto& o = m.objects.at(0);
    std::string stored = storage_->read_all(Repository::object_path(kSys, m.name, o.name));
    StringSink out;
    auto d = make_decompressor(compression_from_name(o.name), out);
    d->write(as_bytes(stored));
    d->finish();
    return out.str();
  }

  TempDir tmp_;
  int scripts_ = 0;
  std::unique_ptr<Storage> storage_ = make_memory_storage();
  Repository repo_{*storage_};
};

void no_progress(const BackupProgress&) {}
void no_interrupt() {}

TEST(LogicalOptions, PgDumpArguments) {
  BackupRequest r;
  r.kind = BackupKind::logical;
  r.pg_dump = "/usr/lib/postgresql/15/bin/pg_dump";
  r.conninfo = "host='/run/postgresql' port=5432 user='postgres'";
  r.origin.database = "it's a db\\";
  r.logical.schema_only = true;
  r.logical.include_tables = {"public.orders", "sales.*"};
  r.logical.exclude_tables = {"public.audit"};
  EXPECT_EQ(
      pg_dump_arguments(r),
      (std::vector<std::string>{
          "/usr/lib/postgresql/15/bin/pg_dump", "--format=custom", "--compress=0", "--no-password",
          "--dbname=host='/run/postgresql' port=5432 user='postgres' dbname='it\\'s a db\\\\'",
          "--schema-only", "--table=public.orders", "--table=sales.*",
          "--exclude-table=public.audit"}));
  r.lock_wait_timeout_ms = 60000;
  EXPECT_EQ(pg_dump_arguments(r).at(5), "--lock-wait-timeout=60000");
}

TEST(LogicalOptions, Validation) {
  LogicalOptions o;
  o.schema_only = o.data_only = true;
  expect_error([&] { validate_logical_options(o); }, ErrorKind::invalid_argument,
               "schema_only and data_only cannot both be true");
  o.data_only = false;
  o.include_tables = {""};
  expect_error([&] { validate_logical_options(o); }, ErrorKind::invalid_argument,
               "include_tables holds an empty table pattern");
}

TEST_F(LogicalBackup, StreamsTheDumpCompressedIntoOneObjectAndWritesBackupJsonLast) {
  // Prints PGDMP, its arguments, then 3 MB; stderr chatter is not an error.
  std::string pg_dump = fake_pg_dump(
      "printf 'PGDMP'; printf '%s\\n' \"$@\"; echo warning >&2; "
      "head -c 3000000 /dev/zero | tr '\\0' 'x'");
  BackupRequest req = request(pg_dump);
  req.logical.data_only = true;
  std::uint64_t last_dumped = 0;
  BackupMeta m = run_logical_backup(
      repo_, req,
      [&](const BackupProgress& p) {
        EXPECT_STREQ(p.phase, "dumping");
        last_dumped = p.done;
      },
      no_interrupt);
  EXPECT_EQ(m.kind, "logical");
  EXPECT_EQ(m.database, "shop");
  EXPECT_EQ(m.compressed_by, "client");
  EXPECT_EQ(m.compression, "zstd");
  EXPECT_TRUE(m.logical.data_only);
  ASSERT_EQ(m.objects.size(), 1u);
  EXPECT_EQ(m.objects[0].name, "dump.pgdump.zst");
  std::string dump = decompressed(m);
  EXPECT_EQ(dump.substr(0, 5), "PGDMP");
  EXPECT_NE(dump.find("--data-only\n"), std::string::npos);
  EXPECT_NE(dump.find("dbname='shop'"), std::string::npos);
  EXPECT_EQ(m.source_bytes, dump.size());
  EXPECT_EQ(last_dumped, dump.size());
  EXPECT_LT(m.stored_bytes, m.source_bytes / 10);
  std::string stored = storage_->read_all(Repository::object_path(kSys, m.name, "dump.pgdump.zst"));
  EXPECT_EQ(m.objects[0].sha256, sha256_hex(stored));
  EXPECT_EQ(repo_.read_meta(kSys, m.name).logical, m.logical);
}

TEST_F(LogicalBackup, UncompressedDumpKeepsItsPlainName) {
  BackupRequest req = request(fake_pg_dump("printf 'PGDMP-plain'"));
  req.compression.algorithm = Compression::none;
  BackupMeta m = run_logical_backup(repo_, req, no_progress, no_interrupt);
  EXPECT_EQ(m.objects.at(0).name, "dump.pgdump");
  EXPECT_EQ(m.compressed_by, "none");
  EXPECT_EQ(storage_->read_all(Repository::object_path(kSys, m.name, "dump.pgdump")),
            "PGDMP-plain");
}

TEST_F(LogicalBackup, PgDumpFailureCarriesItsStderrAndLeavesNothing) {
  std::string pg_dump = fake_pg_dump(
      "printf 'PGDMP partial'; echo 'pg_dump: error: connection to server failed: FATAL:  "
      "database \"shop\" does not exist' >&2; exit 1");
  expect_error([&] { run_logical_backup(repo_, request(pg_dump), no_progress, no_interrupt); },
               ErrorKind::storage,
               "pg_dump exited with status 1: pg_dump: error: connection to server failed: FATAL:  "
               "database \"shop\" does not exist");
  EXPECT_TRUE(storage_->list("").empty());
}

// pgvault.max_backup_size: the dump is stopped as its stored bytes pass the
// ceiling, and nothing of it stays (no object, no backup.json).
TEST_F(LogicalBackup, OverTheSizeCeilingStopsAndLeavesNothing) {
  BackupRequest req = request(fake_pg_dump("printf PGDMP; head -c 400000 /dev/urandom"));
  req.compression.algorithm = Compression::none;
  req.max_stored_bytes = 100000;
  std::uint64_t most_reported = 0;
  expect_error(
      [&] {
        run_logical_backup(
            repo_, req, [&](const BackupProgress& p) { most_reported = p.stored; }, no_interrupt);
      },
      ErrorKind::limit_exceeded,
      "logical backup \"20261124T090000Z-logical\" stopped: it stores more than "
      "pgvault.max_backup_size (98 kB): ");
  EXPECT_LE(most_reported, 100000u) << "no progress is reported past the ceiling";
  EXPECT_TRUE(storage_->list("").empty());
  EXPECT_TRUE(repo_.list_backups().empty());
  // At the ceiling exactly is allowed.
  req.max_stored_bytes = 5 + 400000;
  req.origin.name = "20261124T090001Z-logical";
  EXPECT_EQ(run_logical_backup(repo_, req, no_progress, no_interrupt).stored_bytes, 400005u);
}

// Another server of the same system (a restored copy) wrote a backup under
// this name: refused before pg_dump runs, and its objects stay as they are.
TEST_F(LogicalBackup, ANameInUseInTheRepositoryIsRefusedAndLeftAlone) {
  const std::string theirs =
      Repository::object_path(kSys, "20261124T090000Z-logical", "dump.pgdump.zst");
  storage_->write_all(theirs, "their dump");
  std::string ran = (tmp_.path() / "ran").string();
  expect_error(
      [&] {
        run_logical_backup(repo_, request(fake_pg_dump("touch " + ran + "; printf PGDMP")),
                           no_progress, no_interrupt);
      },
      ErrorKind::already_exists,
      "backup name \"20261124T090000Z-logical\" is already used in repository memory:// by a "
      "backup of system " +
          kSys + " that this server did not record");
  EXPECT_FALSE(fs::exists(ran));
  EXPECT_EQ(storage_->read_all(theirs), "their dump");
  EXPECT_EQ(storage_->list("").size(), 1u);
}

TEST_F(LogicalBackup, KilledPgDumpIsAFailure) {
  std::string pg_dump = fake_pg_dump("printf 'PGDMP'; kill -9 $$");
  expect_error([&] { run_logical_backup(repo_, request(pg_dump), no_progress, no_interrupt); },
               ErrorKind::storage, "pg_dump was killed by signal 9");
  EXPECT_TRUE(storage_->list("").empty());
}

TEST_F(LogicalBackup, AnInterruptStopsPgDumpAtOnce) {
  std::string pg_dump = fake_pg_dump("printf 'PGDMP'; exec sleep 30");
  const auto start = std::chrono::steady_clock::now();
  int calls = 0;
  EXPECT_THROW(run_logical_backup(repo_, request(pg_dump), no_progress,
                                  [&] {
                                    if (++calls == 3) throw std::runtime_error("cancelled");
                                  }),
               std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(storage_->list("").empty());
}

TEST_F(LogicalBackup, ARepositoryOfANewerFormatIsRefusedBeforePgDumpRuns) {
  storage_->write_all(Repository::kFormatFile, R"({"format": 2})");
  // pg_dump would leave a trace if it ran: the refusal comes first.
  const fs::path ran = tmp_.path() / "pg_dump_ran";
  std::string pg_dump = fake_pg_dump("touch '" + ran.string() + "'; printf 'PGDMP'");
  expect_error([&] { run_logical_backup(repo_, request(pg_dump), no_progress, no_interrupt); },
               ErrorKind::unsupported,
               "repository format 2 is newer than this pgvault understands (1); upgrade pgvault "
               "to read it");
  EXPECT_FALSE(fs::exists(ran));
  EXPECT_EQ(storage_->list("").size(), 1u);  // the format file, nothing else
}

TEST_F(LogicalBackup, MissingProgramIsNamed) {
  expect_error(
      [&] {
        run_logical_backup(repo_, request("/nonexistent/pg_dump"), no_progress, no_interrupt);
      },
      ErrorKind::io, "could not run /nonexistent/pg_dump");
}

}  // namespace
