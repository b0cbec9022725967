// Restoring an incremental backup through its chain, delta restores, and
// verifying a chain (physical_restore.hpp, verify.hpp). Archives are built
// with the tests' TarWriter, incremental files with IncrementalFileWriter,
// in the repository format of src/core/physical/README.md.
#include "doubles/memory_storage.hpp"
#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/physical_restore.hpp"
#include "pgvault/restore/verify.hpp"
#include "pgvault/storage/storage.hpp"

#include "backup_fixture.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kFull = "20261201T000000Z-physical";
const std::string kIncr1 = "20261202T000000Z-incremental";
const std::string kIncr2 = "20261203T000000Z-incremental";
const std::string kTs = "PG_15_202209061/5/500";

// A relation file: one 8 kB page per letter, each filled with it.
std::string pages(const std::string& letters) {
  std::string out;
  for (char c : letters) out.append(kPageSize, c);
  return out;
}

// The incremental file format of a file of file_blocks blocks, storing `stored`.
std::string incremental(std::uint32_t file_blocks, const std::map<std::uint32_t, char>& stored) {
  StringSink out;
  std::vector<std::uint32_t> blocks;
  for (const auto& [b, c] : stored) blocks.push_back(b);
  IncrementalFileHeader h;
  h.file_blocks = file_blocks;
  h.block_count = static_cast<std::uint32_t>(blocks.size());
  IncrementalFileWriter w(out, h, blocks);
  for (const auto& [b, c] : stored) w.write_page(b, as_bytes(pages(std::string(1, c))));
  w.finish();
  return out.str();
}

// One backup of a chain, as the taker writes it.
struct BackupSpec {
  std::string name;
  std::string parent;  // empty: a full backup
  int seq = 1;         // orders LSNs and times
  // Paths in the archive: INCREMENTAL.<name> for an incremental file.
  std::vector<BackupFile> base;
  std::vector<BackupFile> ts;  // tablespace 16385
  std::vector<ManifestEntry> manifest;
  const EncryptionKey* key = nullptr;
};

// Parameter: the incrementals list their blocks in changed_blocks (pgvault
// 0.9, backup.json format 3: restored with every backup decoded at once), or
// not (0.8, format 2: restored one backup after another).
class ChainTest : public ::testing::TestWithParam<bool> {
 protected:
  static bool lists() { return GetParam(); }
  // Objects a restore reads beyond the archives and the newest manifest: the
  // lists of the two incrementals.
  static std::uint64_t list_objects() { return lists() ? 2u : 0u; }

  // What the taker writes into changed_blocks: each INCREMENTAL. entry's size and blocks.
  static std::string changed_blocks_of(const BackupSpec& spec) {
    std::vector<ChangedBlocksRecord> records;
    const auto add = [&](const std::vector<BackupFile>& files, const std::string& prefix) {
      for (const auto& f : files) {
        const std::size_t at = f.path.find("INCREMENTAL.");
        if (at == std::string::npos) continue;
        std::string path = f.path;
        path.erase(at, std::string("INCREMENTAL.").size());
        ChangedBlocksRecord r{prefix + path, 0, {}};
        IncrementalFileReader reader(
            f.path, [&](const IncrementalFileHeader& h) { r.file_blocks = h.file_blocks; },
            [&](std::uint32_t block, std::span<const std::byte>) { r.blocks.push_back(block); });
        reader.feed(as_bytes(f.content));
        reader.finish();
        records.push_back(std::move(r));
      }
    };
    add(spec.base, "");
    add(spec.ts, "pg_tblspc/16385/");
    StringSink out;
    write_changed_blocks(out, std::move(records));
    return out.str();
  }

