#include "incremental_source.hpp"

#include "pgvault/catalog/incremental_parent.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <exception>

#include "error_boundary.hpp"
#include "logging.hpp"
#include "spi.hpp"
#include "wal_summarizer.hpp"

namespace pgvault::pg {

namespace {

std::string only_value(const std::vector<SqlRow>& rows, const char* what) {
  if (rows.empty() || rows[0].empty() || !rows[0][0])
    throw Error(ErrorKind::internal, std::string("no ") + what + " returned");
  return *rows[0][0];
}

}  // namespace

BackupMeta incremental_parent_now(Repository& repo, const std::string& system_identifier,
                                  const std::string& repository_url) {
  const Lsn position{pg_guard([] { return static_cast<std::uint64_t>(GetXLogInsertRecPtr()); })};
  const TimelineId timeline =
      pg_guard([] { return static_cast<TimelineId>(GetWALInsertionTimeLine()); });
  return choose_incremental_parent(repo.list_all(system_identifier), system_identifier, timeline,
                                   position, repository_url);
}

JobIncrementalSource::JobIncrementalSource(std::string label,
                                           std::function<void()> check_interrupts)
    : label_(std::move(label)),
      check_interrupts_(std::move(check_interrupts)),
      slot_("pgvault_incremental_" + std::to_string(MyProcPid)) {}

JobIncrementalSource::~JobIncrementalSource() {
  if (backup_started_) {
    try {
      in_own_transaction(
          [] { spi_query("SELECT pg_catalog.pg_backup_stop(wait_for_archive => false)"); });
    } catch (const std::exception& e) {
      log_message(LOG, std::string("could not end the incremental backup's pg_backup_start: ") +
                           e.what() + "; it ends with this worker's session");
    }
  }
  drop_slot();
}

void JobIncrementalSource::drop_slot() {
  if (!slot_created_) return;
  slot_created_ = false;
  try {
    in_own_transaction(
        [&] { spi_query("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot_}); });
  } catch (const std::exception& e) {
    log_message(LOG, "could not drop the temporary replication slot \"" + slot_ +
                         "\": " + e.what() + "; it goes with this worker's session");
  }
}

IncrementalSource::StartPoint JobIncrementalSource::start() {
  // The slot first: it holds the WAL from now on, before the checkpoint
  // pg_backup_start takes, so no segment the backup needs is recycled.
  in_own_transaction([&] {
    spi_query(
        "SELECT pg_catalog.pg_create_physical_replication_slot($1, immediately_reserve => true, "
        "temporary => true)",
        {slot_});
  });
  slot_created_ = true;
  StartPoint point;
  in_own_transaction([&] {
    point.lsn = parse_lsn(
        only_value(spi_query("SELECT pg_catalog.pg_backup_start($1, fast => true)::text", {label_}),
                   "backup start position"));
  });
  backup_started_ = true;
  timeline_ = pg_guard([] { return static_cast<TimelineId>(GetWALInsertionTimeLine()); });
  point.timeline = timeline_;
  return point;
}

std::filesystem::path JobIncrementalSource::data_directory() {
  return DataDir;
}

IncrementalSource::StopPoint JobIncrementalSource::stop() {
  StopPoint point;
  in_own_transaction([&] {
    const auto rows = spi_query(
        "SELECT lsn::text, labelfile, spcmapfile "
        "FROM pg_catalog.pg_backup_stop(wait_for_archive => false)");
    if (rows.size() != 1 || rows[0].size() != 3 || !rows[0][0] || !rows[0][1])
      throw Error(ErrorKind::internal, "pg_backup_stop returned no stop position");
    point.lsn = parse_lsn(*rows[0][0]);
    point.backup_label = *rows[0][1];
    point.tablespace_map = rows[0][2].value_or("");
  });
  backup_started_ = false;
  return point;
}

std::vector<std::filesystem::path> JobIncrementalSource::wal_files(Lsn start, Lsn stop) {
  const std::uint64_t size = static_cast<std::uint64_t>(wal_segment_size);
  // The stop position is just after the backup's end record: the last byte
  // needed is the one before it.
  const WalSegmentNo first = wal_segment_of(start, size);
  const WalSegmentNo last = wal_segment_of(Lsn{stop.value > 0 ? stop.value - 1 : 0}, size);
  std::vector<std::filesystem::path> files;
  const std::filesystem::path pg_wal = std::filesystem::path(DataDir) / "pg_wal";
  for (WalSegmentNo segno = first; segno <= last; ++segno)
    files.push_back(pg_wal / WalFileName::segment(timeline_, segno, size).name());
  return files;
}

WalChanges JobIncrementalSource::wal_changes(Lsn from, Lsn to) {
  return wal_changes_since(timeline_, from, to, check_interrupts_);
}

}  // namespace pgvault::pg
