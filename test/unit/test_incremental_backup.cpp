// The incremental backup runner (physical/incremental_backup.hpp) against a
// synthetic data directory of real 8 kB pages and a fake IncrementalSource:
// what it stores of each file, the archives, backup_manifest, file_identity
// and backup.json it writes (read back with restore's own readers), and that a
// failure leaves nothing behind.
#include "pgvault/backup/backup_request.hpp"
#include "pgvault/byte_order.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/changed_blocks.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/physical/incremental_backup.hpp"
#include "pgvault/physical/incremental_file.hpp"
#include "pgvault/physical/manifest_writer.hpp"
#include "pgvault/physical/page.hpp"
#include "pgvault/pipeline/encode_chain.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/restore/backup_reading.hpp"
#include "pgvault/restore/manifest.hpp"
#include "pgvault/restore/tar_extract.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_summary.hpp"

#include "doubles/forwarding_storage.hpp"
#include "doubles/memory_storage.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

const std::string kSys = "7300000000000000031";
constexpr Lsn kOld{0x01000000};          // before the parent's start
constexpr Lsn kParentStart{0x05000000};  // "0/5000000"
constexpr Lsn kNew{0x06000000};          // after it
constexpr Lsn kStart{0x06000028};
constexpr Lsn kStop{0x06000100};

// A sane page with `lsn`, its checksum for block `block` of the fork, and a
// recognisable fill.
std::string page(Lsn lsn, std::uint32_t block, char fill) {
  std::vector<std::byte> p(kPageSize, std::byte{0});
  auto put = [&](std::size_t off, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  };
  put(0, lsn.value >> 32, 4);
  put(4, lsn.value & 0xFFFFFFFFu, 4);
  put(12, 28, 2);
  put(14, 8000, 2);
  put(16, 8192, 2);
  put(18, 8192 | 4, 2);
  for (std::size_t i = 8000; i < kPageSize; ++i) p[i] = static_cast<std::byte>(fill);
  put(8, page_checksum(p, block), 2);
  return std::string(reinterpret_cast<const char*>(p.data()), p.size());
}

std::string pages(Lsn lsn, std::uint32_t count, char fill) {
  std::string out;
  for (std::uint32_t b = 0; b < count; ++b) out += page(lsn, b, static_cast<char>(fill + b));
  return out;
}

// Replaces a file by another one (a new inode) with the same content.
void recreate(const fs::path& p) {
  const std::string content = slurp(p);
  put_file(p.string() + ".new", content);
  fs::rename(p.string() + ".new", p);
}

// A PostgreSQL 15 data directory in miniature, one tablespace, one WAL file.
struct Cluster {
  TempDir tmp;
  fs::path data = tmp.path() / "data";
  fs::path space = tmp.path() / "ts";
  fs::path wal = tmp.path() / "wal" / "000000010000000000000006";

  Cluster() {
    put_file(data / "PG_VERSION", "15\n");
    put_file(data / "postgresql.conf", "port = 5432\n");
    put_file(data / "postmaster.pid", "4711\n");
    put_file(data / "global/pg_control", std::string(8192, 'C'));
    put_file(data / "global/1262", pages(kOld, 1, 'g'));
    put_file(data / "global/pg_internal.init", "cache");
    put_file(data / "base/5/PG_VERSION", "15\n");
    put_file(data / "base/5/16385", pages(kOld, 4, 'a'));
    put_file(data / "base/5/16385_vm", pages(kOld, 1, 'v'));
    put_file(data / "base/5/16385_fsm", pages(kOld, 3, 'f'));
    put_file(data / "base/5/16390", pages(kOld, 2, 'r'));  // removed later
    put_file(data / "base/5/16395", pages(kOld, 3, 't'));  // truncated later
    put_file(data / "base/5/16396", pages(kOld, 2, 'n'));  // re-created later
    put_file(data / "base/pgsql_tmp/pgsql_tmp4711.0", "sort");
    put_file(data / "pg_xact/0000", std::string(8192, 'x'));
    put_file(data / "pg_wal/000000010000000000000005", std::string(1024, 'w'));
    put_file(space / "PG_15_202209061/5/16401", pages(kOld, 2, 's'));
    fs::create_directories(data / "pg_tblspc");
    fs::create_directory_symlink(space, data / "pg_tblspc/16400");
    put_file(wal, std::string(65536, 'W'));
  }
};

// Remembers the order in which objects become visible.
class RecordingStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::unique_ptr<ObjectWriter> open_write(const std::string& p) override {
    class Writer final : public ObjectWriter {
     public:
      Writer(std::unique_ptr<ObjectWriter> w, RecordingStorage& s, std::string p)
          : w_(std::move(w)), s_(s), p_(std::move(p)) {}
      void write(std::span<const std::byte> d) override { w_->write(d); }
      void commit() override {
        w_->commit();
        std::lock_guard lock(s_.mu_);
        s_.commits.push_back(p_.substr(p_.rfind('/') + 1));
      }

     private:
      std::unique_ptr<ObjectWriter> w_;
      RecordingStorage& s_;
      std::string p_;
    };
    return std::make_unique<Writer>(inner_.open_write(p), *this, p);
  }
  std::vector<std::string> commits;

 private:
  std::mutex mu_;
};

class FakeSource final : public IncrementalSource {
 public:
  explicit FakeSource(const Cluster& c) : cluster_(c) {}
  StartPoint start() override {
    ++starts;
    return {kStart, timeline};
  }
  std::filesystem::path data_directory() override { return cluster_.data; }
  StopPoint stop() override {
    ++stops;
    return {kStop, "START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\n",
            "16400 " + cluster_.space.string() + "\n"};
  }
  std::vector<fs::path> wal_files(Lsn start, Lsn stop) override {
    EXPECT_EQ(start, kStart);
    EXPECT_EQ(stop, kStop);
    return {cluster_.wal};
  }
  WalChanges wal_changes(Lsn from, Lsn to) override {
    asked_for_changes.emplace_back(from, to);
    return changes;
  }
  std::uint32_t timeline = 1;
  int starts = 0, stops = 0;
  WalChanges changes{std::nullopt, {}, "the test source keeps no WAL summaries"};
  std::vector<std::pair<Lsn, Lsn>> asked_for_changes;

