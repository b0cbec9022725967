// vault._archiving_state() (behind vault.archiving) and the NOTIFY pgvault
// events of archiving, both read from ArchiveState (shared_state.hpp), which
// the archiver writes (wal_archive.cpp).
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include <sys/stat.h>

#include "archive_status.hpp"
#include "error_boundary.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

#include "postgres_headers.hpp"

extern "C" {
#include "access/xlog_internal.h"
}

using namespace pgvault;
using namespace pgvault::pg;

namespace {

std::string timestamp_text(TimestampTz t) {
  return pg_guard([&] { return timestamptz_to_str(t); });
}

}  // namespace

namespace pgvault::pg {

WaitingWal waiting_wal() {
  WaitingWal w;
  std::error_code ec;
  std::filesystem::directory_iterator it(XLOGDIR "/archive_status", ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.ends_with(".ready")) continue;
    ++w.files;
    if (name.size() == 24 + 6 && name.find_first_not_of("0123456789ABCDEF") == 24) ++w.segments;
    struct stat st;
    if (stat(it->path().c_str(), &st) == 0 && (!w.oldest_unix || st.st_mtime < *w.oldest_unix))
      w.oldest_unix = st.st_mtime;
  }
  return w;
}

}  // namespace pgvault::pg

// vault._archiving_state(OUT archiver_pid, OUT repository, OUT failing,
//   OUT failures, OUT last_error, OUT last_error_at, OUT waiting,
//   OUT bytes_behind)
PGVAULT_FUNCTION(pgvault_archiving_state) {
  SharedState* state = shared();
  lock_shared();
  const ArchiveState a = state->archive;
  unlock_shared();
  const WaitingWal waiting = waiting_wal();
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "return type must be a row type");
    Datum values[8];
    bool nulls[8] = {a.archiver_pid == 0,     a.repository[0] == '\0', false, false,
                     a.last_error[0] == '\0', a.last_error_at == 0,    false, false};
    values[0] = Int32GetDatum(a.archiver_pid);
    values[1] = CStringGetTextDatum(a.repository);
    values[2] = BoolGetDatum(a.failing);
    values[3] = Int64GetDatum(static_cast<int64>(a.failures));
    values[4] = CStringGetTextDatum(a.last_error);
    values[5] = TimestampTzGetDatum(a.last_error_at);
    values[6] = Int64GetDatum(waiting.files);
    values[7] = Int64GetDatum(waiting.segments * static_cast<int64>(wal_segment_size));
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
  });
}

namespace pgvault::pg {

void send_archive_events() {
  SharedState* state = shared();
  lock_shared();
  const ArchiveState a = state->archive;
  unlock_shared();
  const bool failed = a.failure_events != a.notified_failure_events;
  const bool recovered = a.recovery_events != a.notified_recovery_events;
  if (!failed && !recovered) return;
  auto send_failed = [&] {
    spi_query(
        "SELECT pg_catalog.pg_notify('pgvault', pg_catalog.json_build_object("
        "'event', 'archive_failed', 'file', $1, 'error', pg_catalog.left($2, 2000), "
        "'failed_at', $3::pg_catalog.timestamptz, 'failures', $4::pg_catalog.int8, "
        "'repository', $5)::pg_catalog.text)",
        {a.last_failed_file[0] ? SqlValue(a.last_failed_file) : std::nullopt,
         std::string(a.last_error), timestamp_text(a.last_error_at), std::to_string(a.failures),
         std::string(a.repository)});
  };
  auto send_recovered = [&] {
    spi_query(
        "SELECT pg_catalog.pg_notify('pgvault', pg_catalog.json_build_object("
        "'event', 'archive_recovered', 'last_archived', $1, "
        "'archived_at', $2::pg_catalog.timestamptz, 'failures', $3::pg_catalog.int8, "
        "'repository', $4)::pg_catalog.text)",
        {std::string(a.last_archived_file),
         a.last_archived_at ? SqlValue(timestamp_text(a.last_archived_at)) : std::nullopt,
         std::to_string(a.failures), std::string(a.repository)});
  };
  // Both since the last look: the current state's event goes last.
  in_own_transaction([&] {
    if (a.failing) {
      if (recovered) send_recovered();
      if (failed) send_failed();
    } else {
      if (failed) send_failed();
      if (recovered) send_recovered();
    }
  });
  lock_shared();
  state->archive.notified_failure_events = a.failure_events;
  state->archive.notified_recovery_events = a.recovery_events;
  unlock_shared();
}

}  // namespace pgvault::pg