  void SetUp() override {
    // The full backup.
    full.name = kFull;
    full.seq = 1;
    full.base = {{"PG_VERSION", "15\n"},
                 {"base/5/100", pages("abcd")},
                 {"base/5/200", pages("efg")},
                 {"base/5/300", pages("hi")},  // dropped before the first incremental
                 {"base/5/400", pages("jk")},  // dropped and re-created whole in incr1
                 {"global/pg_control", std::string(8192, '1')}};
    full.ts = {{kTs, pages("lm")}};
    full.manifest = manifest_entries(full.base, full.ts);

    // First incremental: 100 extended to 5 blocks (block 1 changed, 4 new),
    // 200 truncated to 2 blocks (block 1 changed), 300 gone, 400 re-created
    // (stored whole, one block), tablespace file block 0 changed.
    incr1.name = kIncr1;
    incr1.parent = kFull;
    incr1.seq = 2;
    incr1.base = {{"PG_VERSION", "15\n"},
                  {"base/5/INCREMENTAL.100", incremental(5, {{1, 'B'}, {4, 'E'}})},
                  {"base/5/INCREMENTAL.200", incremental(2, {{1, 'F'}})},
                  {"base/5/400", pages("N")},
                  {"global/pg_control", std::string(8192, '2')}};
    incr1.ts = {{"PG_15_202209061/5/INCREMENTAL.500", incremental(2, {{0, 'L'}})}};
    incr1.manifest = {{"PG_VERSION", 3, sha256_hex("15\n")},
                      {"base/5/100", 5 * kPageSize, "", false, true},
                      {"base/5/200", 2 * kPageSize, "", false, true},
                      {"base/5/400", kPageSize, sha256_hex(pages("N"))},
                      {"global/pg_control", 8192, sha256_hex(std::string(8192, '2'))},
                      {"pg_tblspc/16385/" + kTs, 2 * kPageSize, "", false, true}};

    // Second incremental (encrypted): 100 block 4 changed again (newest
    // wins), 200 unchanged (no block stored), 400 extended by one block (its
    // block 0 comes from incr1's whole copy, never from the full's), a new
    // file 600, tablespace file extended.
    incr2.name = kIncr2;
    incr2.parent = kIncr1;
    incr2.seq = 3;
    incr2.base = {{"PG_VERSION", "15\n"},
                  {"base/5/INCREMENTAL.100", incremental(5, {{4, 'X'}})},
                  {"base/5/INCREMENTAL.200", incremental(2, {})},
                  {"base/5/INCREMENTAL.400", incremental(2, {{1, 'O'}})},
                  {"base/5/600", pages("pq")},
                  {"global/pg_control", std::string(8192, '3')}};
    incr2.ts = {{"PG_15_202209061/5/INCREMENTAL.500", incremental(3, {{2, 'M'}})}};
    incr2.manifest = {{"PG_VERSION", 3, sha256_hex("15\n")},
                      {"base/5/100", 5 * kPageSize, "", false, true},
                      {"base/5/200", 2 * kPageSize, "", false, true},
                      {"base/5/400", 2 * kPageSize, "", false, true},
                      {"base/5/600", 2 * kPageSize, sha256_hex(pages("pq"))},
                      {"global/pg_control", 8192, sha256_hex(std::string(8192, '3'))},
                      {"pg_tblspc/16385/" + kTs, 3 * kPageSize, "", false, true}};
    incr2.key = &key;
  }

  // What a restore of incr2 must produce (paths relative to the data
  // directory; the tablespace file under the mapped location).
  std::map<std::string, std::string> expected_incr2() const {
    return {{"PG_VERSION", "15\n"},      {"base/5/100", pages("aBcdX")},
            {"base/5/200", pages("eF")}, {"base/5/400", pages("NO")},
            {"base/5/600", pages("pq")}, {"global/pg_control", std::string(8192, '3')}};
  }

  static std::string base_tar(const std::vector<BackupFile>& files) {
    TarWriter t;
    t.dir("base/");
    t.dir("base/5/");
    t.dir("global/");
    t.dir("pg_wal/");
    t.dir("pg_tblspc/");
    t.symlink("pg_tblspc/16385", "/old/location/ts1");
    for (const auto& f : files)
      if (f.path != "global/pg_control") t.file(f.path, f.content);
    for (const auto& f : files)
      if (f.path == "global/pg_control") t.file(f.path, f.content);  // last, as BASE_BACKUP
    t.end();
    return t.str();
  }

  std::string sealed(const std::string& bytes, const EncryptionKey* k) {
    if (k == nullptr) return bytes;
    StringSink out;
    auto enc = make_encryptor(*k, out);
    enc->write(as_bytes(bytes));
    enc->finish();
    return out.str();
  }

