#include "history.hpp"

#include "error_boundary.hpp"
#include "spi.hpp"

namespace pgvault::pg::history {

void insert_running(const NewRow& r) {
  in_own_transaction([&] {
    spi_query(
        "INSERT INTO vault.backups (id, name, kind, trigger, status, label, database, "
        "initiated_by, compression, location, worker_pid, started_at) "
        "VALUES ($1::bigint, $2, $3, $4, 'running', $5, current_database(), $6, $7, $8, "
        "$9::int, now())",
        {std::to_string(r.id), r.name, r.kind, r.trigger,
         r.label.empty() ? SqlValue() : SqlValue(r.label), r.initiated_by, r.compression,
         r.location, std::to_string(r.worker_pid)});
  });
}

void mark_completed(long long id, const BackupMeta& m) {
  in_own_transaction([&] {
    spi_query(
        "UPDATE vault.backups SET status = 'completed', completed_at = now(), "
        "source_bytes = $2::bigint, stored_bytes = $3::bigint, sha256 = $4, "
        "start_lsn = $5::pg_lsn, stop_lsn = $6::pg_lsn, timeline = $7::int, "
        "system_identifier = $8, pg_version = $9::int, error_message = NULL "
        "WHERE id = $1::bigint",
        {std::to_string(id), std::to_string(m.source_bytes), std::to_string(m.stored_bytes),
         m.digest(), m.start_lsn, m.stop_lsn, std::to_string(m.timeline), m.system_identifier,
         std::to_string(m.pg_version)});
  });
}

void mark_failed(long long id, const std::string& error_message) {
  in_own_transaction([&] {
    spi_query(
        "UPDATE vault.backups SET status = 'failed', completed_at = now(), error_message = $2 "
        "WHERE id = $1::bigint AND status IN ('queued', 'running')",
        {std::to_string(id), error_message});
  });
}

std::vector<Interrupted> fail_interrupted(const std::string& reason, long long except_id) {
  std::vector<Interrupted> out;
  for (const auto& row : spi_query(
           "UPDATE vault.backups SET status = 'failed', completed_at = now(), error_message = $1 "
           "WHERE status IN ('queued', 'running') AND id <> $2::bigint RETURNING name",
           {reason, std::to_string(except_id)})) {
    out.push_back({row[0].value_or("")});
  }
  return out;
}

}  // namespace pgvault::pg::history