 private:
  const Cluster& cluster_;
};

EncodeOptions plain(const EncryptionKey* key) {
  EncodeOptions o;
  o.encryption_key = key;
  return o;
}

// A full backup of the cluster as it is now, as the job worker records one:
// backup_manifest (every file, SHA-256), file_identity, a base.tar and
// backup.json (physical, started at kParentStart).
BackupMeta put_parent(Repository& repo, const Cluster& c, const std::string& name,
                      const EncryptionKey* key = nullptr, bool with_identity = true) {
  BackupMeta meta;
  meta.name = name;
  meta.kind = "physical";
  meta.trigger = "manual";
  meta.system_identifier = kSys;
  meta.pg_version = 150000;
  meta.timeline = 1;
  meta.wal_segment_size = 16u << 20;
  meta.start_lsn = format_lsn(kParentStart);
  meta.stop_lsn = "0/5000100";
  meta.started_at = meta.completed_at = "2026-12-05T01:00:00.000Z";
  record_encryption(meta, key);
  const std::string dir = Repository::backup_dir(kSys, name);
  const DataDirectoryListing listing = list_data_directory(c.data);
  {
    EncodeChain chain(repo.storage(), dir, "backup_manifest", plain(key));
    BackupManifestWriter w(chain.input());
    for (const BackupEntry& e : listing.entries) {
      if (e.kind != BackupPathKind::other_file && e.kind != BackupPathKind::relation_file &&
          e.kind != BackupPathKind::control_file)
        continue;
      const std::string content = slurp(e.source);
      w.add_file({manifest_path(e), content.size(), 0, sha256_hex(content)});
    }
    w.add_file({"backup_label", 3, 0, sha256_hex("abc")});
    w.finish({{1, kParentStart, Lsn{0x05000100}}});
    meta.objects.push_back(chain.finish());
  }
  {
    EncodeChain chain(repo.storage(), dir, "base.tar", plain(key));
    chain.input().write(as_bytes(std::string(1024, '\0')));
    meta.objects.push_back(chain.finish());
  }
  if (with_identity) {
    EncodeChain chain(repo.storage(), dir, kFileIdentityObject, plain(key));
    write_file_identity(chain.input(), relation_file_identities(listing));
    meta.objects.push_back(chain.finish());
  }
  repo.write_meta(meta);
  return meta;
}

BackupRequest incremental_request(const std::string& name) {
  BackupRequest r;
  r.kind = BackupKind::incremental;
  r.origin.name = name;
  r.origin.trigger = "manual";
  r.origin.database = "postgres";
  r.origin.system_identifier = kSys;
  r.origin.pg_version = 150000;
  r.origin.wal_segment_size = 16u << 20;
  r.compression.algorithm = Compression::none;
  r.changes = IncrementalChanges::page_scan;  // the tests of WAL summaries ask for them
  return r;
}

// One backup read back with restore's readers.
struct ReadBack {
  std::vector<std::string> base_files;       // regular files of base.tar, in archive order
  std::map<std::string, std::string> files;  // "base.tar:path" -> content
  std::string manifest_text;
  std::string identity_text;
  std::string changed_blocks_text;
};

ReadBack read_back(Storage& storage, const BackupMeta& meta, const DecryptorFactory& decryptor) {
  ReadBack out;
  for (const ObjectEntry& o : meta.objects) {
    if (o.name.find(".tar") == std::string::npos) continue;
    TempDir dir;
    std::vector<std::string> order;
    TarExtractOptions opts;
    opts.target_dir = dir.str();
    opts.archive_name = o.name;
    opts.on_file = [&](const ExtractedFile& f) { order.push_back(f.path); };
    TarExtractor tar(std::move(opts));
    backup_reading::DecodeChain decode(o.name, tar, decryptor);
    backup_reading::read_object(storage, meta, o, decode.input());
    EXPECT_TRUE(tar.saw_end_of_archive()) << o.name;
    const std::string archive = o.name.substr(0, o.name.find(".tar") + 4);
    for (const auto& p : order) out.files[archive + ":" + p] = slurp(dir.path() / p);
    if (archive == "base.tar") out.base_files = order;
  }
  out.manifest_text = backup_reading::read_manifest_text(storage, meta, decryptor);
  const ObjectEntry* identity = meta.find_object(kFileIdentityObject);
  if (identity != nullptr) {
    StringSink text;
    backup_reading::DecodeChain decode(identity->name, text, decryptor);
    backup_reading::read_object(storage, meta, *identity, decode.input());
    out.identity_text = text.str();
  }
  if (const ObjectEntry* list = meta.find_object(kChangedBlocksObject)) {
    StringSink text;
    backup_reading::DecodeChain decode(list->name, text, decryptor);
    backup_reading::read_object(storage, meta, *list, decode.input());
    out.changed_blocks_text = text.str();
  }
  return out;
}

struct Incremental {
  IncrementalFileHeader header;
  std::vector<std::uint32_t> blocks;
  std::map<std::uint32_t, std::string> pages;
};

Incremental parse_incremental(const std::string& bytes) {
  Incremental inc;
  IncrementalFileReader reader(
      "test", [&](const IncrementalFileHeader& h) { inc.header = h; },
      [&](std::uint32_t block, std::span<const std::byte> p) {
        inc.blocks.push_back(block);
        inc.pages[block] = std::string(reinterpret_cast<const char*>(p.data()), p.size());
      });
  reader.feed(as_bytes(bytes));
  reader.finish();
  return inc;
}