  void write(const BackupSpec& spec) {
    BackupMeta meta = fixture_meta(spec.name, spec.parent.empty() ? "physical" : "incremental");
    meta.parent = spec.parent;
    meta.start_lsn = "0/" + std::to_string(spec.seq) + "000028";
    meta.stop_lsn = "0/" + std::to_string(spec.seq) + "000100";
    meta.started_at = "2026-12-0" + std::to_string(spec.seq) + "T00:00:00.000Z";
    meta.completed_at = "2026-12-0" + std::to_string(spec.seq) + "T00:00:10.000Z";
    meta.compression_level = 3;
    meta.compressed_by = "client";
    meta.tablespaces = {{"16385", "/old/location/ts1"}};
    record_encryption(meta, spec.key);
    auto put = [&](const std::string& object, const std::string& bytes) {
      put_object(*storage, meta, object, sealed(bytes, spec.key));
    };
    put("base.tar.zst", zstd(base_tar(spec.base)));
    put("16385.tar.zst", zstd(tablespace_tar(spec.ts)));
    put("backup_manifest", make_manifest(spec.manifest));
    if (!spec.parent.empty() && lists() && written_by_0_8.count(spec.name) == 0) {
      const auto forged = forged_lists.find(spec.name);
      put("changed_blocks",
          forged != forged_lists.end() ? forged->second : changed_blocks_of(spec));
      meta.format_version = BackupMeta::kChangedBlocksFormatVersion;
    }
    Repository(*storage).write_meta(meta);
  }

  void write_chain() {
    write(full);
    write(incr1);
    write(incr2);
  }

  RestoreOptions options(const std::string& dir) {
    RestoreOptions o;
    o.pgdata = tmp.str() + "/" + dir;
    o.tablespace_mapping["16385"] = tmp.str() + "/" + dir + "-ts";
    o.sync_to_disk = false;
    o.decryptor_of = [this](const BackupMeta& m) -> DecryptorFactory {
      if (m.encryption == "none") return {};
      return [this](const std::string&, Sink& next) { return make_decryptor(key, next); };
    };
    return o;
  }

  RestoreReport restore(const std::string& name, const RestoreOptions& o,
                        std::vector<std::string>* log = nullptr) {
    Repository repo(*storage);
    return restore_physical(repo, repo.read_meta(kSysid, name), o, [&](std::string_view line) {
      if (log) log->emplace_back(line);
    });
  }

  void expect_restored_incr2(const RestoreOptions& o) {
    for (const auto& [path, content] : expected_incr2())
      EXPECT_EQ(slurp(o.pgdata + "/" + path), content) << path;
    EXPECT_EQ(slurp(o.tablespace_mapping.at("16385") + "/" + kTs), pages("LmM"));
    EXPECT_FALSE(fs::exists(o.pgdata + "/base/5/300")) << "removed before incr1: never written";
    EXPECT_FALSE(fs::exists(o.pgdata + "/base/5/INCREMENTAL.100"));
    EXPECT_EQ(fs::read_symlink(o.pgdata + "/pg_tblspc/16385").string(),
              o.tablespace_mapping.at("16385"));
  }

  EncryptionKey key = EncryptionKey::generate();
  BackupSpec full, incr1, incr2;
  std::map<std::string, std::string> forged_lists;  // backup name -> its changed_blocks
  std::set<std::string> written_by_0_8;             // incrementals without a list (format 2)
  std::unique_ptr<Storage> storage = make_memory_storage();
  TempDir tmp;
};

// Every path of a directory tree: files with their content, links with their
// target, directories (for comparing two restores).
std::map<std::string, std::string> tree(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::end(it); ++it) {
    const std::string rel = it->path().lexically_relative(root).string();
    if (it->is_symlink())
      out[rel] = "-> (link)";
    else if (it->is_directory())
      out[rel] = "(dir)";
    else
      out[rel] = sha256_hex(slurp(it->path()));
  }
  return out;
}

struct Stamp {
  ino_t inode;
  struct timespec mtime;
};
Stamp stamp(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return {st.st_ino, st.st_mtim};
}
bool same(const Stamp& a, const Stamp& b) {
  return a.inode == b.inode && a.mtime.tv_sec == b.mtime.tv_sec &&
         a.mtime.tv_nsec == b.mtime.tv_nsec;
}

}  // namespace

