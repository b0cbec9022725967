// Hand-built listings of "<sysid>/wal/" for the WAL catalog and retention tests.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <map>
#include <string>
#include <vector>

namespace pgvault::wal_test {

inline const std::string kSysid = "7715683618666560570";

// A listing of <sysid>/wal/ and the content of the history files in it.
struct Listing {
  std::vector<ObjectInfo> objects;
  std::map<std::string, std::string> histories;  // key -> content
  std::int64_t clock = 1'800'000'000;

  // A segment object (content defaults to its name); its key.
  std::string segment(TimelineId tli, WalSegmentNo segno, const std::string& content = "",
                      std::uint64_t size = kDefaultWalSegmentSize) {
    const WalFileName name = WalFileName::segment(tli, segno, size);
    const std::string sha = sha256_hex(content.empty() ? name.name() : content);
    const std::string key = wal_object_key(kSysid, name, sha, Compression::zstd);
    objects.push_back({key, 1000, ++clock});
    return key;
  }
  void segments(TimelineId tli, WalSegmentNo first, WalSegmentNo last) {
    for (WalSegmentNo s = first; s <= last; ++s) segment(tli, s);
  }
  std::string history(TimelineId tli, const std::string& content) {
    const std::string key =
        wal_object_key(kSysid, WalFileName::history(tli), "", Compression::none);
    objects.push_back({key, content.size(), ++clock});
    histories[key] = content;
    return key;
  }
  WalCatalog catalog(std::uint64_t size = kDefaultWalSegmentSize) const {
    return build_wal_catalog(objects, kSysid, size, [this](const std::string& key) {
      auto it = histories.find(key);
      if (it == histories.end()) throw Error(ErrorKind::not_found, "no such object " + key);
      return it->second;
    });
  }
};

inline BackupMeta physical(const std::string& name, TimelineId tli, const std::string& start,
                           const std::string& stop, const std::string& completed) {
  BackupMeta m;
  m.name = name;
  m.kind = "physical";
  m.system_identifier = kSysid;
  m.timeline = tli;
  m.start_lsn = start;
  m.stop_lsn = stop;
  m.started_at = completed;
  m.completed_at = completed;
  return m;
}

}  // namespace pgvault::wal_test