// Rebuilds a file from the parent's copy and one incremental.
class StringOutput final : public PageOutput {
 public:
  void write_page(std::uint32_t block, std::span<const std::byte> p) override {
    if (data.size() < (block + 1) * kPageSize) data.resize((block + 1) * kPageSize, '\0');
    std::memcpy(data.data() + block * kPageSize, p.data(), kPageSize);
  }
  void set_block_count(std::uint32_t blocks) override { data.resize(blocks * kPageSize, '\0'); }
  std::string data;
};

std::string reconstruct(const std::string& incremental, const std::string& parent_copy) {
  StringOutput out;
  FileReconstruction r("test", out);
  r.begin_incremental("child");
  r.feed_incremental(as_bytes(incremental));
  r.end_incremental();
  if (r.needs_older()) r.feed_full_copy(as_bytes(parent_copy));
  r.finish();
  return out.data;
}

// Callbacks that keep what the backup's log says.
IncrementalCallbacks logging_to(std::vector<std::string>& log) {
  IncrementalCallbacks cb;
  cb.log = [&log](std::string_view line) { log.emplace_back(line); };
  return cb;
}

class IncrementalBackupTest : public ::testing::Test {
 protected:
  IncrementalBackupTest()
      : memory_(make_memory_storage()), storage_(*memory_), repo_(storage_), source_(cluster_) {}

  BackupMeta take(const BackupRequest& req, const BackupMeta& parent,
                  const DecryptorFactory& decryptor = {}, IncrementalCallbacks callbacks = {}) {
    return run_incremental_backup(repo_, req, parent, decryptor, source_, callbacks);
  }

  std::vector<ObjectInfo> objects_of(const std::string& name) {
    return storage_.list(Repository::backup_dir(kSys, name));
  }

  Cluster cluster_;
  std::unique_ptr<Storage> memory_;
  RecordingStorage storage_;
  Repository repo_;
  FakeSource source_;
};

const std::string kChild = "20261205T020000Z-incremental";

}  // namespace

TEST_F(IncrementalBackupTest, UnchangedPagesAreSkippedChangedNewAndExtendedPagesStored) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  const std::string parent_copy = slurp(cluster_.data / "base/5/16385");
  // Block 1 changed, block 4 appended with an old LSN (beyond the parent's
  // size), block 5 appended all zeroes; blocks 0, 2, 3 unchanged.
  std::string now = parent_copy;
  now.replace(kPageSize, kPageSize, page(kNew, 1, 'A'));
  now += page(kOld, 4, 'E') + std::string(kPageSize, '\0');
  put_file(cluster_.data / "base/5/16385", now);
  // An unchanged file whose parent copy is as big: nothing to store.
  const BackupMeta meta = take(incremental_request(kChild), parent);

  const ReadBack back = read_back(storage_, meta, {});
  ASSERT_EQ(back.files.count("base.tar:base/5/INCREMENTAL.16385"), 1u);
  EXPECT_EQ(back.files.count("base.tar:base/5/16385"), 0u) << "not stored whole";
  const Incremental inc = parse_incremental(back.files.at("base.tar:base/5/INCREMENTAL.16385"));
  EXPECT_FALSE(inc.header.whole_file);
  EXPECT_EQ(inc.header.file_blocks, 6u);
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{1, 4, 5}));
  EXPECT_EQ(inc.pages.at(1), page(kNew, 1, 'A'));
  EXPECT_EQ(reconstruct(back.files.at("base.tar:base/5/INCREMENTAL.16385"), parent_copy), now);
  // Untouched relation files: an incremental entry with no page at all.
  const Incremental unchanged =
      parse_incremental(back.files.at("base.tar:global/INCREMENTAL.1262"));
  EXPECT_EQ(unchanged.header.file_blocks, 1u);
  EXPECT_TRUE(unchanged.blocks.empty());
  EXPECT_EQ(source_.starts, 1);
  EXPECT_EQ(source_.stops, 1);
}

TEST_F(IncrementalBackupTest, TruncatedRemovedRecreatedMapForksAndOtherFilesAreHandled) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  put_file(cluster_.data / "base/5/16395", pages(kOld, 1, 't'));  // truncated: stored whole
  fs::remove(cluster_.data / "base/5/16390");                     // removed
  recreate(cluster_.data / "base/5/16396");                       // same content, another inode
  put_file(cluster_.data / "base/5/16397", pages(kOld, 2, 'z'));  // new since the parent
  const BackupMeta meta = take(incremental_request(kChild), parent);
  const ReadBack back = read_back(storage_, meta, {});

  auto whole = [&](const std::string& path) {
    EXPECT_EQ(back.files.count("base.tar:" + path), 1u) << path << " not stored whole";
    if (back.files.count("base.tar:" + path)) {
      EXPECT_EQ(back.files.at("base.tar:" + path), slurp(cluster_.data / path)) << path;
    }
    const std::size_t slash = path.rfind('/');
    EXPECT_EQ(back.files.count("base.tar:" + path.substr(0, slash + 1) + "INCREMENTAL." +
                               path.substr(slash + 1)),
              0u)
        << path;
  };
  whole("base/5/16395");     // shrank
  whole("base/5/16396");     // identity changed
  whole("base/5/16397");     // no parent copy
  whole("base/5/16385_vm");  // map forks change without their LSN moving
  whole("base/5/16385_fsm");
  whole("PG_VERSION");  // not relation files
  whole("pg_xact/0000");
  whole("postgresql.conf");
  EXPECT_EQ(back.files.count("base.tar:base/5/16390"), 0u);
  EXPECT_EQ(back.files.count("base.tar:base/5/INCREMENTAL.16390"), 0u);
  // Excluded as BASE_BACKUP excludes them.
  for (const char* excluded : {"postmaster.pid", "global/pg_internal.init",
                               "base/pgsql_tmp/pgsql_tmp4711.0", "pg_wal/000000010000000000000005"})
    EXPECT_EQ(back.files.count(std::string("base.tar:") + excluded), 0u) << excluded;

  const BackupManifest manifest = BackupManifest::parse(back.manifest_text);
  EXPECT_EQ(manifest.find("base/5/16390"), nullptr) << "removed since the parent";
  for (const char* excluded : {"postmaster.pid", "global/pg_internal.init"})
    EXPECT_EQ(manifest.find(excluded), nullptr) << excluded;
  // The identity of the re-created file is the new one.
  const auto identities = parse_file_identity(back.identity_text, "file_identity");
  const auto recreated = stat_file_identity(cluster_.data / "base/5/16396");
  bool found = false;
  for (const auto& r : identities) {
    if (r.path != "base/5/16396") continue;
    found = true;
    EXPECT_EQ(r.identity, recreated->identity);
  }
  EXPECT_TRUE(found);
}