TEST_P(ChainTest, RestoresTheNewestIncrementalThroughItsChain) {
  write_chain();
  const RestoreOptions o = options("pgdata");
  std::vector<std::string> log;
  const RestoreReport r = restore(kIncr2, o, &log);
  expect_restored_incr2(o);

  // Which backup gave what: newest first.
  ASSERT_EQ(r.chain.size(), 3u);
  EXPECT_EQ(r.chain[0].name, kIncr2);
  EXPECT_EQ(r.chain[0].kind, "incremental");
  EXPECT_EQ(r.chain[0].pages, 3u);  // 100 block 4, 400 block 1, 500 block 2
  EXPECT_EQ(r.chain[1].pages, 4u);  // 100 block 1, 200 block 1, 400 block 0, 500 block 0
  EXPECT_EQ(r.chain[1].files, 1u);  // 400's whole copy, the base of its reconstruction
  EXPECT_EQ(r.chain[2].kind, "full");
  EXPECT_EQ(r.chain[2].pages, 5u);  // 100 blocks 0, 2, 3; 200 block 0; 500 block 1
  EXPECT_EQ(r.chain[2].files, 3u);
  EXPECT_EQ(r.reconstructed_files, 4u);
  EXPECT_EQ(r.manifest_files, 7u);
  EXPECT_EQ(r.objects, 3u + 2u + 2u + list_objects())
      << "older backups: only their archives, no manifest";
  for (const auto& step : r.chain) EXPECT_GT(step.bytes_read, 0u) << step.name;
  bool said_chain = false, said_step = false;
  for (const auto& l : log) {
    said_chain |= l.find("restoring the chain " + kFull + " <- " + kIncr1 + " <- " + kIncr2) == 0;
    said_step |= l.find("restoring incremental 2 of 3: \"" + kIncr1 + "\"") == 0;
  }
  EXPECT_TRUE(said_chain);
  EXPECT_TRUE(said_step);

  // The first incremental restores its own state.
  const RestoreOptions o1 = options("pgdata1");
  restore(kIncr1, o1);
  EXPECT_EQ(slurp(o1.pgdata + "/base/5/100"), pages("aBcdE"));
  EXPECT_EQ(slurp(o1.pgdata + "/base/5/200"), pages("eF"));
  EXPECT_EQ(slurp(o1.pgdata + "/base/5/400"), pages("N"));
  EXPECT_FALSE(fs::exists(o1.pgdata + "/base/5/600"));
  EXPECT_EQ(slurp(o1.tablespace_mapping.at("16385") + "/" + kTs), pages("Lm"));
}

// Newer pages merged into the full's runs (page_merge.hpp) or not, kept or
// left to their owners for want of room: the same files. With one byte of
// budget nothing is kept: the newest backup's pages are left out of the
// full's runs, the older incremental's wait for the full's runs to pass them.
TEST_P(ChainTest, EveryMergeBudgetRestoresTheSameFiles) {
  write_chain();
  for (const std::size_t budget : {std::size_t{0}, std::size_t{1}, std::size_t{64} << 20}) {
    SCOPED_TRACE("merge budget " + std::to_string(budget));
    RestoreOptions o = options("pgdata-" + std::to_string(budget));
    o.merge_budget = budget;
    std::vector<std::string> log;
    restore(kIncr2, o, &log);
    expect_restored_incr2(o);
    std::string merged;
    for (const auto& l : log)
      if (l.rfind("merged ", 0) == 0) merged = l;
    if (!lists() || budget == 0) {
      EXPECT_EQ(merged, "") << "nothing to merge";
    } else if (budget == 1) {
      EXPECT_EQ(merged.rfind("merged 0 newer pages", 0), 0u) << merged;
      EXPECT_NE(merged.find("; 5 written by their own backups"), std::string::npos) << merged;
    } else {
      EXPECT_NE(merged, "");
    }
  }
}

TEST_P(ChainTest, AFullBackupIsAChainOfOne) {
  write(full);
  const RestoreOptions o = options("pgdata");
  const RestoreReport r = restore(kFull, o);
  ASSERT_EQ(r.chain.size(), 1u);
  EXPECT_EQ(r.chain[0].kind, "full");
  EXPECT_EQ(r.reconstructed_files, 0u);
  EXPECT_EQ(slurp(o.pgdata + "/base/5/300"), pages("hi"));
}

TEST_P(ChainTest, AMissingBlockIsCorruptAndNothingIsLeftBehind) {
  // incr2 says 100 has 6 blocks but stores only block 4: block 5 is nowhere.
  incr2.base[1].content = incremental(6, {{4, 'X'}});
  incr2.manifest[1].size = 6 * kPageSize;
  write_chain();
  const RestoreOptions o = options("pgdata");
  expect_error([&] { restore(kIncr2, o); }, ErrorKind::corrupt,
               "block 5 of \"base/5/100\" (6 blocks) is in no backup of the chain");
  EXPECT_FALSE(fs::exists(o.pgdata));
  EXPECT_FALSE(fs::exists(o.tablespace_mapping.at("16385")));
}

