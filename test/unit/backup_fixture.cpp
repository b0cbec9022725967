#include "backup_fixture.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/pipeline/sha256.hpp"

namespace pgvault::test {

std::string zstd(const std::string& data) {
  StringSink out;
  auto c = make_compressor(Compression::zstd, 3, out);
  c->write(as_bytes(data));
  c->finish();
  return out.str();
}

std::string sample_relation() {
  std::string relation(300 * 1024, '\0');
  for (std::size_t i = 0; i < relation.size(); ++i) relation[i] = static_cast<char>(i % 251);
  return relation;
}

std::string tablespace_tar(const std::vector<BackupFile>& files) {
  TarWriter t;
  t.dir("PG_15_202209061/");
  t.dir("PG_15_202209061/5/");
  for (const auto& f : files) t.file(f.path, f.content);
  t.end();
  return t.str();
}

std::vector<ManifestEntry> manifest_entries(const std::vector<BackupFile>& base,
                                            const std::vector<BackupFile>& tablespace) {
  std::vector<ManifestEntry> out;
  for (const auto& f : base) out.push_back({f.path, f.content.size(), sha256_hex(f.content)});
  for (const auto& f : tablespace)
    out.push_back({"pg_tblspc/16385/" + f.path, f.content.size(), sha256_hex(f.content)});
  return out;
}

std::string manifest_for(const std::vector<BackupFile>& files) {
  return make_manifest(manifest_entries(files));
}

BackupMeta fixture_meta(const std::string& name, const std::string& kind) {
  BackupMeta m;
  m.name = name;
  m.kind = kind;
  m.trigger = "manual";
  m.system_identifier = kSysid;
  m.pg_version = 150004;
  m.timeline = 1;
  m.started_at = "2026-11-24T06:15:30.123Z";
  m.completed_at = "2026-11-24T06:15:40.456Z";
  m.compression = "zstd";
  return m;
}

void put_object(Storage& storage, BackupMeta& m, const std::string& object,
                const std::string& bytes) {
  storage.write_all(Repository::object_path(m.system_identifier, m.name, object), bytes);
  m.objects.push_back({object, bytes.size(), sha256_hex(bytes)});
  m.stored_bytes += bytes.size();
}

}  // namespace pgvault::test