TEST_F(IncrementalBackupTest, ArchiveOrderManifestAndBackupJson) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::vector<std::string> phases;
  IncrementalCallbacks cb;
  cb.progress = [&](const BackupProgress& p) {
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
  };
  const BackupMeta meta = take(incremental_request(kChild), parent, {}, cb);
  EXPECT_EQ(phases, (std::vector<std::string>{"checkpoint", "reading", "finishing"}));

  // backup.json: format 3, kind incremental, its parent, written last.
  ASSERT_FALSE(storage_.commits.empty());
  EXPECT_EQ(storage_.commits.back(), "backup.json");
  const BackupMeta stored = repo_.read_meta(kSys, kChild);
  EXPECT_EQ(stored.format_version, 3);
  EXPECT_EQ(stored.kind, "incremental");
  EXPECT_EQ(stored.parent, "full");
  EXPECT_EQ(stored.start_lsn, "0/6000028");
  EXPECT_EQ(stored.stop_lsn, "0/6000100");
  EXPECT_EQ(stored.timeline, 1u);
  EXPECT_EQ(stored.wal_segment_size, 16u << 20);
  EXPECT_EQ(stored.compressed_by, "none");
  ASSERT_EQ(stored.tablespaces.size(), 1u);
  EXPECT_EQ(stored.tablespaces[0].oid, "16400");
  EXPECT_EQ(stored.tablespaces[0].location, cluster_.space.string());
  std::vector<std::string> names;
  for (const auto& o : stored.objects) names.push_back(o.name);
  EXPECT_EQ(names, (std::vector<std::string>{"16400.tar", "base.tar", "backup_manifest",
                                             "file_identity", "changed_blocks"}));
  const std::string json = storage_.read_all(Repository::object_path(kSys, kChild, "backup.json"));
  EXPECT_NE(json.find("\"format_version\": 3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"parent\": \"full\""), std::string::npos) << json;

  // base.tar: pg_control after every data file, then backup_label,
  // tablespace_map and the WAL.
  const ReadBack back = read_back(storage_, meta, {});
  const auto& order = back.base_files;
  ASSERT_GE(order.size(), 5u);
  const auto at = [&](const std::string& p) {
    return std::find(order.begin(), order.end(), p) - order.begin();
  };
  const auto control = at("global/pg_control");
  ASSERT_LT(control, static_cast<std::ptrdiff_t>(order.size()));
  EXPECT_EQ(order[control + 1], "backup_label");
  EXPECT_EQ(order[control + 2], "tablespace_map");
  EXPECT_EQ(order[control + 3], "pg_wal/000000010000000000000006");
  EXPECT_EQ(order[control + 4], "pg_wal/archive_status/000000010000000000000006.done");
  EXPECT_EQ(static_cast<std::size_t>(control + 5), order.size());
  EXPECT_EQ(back.files.at("base.tar:pg_wal/000000010000000000000006"), slurp(cluster_.wal));
  EXPECT_EQ(back.files.at("base.tar:backup_label").rfind("START WAL LOCATION", 0), 0u);
  ASSERT_EQ(back.files.count("16400.tar:PG_15_202209061/5/INCREMENTAL.16401"), 1u);

  // The manifest describes the directory as restored.
  const BackupManifest manifest = BackupManifest::parse(back.manifest_text);
  const ManifestFile* rel = manifest.find("base/5/16385");
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->size, 4 * kPageSize);
  EXPECT_EQ(rel->checksum_algorithm, "NONE");
  const ManifestFile* ts = manifest.find("pg_tblspc/16400/PG_15_202209061/5/16401");
  ASSERT_NE(ts, nullptr);
  EXPECT_EQ(ts->size, 2 * kPageSize);
  const ManifestFile* version = manifest.find("PG_VERSION");
  ASSERT_NE(version, nullptr);
  // Whole files carry CRC-32C, as full backups' manifests do.
  EXPECT_EQ(version->checksum_algorithm, "CRC32C");
  EXPECT_EQ(version->checksum, crc32c_manifest_hex("15\n"));
  ASSERT_NE(manifest.find("backup_label"), nullptr);
  ASSERT_NE(manifest.find("global/pg_control"), nullptr);
  EXPECT_EQ(manifest.find("pg_wal/000000010000000000000006"), nullptr);
  for (const auto& f : manifest.files())
    EXPECT_EQ(f.path.find("INCREMENTAL."), std::string::npos) << f.path;
  EXPECT_EQ(stored.source_bytes, manifest.total_size());
  // Every file the data directory holds (as restored) is listed.
  ManifestChecker checker(manifest);
  for (const auto& [key, content] : back.files) {
    const std::string archive = key.substr(0, key.find(':'));
    std::string path = key.substr(key.find(':') + 1);
    if (path.find("INCREMENTAL.") != std::string::npos) continue;
    if (archive == "16400.tar") path = "pg_tblspc/16400/" + path;
    checker.check_file(archive, path, content.size(), FileSums{"", crc32c_manifest_hex(content)});
  }
  EXPECT_EQ(checker.files_checked() + 6 /* incremental files */, manifest.files().size());

  // file_identity: every relation file, sorted.
  const auto identities = parse_file_identity(back.identity_text, "file_identity");
  std::vector<std::string> paths;
  for (const auto& r : identities) paths.push_back(r.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"base/5/16385", "base/5/16385_fsm", "base/5/16385_vm",
                                      "base/5/16390", "base/5/16395", "base/5/16396", "global/1262",
                                      "pg_tblspc/16400/PG_15_202209061/5/16401"}));

  // changed_blocks: exactly the INCREMENTAL. entries, each with its header's
  // size and block numbers.
  std::vector<ChangedBlocksRecord> expected;
  for (const auto& [key, content] : back.files) {
    const std::string archive = key.substr(0, key.find(':'));
    std::string path = key.substr(key.find(':') + 1);
    const std::size_t at = path.find("INCREMENTAL.");
    if (at == std::string::npos) continue;
    path.erase(at, std::string("INCREMENTAL.").size());
    if (archive == "16400.tar") path = "pg_tblspc/16400/" + path;
    const Incremental inc = parse_incremental(content);
    expected.push_back({path, inc.header.file_blocks, inc.blocks});
  }
  std::sort(expected.begin(), expected.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  EXPECT_EQ(expected.size(), 6u);
  EXPECT_EQ(parse_changed_blocks(back.changed_blocks_text, "changed_blocks"), expected);
}