TEST_P(ChainTest, AWrongSizeAgainstTheManifestIsCorrupt) {
  incr2.manifest[2].size = 3 * kPageSize;  // 200 rebuilds to 2 blocks
  write_chain();
  const RestoreOptions o = options("pgdata");
  expect_error([&] { restore(kIncr2, o); }, ErrorKind::corrupt,
               "file \"base/5/200\" in base.tar.zst has 16384 bytes but backup_manifest says "
               "24576");
  EXPECT_FALSE(fs::exists(o.pgdata));
}

TEST_P(ChainTest, ABrokenChainIsRefusedBeforeAnythingIsWritten) {
  write_chain();
  storage->remove(Repository::object_path(kSysid, kIncr1, "backup.json"));
  const RestoreOptions o = options("pgdata");
  expect_error([&] { restore(kIncr2, o); }, ErrorKind::not_found,
               "the chain of backup \"" + kIncr2 + "\" is broken: backup \"" + kIncr2 +
                   "\" is relative to \"" + kIncr1 + "\", which is missing");
  EXPECT_FALSE(fs::exists(o.pgdata));
}

TEST_P(ChainTest, ADamagedObjectOfAnOlderBackupIsCorrupt) {
  write_chain();
  const std::string path = Repository::object_path(kSysid, kFull, "base.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes[bytes.size() / 2] ^= 0x55;
  storage->write_all(path, bytes);
  const RestoreOptions o = options("pgdata");
  expect_error([&] { restore(kIncr2, o); }, ErrorKind::corrupt,
               "object \"base.tar.zst\" of backup \"" + kFull + "\" is corrupt");
  EXPECT_FALSE(fs::exists(o.pgdata));
}

TEST_P(ChainTest, DeltaOverAStaleCopyEqualsAFreshRestore) {
  write_chain();
  const RestoreOptions fresh = options("fresh");
  restore(kIncr2, fresh);

  // A stale copy: the full backup restored, then changed by hand.
  const RestoreOptions stale = options("stale");
  restore(kFull, stale);
  std::ofstream(stale.pgdata + "/base/5/600") << "garbage";
  std::ofstream(stale.pgdata + "/postmaster.opts") << "old server";
  std::ofstream(stale.pgdata + "/pg_wal/000000010000000000000009") << "old wal";
  fs::create_directories(stale.pgdata + "/base/16999/sub");
  std::ofstream(stale.pgdata + "/base/16999/sub/x") << "dropped database";
  std::ofstream(stale.tablespace_mapping.at("16385") + "/PG_15_202209061/5/999") << "stale";
  fs::create_directories(stale.tablespace_mapping.at("16385") + "/PG_16_202307071");
  const Stamp version = stamp(stale.pgdata + "/PG_VERSION");

  RestoreOptions delta = stale;
  delta.delta = true;
  const RestoreReport r = restore(kIncr2, delta);
  expect_restored_incr2(delta);
  EXPECT_TRUE(same(stamp(stale.pgdata + "/PG_VERSION"), version)) << "equal: not rewritten";
  EXPECT_GE(r.kept_files, 1u);
  EXPECT_GE(r.removed_files, 5u);

  auto without_locations = [](std::map<std::string, std::string> t) {
    t.erase("tablespace_map");  // names each copy's own tablespace directory
    t.erase("backup_manifest");
    return t;
  };
  EXPECT_EQ(without_locations(tree(stale.pgdata)), without_locations(tree(fresh.pgdata)));
  auto ts = tree(stale.tablespace_mapping.at("16385"));
  EXPECT_EQ(ts.erase("PG_16_202307071"), 1u) << "another version's directory is left alone";
  EXPECT_EQ(ts, tree(fresh.tablespace_mapping.at("16385")));
}

TEST_P(ChainTest, DeltaRewritesNothingThatIsAlreadyRight) {
  write_chain();
  const RestoreOptions o = options("pgdata");
  restore(kIncr2, o);
  const Stamp version = stamp(o.pgdata + "/PG_VERSION");
  const Stamp whole = stamp(o.pgdata + "/base/5/600");
  const Stamp rebuilt = stamp(o.pgdata + "/base/5/100");
  const Stamp ts = stamp(o.tablespace_mapping.at("16385") + "/" + kTs);

  RestoreOptions d = o;
  d.delta = true;
  const RestoreReport r = restore(kIncr2, d);
  expect_restored_incr2(d);
  EXPECT_TRUE(same(stamp(o.pgdata + "/PG_VERSION"), version));
  EXPECT_TRUE(same(stamp(o.pgdata + "/base/5/600"), whole));
  EXPECT_TRUE(same(stamp(o.pgdata + "/base/5/100"), rebuilt)) << "every page compared equal";
  EXPECT_TRUE(same(stamp(o.tablespace_mapping.at("16385") + "/" + kTs), ts));
  EXPECT_EQ(r.pages_unchanged, 5u + 2u + 2u + 3u);
  EXPECT_EQ(r.kept_files, 2u) << "PG_VERSION and 600; pg_control is always written last";

  // One changed page of a rebuilt file is written again, the others not.
  {
    std::fstream f(o.pgdata + "/base/5/100", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2 * kPageSize + 17);
    f.put('!');
  }
  const RestoreReport r2 = restore(kIncr2, d);
  EXPECT_EQ(r2.pages_unchanged, 5u + 2u + 2u + 3u - 1u);
  expect_restored_incr2(d);
}

TEST_P(ChainTest, DeltaOfAFullBackup) {
  write(full);
  const RestoreOptions o = options("pgdata");
  restore(kFull, o);
  std::ofstream(o.pgdata + "/base/5/100") << "damaged";
  std::ofstream(o.pgdata + "/stray") << "x";
  RestoreOptions d = o;
  d.delta = true;
  const RestoreReport r = restore(kFull, d);
  EXPECT_EQ(slurp(o.pgdata + "/base/5/100"), pages("abcd"));
  EXPECT_FALSE(fs::exists(o.pgdata + "/stray"));
  EXPECT_EQ(r.removed_files, 3u) << "stray, the damaged file, the old backup_manifest copy";
  EXPECT_EQ(slurp(o.pgdata + "/global/pg_control"), std::string(8192, '1'));
}

TEST_P(ChainTest, DeltaRefusesARunningServerAndAnyOtherDirectory) {
  write(full);
  const RestoreOptions o = options("pgdata");
  restore(kFull, o);
  std::ofstream(o.pgdata + "/postmaster.pid") << "4242\n";
  RestoreOptions d = o;
  d.delta = true;
  expect_error([&] { restore(kFull, d); }, ErrorKind::already_exists,
               "has a postmaster.pid: a server may be running there");
  EXPECT_EQ(slurp(o.pgdata + "/base/5/100"), pages("abcd")) << "nothing touched";

  RestoreOptions home = options("home");
  fs::create_directories(home.pgdata);
  std::ofstream(home.pgdata + "/notes.txt") << "precious";
  home.delta = true;
  expect_error([&] { restore(kFull, home); }, ErrorKind::invalid_argument, "has no PG_VERSION");
  EXPECT_EQ(slurp(home.pgdata + "/notes.txt"), "precious");

  // Without --delta a non-empty directory points at it.
  expect_error([&] { restore(kFull, o); }, ErrorKind::already_exists, "restore with --delta");
}

TEST_P(ChainTest, AFailedDeltaLeavesNoControlFile) {
  incr2.base[1].content = incremental(6, {{4, 'X'}});
  incr2.manifest[1].size = 6 * kPageSize;
  write_chain();
  const RestoreOptions o = options("pgdata");
  restore(kIncr1, o);
  RestoreOptions d = o;
  d.delta = true;
  expect_error([&] { restore(kIncr2, d); }, ErrorKind::corrupt,
               "global/pg_control is absent, so PostgreSQL will not start it");
  EXPECT_TRUE(fs::exists(o.pgdata + "/PG_VERSION"));
  EXPECT_FALSE(fs::exists(o.pgdata + "/global/pg_control"));
}

TEST_P(ChainTest, VerifyChecksEveryBackupOfTheChainAndWritesNothing) {
  write_chain();
  Repository repo(*storage);
  VerifyOptions vo;
  const RestoreOptions ro = options("unused");
  vo.decryptor_of = ro.decryptor_of;
  std::uint64_t last_progress = 0, total = 0;
  vo.on_progress = [&](std::uint64_t n, std::uint64_t t) {
    last_progress = n;
    total = t;
  };
  std::vector<std::string> log;
  const VerifyReport r = verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo,
                                       [&](std::string_view l) { log.emplace_back(l); });
  EXPECT_EQ(r.kind, "incremental");
  EXPECT_EQ(r.chain, (std::vector<std::string>{kIncr2, kIncr1, kFull}));
  EXPECT_EQ(r.objects, 9u + list_objects()) << "every object of every backup";
  EXPECT_EQ(r.manifest_files, 7u);
  EXPECT_EQ(r.files, 7u);
  EXPECT_EQ(last_progress, total);
  EXPECT_FALSE(fs::exists(ro.pgdata));

  const std::string path = Repository::object_path(kSysid, kFull, "16385.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes[bytes.size() / 3] ^= 1;
  storage->write_all(path, bytes);
  expect_error([&] { verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo); }, ErrorKind::corrupt,
               "object \"16385.tar.zst\" of backup \"" + kFull + "\"");
  storage->remove(path);
  expect_error([&] { verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo); },
               ErrorKind::not_found, "object \"16385.tar.zst\" of backup \"" + kFull + "\"");
}

