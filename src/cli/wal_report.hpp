// What `pgvault list` and `pgvault verify --wal` say about a system's
// archived WAL: the catalog read from the repository (history files decoded
// with the command's key options), as text and as JSON.
#pragma once

#include "repository_options.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/wal/wal_catalog.hpp"
#include "pgvault/wal/wal_verify.hpp"

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace pgvault::cli {

// Per timeline: the archived range, count, gaps, conflicts, history; then
// the recoverable windows of each timeline's path; then foreign keys.
void print_wal_text(std::ostream& out, const WalCatalog& catalog,
                    const std::vector<BackupMeta>& backups);

// {"wal_segment_size":..,"timelines":[..],"recoverable_windows":[..],
//  "foreign_objects":N}
nlohmann::ordered_json wal_json(const WalCatalog& catalog, const std::vector<BackupMeta>& backups);

// A window as JSON: timeline, backup, from_lsn, from_timeline, from_time,
// to_lsn, to_timeline, to_time (null when unknown).
nlohmann::ordered_json window_json(const RecoverableWindow& window);

// verify --wal's outcome: {"timelines":[..],"from_lsn","to_lsn","to_timeline",
// "first_segment","last_segment","objects","stored_bytes","decoded_bytes"}.
nlohmann::ordered_json wal_report_json(const WalVerifyReport& report);

}  // namespace pgvault::cli