TEST_F(IncrementalBackupTest, CorruptPageFailsNamingFileAndBlockAndLeavesNoObjects) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::string now = slurp(cluster_.data / "base/5/16385");
  now[2 * kPageSize + 5000] ^= 0x01;  // block 2, its checksum no longer matches
  put_file(cluster_.data / "base/5/16385", now);
  BackupRequest req = incremental_request(kChild);
  req.data_checksums = true;
  expect_error([&] { take(req, parent); }, ErrorKind::corrupt,
               "checksum verification failed in file \"base/5/16385\", block 2");
  EXPECT_TRUE(objects_of(kChild).empty());
  EXPECT_FALSE(repo_.backup_exists(kSys, kChild));
  EXPECT_EQ(source_.stops, 0);
  // Without checksums the damage cannot be seen: the backup is taken.
  req.data_checksums = false;
  take(req, parent);
  EXPECT_TRUE(repo_.backup_exists(kSys, kChild));
}

TEST_F(IncrementalBackupTest, CorruptPageInAWholeFileFailsToo) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::string vm = slurp(cluster_.data / "base/5/16385_vm");
  vm[100] ^= 0x10;
  put_file(cluster_.data / "base/5/16385_vm", vm);
  BackupRequest req = incremental_request(kChild);
  req.data_checksums = true;
  expect_error([&] { take(req, parent); }, ErrorKind::corrupt, "file \"base/5/16385_vm\", block 0");
  EXPECT_TRUE(objects_of(kChild).empty());
}

TEST_F(IncrementalBackupTest, EncryptedCompressedRoundTripWithAParentOfAnotherKeyDerivation) {
  const EncryptionKey parent_key = derive_key_from_passphrase("secret", new_salt(), {10, 8, 1});
  const BackupMeta parent = put_parent(repo_, cluster_, "full", &parent_key);
  const EncryptionKey key = derive_key_from_passphrase("secret", new_salt(), {10, 8, 1});
  put_file(cluster_.data / "base/5/16385",
           slurp(cluster_.data / "base/5/16385") + page(kNew, 4, 'N'));
  BackupRequest req = incremental_request(kChild);
  req.encryption_key = &key;
  req.compression = {Compression::zstd, 0, 0};
  EncryptionSettings settings;
  settings.passphrase = "secret";
  // Without the parent's key the parent cannot be read: refused, nothing left.
  expect_error(
      [&] {
        take(req, parent, [&](const std::string&, Sink& next) {
          return make_decryptor(EncryptionKey::generate(), next);
        });
      },
      ErrorKind::invalid_argument, "");
  EXPECT_TRUE(objects_of(kChild).empty());

  const BackupMeta meta = take(req, parent, decryptor_for(parent, settings));
  EXPECT_EQ(meta.encryption, "aes-256-gcm");
  EXPECT_EQ(meta.compression, "zstd");
  EXPECT_EQ(meta.compressed_by, "client");
  ASSERT_NE(meta.find_object("base.tar.zst"), nullptr);
  ASSERT_NE(meta.find_object("16400.tar.zst"), nullptr);
  // Stored bytes are neither plain tar nor plain text.
  const std::string stored =
      storage_.read_all(Repository::object_path(kSys, kChild, "backup_manifest"));
  EXPECT_EQ(stored.find("PostgreSQL-Backup-Manifest-Version"), std::string::npos);
  const ReadBack back = read_back(storage_, meta, decryptor_for(meta, settings));
  const Incremental inc = parse_incremental(back.files.at("base.tar:base/5/INCREMENTAL.16385"));
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{4}));
  EXPECT_EQ(inc.pages.at(4), page(kNew, 4, 'N'));
  EXPECT_NO_THROW(BackupManifest::parse(back.manifest_text));
  EXPECT_FALSE(back.identity_text.empty());
}

TEST_F(IncrementalBackupTest, AParentWithoutFileIdentityComparesSizesOnlyAndSaysSo) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full", nullptr, false);
  recreate(cluster_.data / "base/5/16396");
  std::vector<std::string> log;
  const IncrementalCallbacks cb = logging_to(log);
  const BackupMeta meta = take(incremental_request(kChild), parent, {}, cb);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("has no file_identity"), std::string::npos) << log[0];
  const ReadBack back = read_back(storage_, meta, {});
  // The identity rule cannot apply: the re-created file is judged by its pages.
  EXPECT_EQ(back.files.count("base.tar:base/5/INCREMENTAL.16396"), 1u);
}