// --stored-only of a chain: every object of every backup, encrypted ones
// included with no key, each listed first; a damaged or missing object of an
// older backup is named.
TEST_P(ChainTest, VerifyStoredOnlyChecksEveryObjectOfTheChainWithNoKey) {
  write_chain();
  Repository repo(*storage);
  VerifyOptions vo;
  vo.depth = VerifyDepth::stored;
  std::uint64_t last_progress = 0, total = 0;
  vo.on_progress = [&](std::uint64_t n, std::uint64_t t) {
    last_progress = n;
    total = t;
  };
  std::uint64_t stored = 0;
  for (const auto& name : {kFull, kIncr1, kIncr2})
    stored += repo.read_meta(kSysid, name).stored_bytes;
  const VerifyReport r = verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo);
  EXPECT_EQ(r.chain, (std::vector<std::string>{kIncr2, kIncr1, kFull}));
  EXPECT_EQ(r.objects, 9u + list_objects());
  EXPECT_EQ(r.bytes_read, stored);
  EXPECT_EQ(last_progress, stored);
  EXPECT_EQ(total, stored);
  EXPECT_EQ(r.files, 0u) << "nothing decoded";
  EXPECT_EQ(r.decoded_bytes, 0u);

  const std::string path = Repository::object_path(kSysid, kFull, "16385.tar.zst");
  std::string bytes = storage->read_all(path);
  bytes[bytes.size() / 3] ^= 1;
  storage->write_all(path, bytes);
  expect_error([&] { verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo); }, ErrorKind::corrupt,
               "object \"16385.tar.zst\" of backup \"" + kFull + "\" is corrupt: SHA-256 mismatch");
  storage->remove(path);
  expect_error([&] { verify_backup(repo, repo.read_meta(kSysid, kIncr2), vo); },
               ErrorKind::not_found, "object \"16385.tar.zst\" of backup \"" + kFull + "\"");
}