TEST_F(IncrementalBackupTest, FilesVanishingOrShrinkingDuringTheBackup) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  put_file(cluster_.data / "base/5/16385",
           slurp(cluster_.data / "base/5/16385") + page(kNew, 4, 'X') + page(kNew, 5, 'Y'));
  // Between the listing and the reading of each file.
  IncrementalCallbacks cb;
  bool done = false;
  cb.check_interrupts = [&] {
    if (done) return;
    done = true;
    fs::remove(cluster_.data / "base/5/16396");
    fs::remove(cluster_.data / "pg_xact/0000");
    put_file(cluster_.data / "base/5/16385",
             slurp(cluster_.data / "base/5/16385").substr(0, 5 * kPageSize));
  };
  const BackupMeta meta = take(incremental_request(kChild), parent, {}, cb);
  const ReadBack back = read_back(storage_, meta, {});
  const BackupManifest manifest = BackupManifest::parse(back.manifest_text);
  EXPECT_EQ(manifest.find("base/5/16396"), nullptr);
  EXPECT_EQ(manifest.find("pg_xact/0000"), nullptr);
  ASSERT_NE(manifest.find("base/5/16385"), nullptr);
  EXPECT_EQ(manifest.find("base/5/16385")->size, 5 * kPageSize);
  const Incremental inc = parse_incremental(back.files.at("base.tar:base/5/INCREMENTAL.16385"));
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{4}));
}

TEST_F(IncrementalBackupTest, ParallelReadersWriteTheSameArchive) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  for (int i = 0; i < 20; ++i) {
    const std::string name = "base/5/" + std::to_string(17000 + i);
    put_file(cluster_.data / name, pages(kOld, 3, 'p'));
  }
  const BackupMeta parent2 = put_parent(repo_, cluster_, "full2");
  for (int i = 0; i < 20; i += 3) {
    const std::string name = "base/5/" + std::to_string(17000 + i);
    put_file(cluster_.data / name, pages(kOld, 3, 'p') + page(kNew, 3, 'q'));
  }
  BackupRequest serial = incremental_request(kChild);
  const ReadBack one = read_back(storage_, take(serial, parent2), {});
  BackupRequest parallel = incremental_request(kChild + "-p");
  parallel.read_workers = 4;
  const ReadBack four = read_back(storage_, take(parallel, parent2), {});
  EXPECT_EQ(one.base_files, four.base_files);
  auto without_label = [](std::map<std::string, std::string> files) {
    files.erase("base.tar:backup_label");  // same content, but be independent of it
    return files;
  };
  EXPECT_EQ(without_label(one.files), without_label(four.files));
  const Incremental inc = parse_incremental(four.files.at("base.tar:base/5/INCREMENTAL.17003"));
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{3}));
  (void)parent;
}

// A relation file of at least 8192 blocks (64 MB) is scanned in ranges on
// several threads: the same pages as one thread selects, in block order, and
// corruption in any range named by its block.
TEST_F(IncrementalBackupTest, ALargeFileIsScannedInRangesOnSeveralThreads) {
  constexpr std::uint32_t kBlocks = 9000;
  const std::string large = "base/5/18000";
  put_file(cluster_.data / large, pages(kOld, kBlocks, 'p'));
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::string now = slurp(cluster_.data / large);
  for (std::uint32_t block : {5u, 4499u, 4500u, 6001u, 8999u})
    now.replace(std::size_t{block} * kPageSize, kPageSize, page(kNew, block, 'n'));
  now += page(kOld, kBlocks, 'e');  // extended: beyond the parent's size
  put_file(cluster_.data / large, now);

  BackupRequest serial = incremental_request(kChild);
  serial.data_checksums = true;
  const ReadBack one = read_back(storage_, take(serial, parent), {});
  BackupRequest parallel = incremental_request(kChild + "-p");
  parallel.data_checksums = true;
  parallel.read_workers = 3;
  const ReadBack three = read_back(storage_, take(parallel, parent), {});
  const std::string entry = "base.tar:base/5/INCREMENTAL.18000";
  ASSERT_EQ(three.files.count(entry), 1u);
  EXPECT_EQ(one.files.at(entry), three.files.at(entry));
  const Incremental inc = parse_incremental(three.files.at(entry));
  EXPECT_EQ(inc.header.file_blocks, kBlocks + 1);
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{5, 4499, 4500, 6001, 8999, kBlocks}));

  // A damaged page in the last range.
  now[std::size_t{7000} * kPageSize + 5000] ^= 0x01;
  put_file(cluster_.data / large, now);
  BackupRequest damaged = incremental_request(kChild + "-d");
  damaged.data_checksums = true;
  damaged.read_workers = 3;
  expect_error([&] { take(damaged, parent); }, ErrorKind::corrupt,
               "checksum verification failed in file \"base/5/18000\", block 7000");
  EXPECT_TRUE(objects_of(kChild + "-d").empty());
}

TEST_F(IncrementalBackupTest, RefusesAParentOfAnotherTimelineOrSystemOrKind) {
  BackupMeta parent = put_parent(repo_, cluster_, "full");
  source_.timeline = 2;
  expect_error([&] { take(incremental_request(kChild), parent); }, ErrorKind::conflict,
               "timeline 2");
  EXPECT_TRUE(objects_of(kChild).empty());
  source_.timeline = 1;
  BackupMeta other = parent;
  other.system_identifier = "1";
  expect_error([&] { take(incremental_request(kChild), other); }, ErrorKind::invalid_argument,
               "system 1");
  other = parent;
  other.kind = "logical";
  expect_error([&] { take(incremental_request(kChild), other); }, ErrorKind::invalid_argument,
               "logical backup");
  BackupRequest full = incremental_request(kChild);
  full.kind = BackupKind::physical;
  expect_error([&] { take(full, parent); }, ErrorKind::invalid_argument, "incremental request");
  EXPECT_EQ(source_.starts, 1);
}

// pgvault.max_rate: at 32 kB/s the ~200 kB of this data directory take
// seconds, paused in slices that check for interrupts; a cancel during a
// pause stops the backup and leaves nothing.
TEST_F(IncrementalBackupTest, MaxRatePausesReadingAndACancelDuringAPauseStopsIt) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  BackupRequest req = incremental_request(kChild);
  // Unpaced, the backup checks for interrupts about once per entry.
  int unpaced = 0;
  IncrementalCallbacks count;
  count.check_interrupts = [&] { ++unpaced; };
  take(req, parent, {}, count);
  ASSERT_LT(unpaced, 100);

  req.origin.name = kChild + "-paced";
  req.max_rate_kb = 32;
  int calls = 0;
  IncrementalCallbacks cancel;
  cancel.check_interrupts = [&] {
    if (++calls == unpaced + 10) throw Error(ErrorKind::cancelled, "canceling statement");
  };
  expect_error([&] { take(req, parent, {}, cancel); }, ErrorKind::cancelled, "canceling");
  EXPECT_TRUE(objects_of(req.origin.name).empty());
}

namespace {

// A summary naming blocks of relation forks (tablespace, database, relation, fork).
WalSummary summary_naming(
    const std::vector<std::pair<RelationForkId, std::vector<std::uint32_t>>>& named) {
  WalSummary s;
  for (const auto& [fork, blocks] : named) {
    WalRecord r;
    std::uint8_t id = 0;
    for (std::uint32_t b : blocks)
      r.blocks.push_back({id++, fork.node, fork.fork, b, false, false});
    s.add(r);
  }
  s.finish();
  return s;
}

const RelationForkId k16385{{1663, 5, 16385}, 0};

// base/5/16385 with the given blocks changed after the parent's start;
// returns its new content.
std::string change_16385(const Cluster& c, std::initializer_list<std::uint32_t> blocks) {
  std::string now = slurp(c.data / "base/5/16385");
  for (std::uint32_t b : blocks)
    now.replace(std::size_t{b} * kPageSize, kPageSize, page(kNew, b, static_cast<char>('A' + b)));
  put_file(c.data / "base/5/16385", now);
  return now;
}

}  // namespace