// Progress (pgvault restore's and verify's): the bytes read, as on_read_total
// last said, plus the bytes on_unread passed over are every object of the
// chain, each counted once, so a total of the chain's objects ends at 100%.
TEST_P(ChainTest, ProgressAccountsForEveryObjectReadOrPassedOver) {
  write_chain();
  Repository repo(*storage);
  std::uint64_t all = 0;
  for (const std::string& name : {kFull, kIncr1, kIncr2})
    for (const ObjectEntry& obj : repo.read_meta(kSysid, name).objects) all += obj.size;
  const std::thread::id caller = std::this_thread::get_id();
  for (const bool scan_only : {false, true}) {
    RestoreOptions o = options(scan_only ? "scan" : "progress");
    o.scan_only = scan_only;
    std::uint64_t read = 0, unread = 0;
    bool other_thread = false;
    o.on_read_total = [&](std::uint64_t n) {
      EXPECT_GE(n, read) << "never backwards";
      read = n;
      other_thread |= std::this_thread::get_id() != caller;
    };
    o.on_unread = [&](std::uint64_t n) { unread += n; };
    const RestoreReport r = restore(kIncr2, o);
    EXPECT_LE(read, r.bytes_read) << "scan_only " << scan_only;
    EXPECT_EQ(r.bytes_read + unread, all) << "scan_only " << scan_only;
    if (!scan_only) {
      EXPECT_GT(unread, 0u) << "the older backups' manifests are not read";
    } else {
      // verify's callbacks may call into PostgreSQL (vault.verify_backup).
      EXPECT_FALSE(other_thread) << "scan_only: every call on the calling thread";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ChainTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "WithBlockLists" : "WithoutBlockLists";
                         });

// The lists are read from the repository like everything else: an entry
// that does not match its backup's list is corrupt, whatever the list says,
// and the restore leaves nothing behind.
class PlannedChainTest : public ChainTest {};

TEST_P(PlannedChainTest, AListThatDisagreesWithItsArchiveIsCorrupt) {
  const auto refused = [&](const std::string& backup, const std::string& list,
                           const std::string& needle) {
    SCOPED_TRACE(list);
    storage = make_memory_storage();
    forged_lists = {{backup, list}};
    write_chain();
    const RestoreOptions o = options("pgdata");
    expect_error([&] { restore(kIncr2, o); }, ErrorKind::corrupt, needle);
    EXPECT_FALSE(fs::exists(o.pgdata));
    EXPECT_FALSE(fs::exists(o.tablespace_mapping.at("16385")));
  };
  const std::string ts = "pg_tblspc/16385/" + kTs;
  // incr1 lists block 2 of 100 instead of 4, which its entry holds (an older
  // page would win).
  refused(kIncr1, "5 1-2 base/5/100\n2 1 base/5/200\n2 0 " + ts + "\n",
          "20261202T000000Z-incremental: base.tar.zst: base/5/INCREMENTAL.100: the entry holds "
          "block 4, which the list does not");
  // incr1's entry is 5 blocks long, its list says 6.
  refused(kIncr1, "6 1,4 base/5/100\n2 1 base/5/200\n2 0 " + ts + "\n",
          "the entry holds 2 blocks of a file of 5 blocks; its backup's changed_blocks lists 2 "
          "blocks of a file of 6 blocks");
  // The newest does not list 200, which its archive holds as changed pages.
  refused(kIncr2, "5 4 base/5/100\n2 1 base/5/400\n3 2 " + ts + "\n",
          "entry \"base/5/INCREMENTAL.200\" of archive \"base.tar.zst\" of backup \"" + kIncr2 +
              "\" is not listed in its changed_blocks object");
  // incr1 lists 400 as changed pages, but holds it whole.
  refused(kIncr1, "5 1,4 base/5/100\n2 1 base/5/200\n1 0 base/5/400\n2 0 " + ts + "\n",
          "holds \"base/5/400\" whole, but its changed_blocks object lists it as changed pages");
  // incr1 does not list 200: its INCREMENTAL. entry would be taken for the base copy.
  refused(kIncr1, "5 1,4 base/5/100\n2 0 " + ts + "\n",
          "holds changed pages of \"base/5/200\", which its changed_blocks object does not list");
  // The newest lists a file its archives do not hold at all.
  refused(kIncr2,
          "5 4 base/5/100\n2 - base/5/200\n2 1 base/5/400\n1 - base/5/700\n3 2 " + ts + "\n",
          "lists \"base/5/700\" in its changed_blocks object but its archives hold no "
          "INCREMENTAL. entry for it");
}

// An upgrade in place: a chain whose older incremental pgvault 0.8 wrote (no
// list) is restored one backup after another, with the same result.
TEST_P(PlannedChainTest, AChainWithAnIncrementalFrom08IsRestoredOneBackupAfterAnother) {
  written_by_0_8 = {kIncr1};
  write_chain();
  const RestoreOptions o = options("pgdata");
  std::vector<std::string> log;
  const RestoreReport r = restore(kIncr2, o, &log);
  expect_restored_incr2(o);
  EXPECT_EQ(r.objects, 3u + 2u + 2u) << "no list read: the chain is not planned";
  for (const auto& l : log) EXPECT_EQ(l.find("planned the chain"), std::string::npos) << l;
}

INSTANTIATE_TEST_SUITE_P(Formats, PlannedChainTest, ::testing::Values(true),
                         [](const ::testing::TestParamInfo<bool>&) { return "WithBlockLists"; });