// With WAL changes, only the blocks they name (and the blocks beyond the
// parent's size) are read: a changed page they do not name is not stored,
// which is what proves the others were never read.
TEST_F(IncrementalBackupTest, WalChangesNameTheBlocksReadInEveryTablespace) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  const std::string now = change_16385(cluster_, {1, 3});              // 3 is not named
  put_file(cluster_.data / "base/5/16385", now + page(kOld, 4, 'E'));  // beyond the parent's size
  put_file(cluster_.data / "global/1262", page(kNew, 0, 'G'));
  put_file(cluster_.space / "PG_15_202209061/5/16401", page(kOld, 0, 's') + page(kNew, 1, 'S'));
  source_.changes = {
      summary_naming(
          {{k16385, {1, 2}}, {{{1664, 0, 1262}, 0}, {0}}, {{{16400, 5, 16401}, 0}, {1}}}),
      {{1, kParentStart, kStart}},
      ""};
  BackupRequest req = incremental_request(kChild);
  req.changes = IncrementalChanges::wal_summary;
  std::vector<std::string> log;
  const IncrementalCallbacks cb = logging_to(log);
  const BackupMeta taken = take(req, parent, {}, cb);
  const ReadBack back = read_back(storage_, taken, {});
  ASSERT_EQ(source_.asked_for_changes.size(), 1u);
  EXPECT_EQ(source_.asked_for_changes[0], std::make_pair(kParentStart, kStart));
  // How the pages were found, in backup.json (and from there vault.history).
  EXPECT_EQ(repo_.read_meta(kSys, kChild).changed_pages,
            "the blocks 1 WAL summaries (0/5000000..0/6000028) name: 4 block references in 3 "
            "relation forks");
  EXPECT_EQ(taken.changed_pages, repo_.read_meta(kSys, kChild).changed_pages);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("1 WAL summaries (0/5000000..0/6000028)"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("4 block references in 3 relation forks"), std::string::npos) << log[0];

  const Incremental inc = parse_incremental(back.files.at("base.tar:base/5/INCREMENTAL.16385"));
  EXPECT_EQ(inc.blocks, (std::vector<std::uint32_t>{1, 4}));  // 2 is old, 3 not named
  EXPECT_EQ(parse_incremental(back.files.at("base.tar:global/INCREMENTAL.1262")).blocks,
            (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(
      parse_incremental(back.files.at("16400.tar:PG_15_202209061/5/INCREMENTAL.16401")).blocks,
      (std::vector<std::uint32_t>{1}));
  // A fork named whole (created since the parent) and a truncation: every
  // block from the cut on is read.
  WalRecord truncate;  // XLOG_SMGR_TRUNCATE of 1663/5/16385 to 2 blocks
  truncate.rmid = 2;
  truncate.info = 0x20;
  truncate.main_data.resize(20);
  for (std::uint32_t i = 0, v[] = {2, 1663, 5, 16385, 0x1}; i < 5; ++i)
    store_le(truncate.main_data.data() + 4 * i, v[i]);
  WalSummary cut;
  cut.add(truncate);
  cut.finish();
  source_.changes = {std::move(cut), {{1, kParentStart, kStart}}, ""};
  req.origin.name = kChild + "-cut";
  const ReadBack after_cut = read_back(storage_, take(req, parent), {});
  EXPECT_EQ(parse_incremental(after_cut.files.at("base.tar:base/5/INCREMENTAL.16385")).blocks,
            (std::vector<std::uint32_t>{3, 4}));
}

// With WAL summaries and several readers, only the files the summaries name
// are planned on the pool; the others are planned where they are written.
// Either way the archive is the one a single reader writes, and a file the
// summaries do not name still gets the blocks beyond the parent's size.
TEST_F(IncrementalBackupTest, WalChangesWithSeveralReadersGiveTheSameArchive) {
  // Files in the data directory and in the tablespace (whose archive is
  // written first).
  auto path_of = [&](int i) {
    return i < 30 ? cluster_.data / ("base/5/" + std::to_string(17000 + i))
                  : cluster_.space / ("PG_15_202209061/5/" + std::to_string(17000 + i));
  };
  for (int i = 0; i < 40; ++i) put_file(path_of(i), pages(kOld, 3, 'p'));
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::vector<std::pair<RelationForkId, std::vector<std::uint32_t>>> named;
  for (int i = 0; i < 40; ++i) {
    std::string now = pages(kOld, 3, 'p');
    if (i % 4 == 0) {  // named: block 1 changed
      now.replace(kPageSize, kPageSize, page(kNew, 1, 'n'));
      const std::uint32_t space = i < 30 ? 1663 : 16400;
      named.push_back({{{space, 5, static_cast<std::uint32_t>(17000 + i)}, 0}, {1}});
    }
    if (i % 5 == 0) now += page(kNew, 3, 'e');  // extended; named only when i % 4 == 0 too
    put_file(path_of(i), now);
  }
  auto taken_with = [&](const std::string& name, int readers) {
    source_.changes = {summary_naming(named), {{1, kParentStart, kStart}}, ""};
    BackupRequest req = incremental_request(name);
    req.changes = IncrementalChanges::wal_summary;
    req.read_workers = readers;
    return read_back(storage_, take(req, parent), {});
  };
  ReadBack one = taken_with(kChild, 1);
  ReadBack three = taken_with(kChild + "-p", 3);
  one.files.erase("base.tar:backup_label");
  three.files.erase("base.tar:backup_label");
  EXPECT_EQ(one.base_files, three.base_files);
  EXPECT_EQ(one.files, three.files);
  auto blocks_of = [&](int i) {
    return parse_incremental(
               three.files.at("base.tar:base/5/INCREMENTAL." + std::to_string(17000 + i)))
        .blocks;
  };
  EXPECT_EQ(blocks_of(0), (std::vector<std::uint32_t>{1, 3}));  // named and extended
  EXPECT_EQ(blocks_of(4), (std::vector<std::uint32_t>{1}));     // named
  EXPECT_EQ(blocks_of(5), (std::vector<std::uint32_t>{3}));     // extended, not named
  EXPECT_EQ(blocks_of(7), (std::vector<std::uint32_t>{}));      // neither
  const auto in_space = [&](int i) {
    return parse_incremental(three.files.at("16400.tar:PG_15_202209061/5/INCREMENTAL." +
                                            std::to_string(17000 + i)))
        .blocks;
  };
  EXPECT_EQ(in_space(32), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(in_space(35), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(in_space(36), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(in_space(40 - 1), (std::vector<std::uint32_t>{}));
}

TEST_F(IncrementalBackupTest, CheckModeFailsWhenTheSummariesMissAChangedPage) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  std::string now = change_16385(cluster_, {1, 3});
  BackupRequest req = incremental_request(kChild);
  req.changes = IncrementalChanges::check;
  source_.changes = {summary_naming({{k16385, {1}}}), {{1, kParentStart, kStart}}, ""};
  expect_error([&] { take(req, parent); }, ErrorKind::internal,
               "WAL summary check failed: block 3 of \"base/5/16385\" has page LSN 0/6000000");
  EXPECT_TRUE(objects_of(kChild).empty());
  // A page changed after this backup's start is WAL replay's, not the summaries'.
  now.replace(3 * kPageSize, kPageSize, page(Lsn{kStart.value + 8}, 3, 'C'));
  put_file(cluster_.data / "base/5/16385", now);
  req.origin.name = kChild + "-later";
  const ReadBack later = read_back(storage_, take(req, parent), {});
  EXPECT_EQ(repo_.read_meta(kSys, kChild + "-later").changed_pages,
            "the blocks 1 WAL summaries (0/5000000..0/6000028) name: 1 block references in 1 "
            "relation forks; every page read to check them (check)");
  // Check mode stores what the scan found.
  EXPECT_EQ(parse_incremental(later.files.at("base.tar:base/5/INCREMENTAL.16385")).blocks,
            (std::vector<std::uint32_t>{1, 3}));
}

TEST_F(IncrementalBackupTest, WithoutWalChangesEveryPageIsReadAndTheLogSaysWhy) {
  const BackupMeta parent = put_parent(repo_, cluster_, "full");
  change_16385(cluster_, {3});
  BackupRequest req = incremental_request(kChild);
  req.changes = IncrementalChanges::wal_summary;
  std::vector<std::string> log;
  const IncrementalCallbacks cb = logging_to(log);
  const ReadBack back = read_back(storage_, take(req, parent, {}, cb), {});
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0],
            "every page is read to find the changed ones: the test source keeps no WAL summaries");
  EXPECT_EQ(parse_incremental(back.files.at("base.tar:base/5/INCREMENTAL.16385")).blocks,
            (std::vector<std::uint32_t>{3}));
  // page_scan does not ask.
  source_.asked_for_changes.clear();
  req.changes = IncrementalChanges::page_scan;
  req.origin.name = kChild + "-scan";
  take(req, parent);
  EXPECT_TRUE(source_.asked_for_changes.empty());
  EXPECT_EQ(repo_.read_meta(kSys, kChild).changed_pages,
            "every page, by its LSN: the test source keeps no WAL summaries");
  EXPECT_EQ(repo_.read_meta(kSys, kChild + "-scan").changed_pages,
            "every page, by its LSN (pgvault.incremental_changes = page_scan)");
}
