#include "pgvault/physical/physical_backup.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/physical/base_backup_receiver.hpp"
#include "pgvault/physical/data_directory.hpp"
#include "pgvault/physical/file_identity.hpp"
#include "pgvault/physical/read_pacer.hpp"
#include "pgvault/pipeline/compression.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/thread.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <atomic>
#include <optional>

namespace pgvault {
namespace {

// A string literal of the replication grammar: only '' needs escaping.
std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

const std::string& cell(const ReplicationConnection::Rows& rows, std::size_t col,
                        const char* what) {
  if (rows.empty() || rows[0].size() <= col) {
    throw Error(ErrorKind::storage, std::string("server sent no ") + what);
  }
  return rows[0][col];
}

}  // namespace

void refuse_second_writer(const std::vector<BackupMeta>& listed,
                          const std::string& system_identifier, std::uint32_t timeline,
                          const std::string& start_lsn) {
  const Lsn start = parse_lsn(start_lsn);
  for (const BackupMeta& other : listed) {
    if (!other.is_physical() || other.system_identifier != system_identifier ||
        other.timeline != timeline) {
      continue;
    }
    Lsn other_stop;
    try {
      other_stop = parse_lsn(other.stop_lsn);
    } catch (const Error&) {
      continue;
    }
    if (other_stop <= start) continue;
    throw Error(ErrorKind::conflict,
                "backup \"" + other.name + "\" of system " + system_identifier +
                    " in this repository ends at " + other.stop_lsn + " on timeline " +
                    std::to_string(timeline) + ", after this server's position " + start_lsn +
                    ": another server of the same system writes into this repository on the "
                    "same timeline (a copy restored without a recovery target?); refusing to "
                    "mix their backups. Give this server its own repository "
                    "(pgvault.repository), or restore it with a recovery target (pgvault "
                    "restore --target ...) so that it starts a timeline of its own");
  }
}

std::string base_backup_command(const BackupRequest& req, bool server_max_rate) {
  std::string label = "pgvault " + req.origin.name;
  if (!req.origin.label.empty()) label += " " + req.origin.label;
  // WAL true: the WAL needed to make the backup consistent is appended to
  // base.tar, so the backup restores without a WAL archive. WAIT false: no
  // need to wait for archiving, which could hang on a broken archiver.
  // MANIFEST_CHECKSUMS 'CRC32C' (PostgreSQL's default): the manifest's
  // checksums detect corruption of restored files, and the walsender computes
  // them over every byte on its one thread; SHA-256 there cost 40% more
  // server time. Tamper evidence is the SHA-256 of each stored object in
  // backup.json, computed as the object is written.
  std::string cmd = "BASE_BACKUP (LABEL " + quote_literal(label) +
                    ", CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'yes', "
                    "MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP true";
  // PROGRESS makes the walsender walk the whole data directory for its size
  // estimate before it sends the first byte (20 ms of a 1 GB full's 1.5 s,
  // more with every thousand files). The job worker walks the directory
  // anyway (the file identities, run_physical_backup), beside the stream;
  // the estimate comes from that walk. Without a directory to walk, the
  // server estimates. Progress messages come either way.
  if (req.data_directory.empty()) cmd += ", PROGRESS true";
  const Compression c = req.compression.algorithm;
  if (c != Compression::none) {
    cmd += ", COMPRESSION " + quote_literal(std::string(compression_name(c)));
    std::string detail =
        "level=" + std::to_string(effective_compression_level(c, req.compression.level));
    // zstd is the only algorithm the server can compress with in parallel.
    if (c == Compression::zstd && req.compression.workers > 0)
      detail += ",workers=" + std::to_string(req.compression.workers);
    cmd += ", COMPRESSION_DETAIL " + quote_literal(detail);
  }
  if (server_max_rate && req.max_rate_kb > 0)
    cmd += ", MAX_RATE " + std::to_string(req.max_rate_kb);
  return cmd + ")";
}

BackupMeta run_physical_backup(Repository& repo, const BackupRequest& req,
                               ReplicationConnection& server,
                               const std::function<void(const BackupProgress&)>& progress) {
  BackupMeta meta = begin_backup(repo, req);
  BaseBackupReceiver receiver(repo, req.origin.system_identifier, req.origin.name,
                              req.encryption_key);
  try {
    BackupProgress state;
    state.phase = "checkpoint";
    progress(state);
    // pgvault.max_rate caps the rate the data directory is read at: with
    // compression that is paced here (ReadPacer), without it by the server.
    std::optional<ReadPacer> pacer;
    if (req.max_rate_kb > 0 && req.compression.algorithm != Compression::none) {
      pacer.emplace(static_cast<std::uint64_t>(req.max_rate_kb) * 1024);
    }
    // Done while the server switches WAL and checkpoints (15-80 ms): after
    // its start position, they held up the first bytes of the stream.
    std::vector<BackupMeta> listed;
    BackgroundTask listing([&] {
      listed = repo.list_backups(req.origin.system_identifier);
      repo.storage().prepare_prefix(
          Repository::backup_dir(req.origin.system_identifier, req.origin.name));
    });
    server.send_command(base_backup_command(req, !pacer));
    auto start = server.next_rows("the backup start position");
    meta.start_lsn = cell(start, 0, "backup start position");
    meta.timeline = static_cast<std::uint32_t>(std::stoul(cell(start, 1, "start timeline")));
    listing.wait();
    refuse_second_writer(listed, req.origin.system_identifier, meta.timeline, meta.start_lsn);
    // The relation files' identities, statted while the stream runs, after
    // the backup's start (file_identity.hpp): done after the stream, the walk
    // added 10 ms to every full's end. A file the walk sees before the server
    // reads it, then re-created under its path, has another identity than the
    // one recorded: the next incremental stores it whole (the safe side). One
    // re-created after the server read it is the same as it was with the walk
    // after the stream, which every file's read preceded.
    // The same walk estimates the backup's size (base_backup_command).
    std::vector<FileIdentityRecord> identities;
    std::atomic<std::uint64_t> walked_bytes{0};
    std::optional<BackgroundTask> identity_walk;
    if (!req.data_directory.empty()) {
      identity_walk.emplace([&] {
        const DataDirectoryListing listing = list_data_directory(req.data_directory);
        walked_bytes = listing.file_bytes();
        identities = relation_file_identities(listing);
      });
    }
    // With PROGRESS the third column is each tablespace's estimated size in kB.
    for (const auto& row : server.next_rows("the tablespace list")) {
      if (row.size() > 2 && !row[2].empty()) state.total += std::stoull(row[2]) * 1024;
    }
    server.expect_copy_out("the base backup stream");
    state.phase = "streaming";
    const auto stream_start = std::chrono::steady_clock::now();
    server.receive_copy([&](std::span<const std::byte> message) {
      receiver.on_copy_data(message);
      if (state.total == 0) state.total = walked_bytes.load(std::memory_order_relaxed);
      const bool report = receiver.server_progress() != state.done;
      state.done = receiver.server_progress();
      state.stored = receiver.bytes_received();
      check_stored_size(req, state.stored);
      progress(state);
      if (!pacer) return;
      if (report) pacer->on_progress(state.done, state.stored);
      const auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(
          pacer->delay(state.stored, std::chrono::steady_clock::now() - stream_start));
      // Short pauses add up to nothing but system calls.
      if (pause >= std::chrono::milliseconds(10)) server.pause_reading(pause);
    });
    receiver.finish();
    if (identity_walk) identity_walk->wait();
    if (state.total == 0) state.total = walked_bytes;
    state.phase = "finishing";
    progress(state);
    auto end = server.finish_command("BASE_BACKUP");
    meta.stop_lsn = cell(end, 0, "backup end position");
    if (!receiver.manifest_received()) {
      throw Error(ErrorKind::storage, "server sent no backup_manifest");
    }
    meta.objects = receiver.objects();
    if (identity_walk) {
      meta.objects.push_back(store_file_identity(
          repo.storage(), Repository::backup_dir(req.origin.system_identifier, req.origin.name),
          std::move(identities), req.encryption_key));
    }
    meta.tablespaces = receiver.tablespaces();
    meta.source_bytes = receiver.manifest_source_bytes();
    for (const auto& o : meta.objects) meta.stored_bytes += o.size;
    check_stored_size(req, meta.stored_bytes);
    meta.completed_at = utc_timestamp_now();
    repo.write_meta(meta);  // last: from here on the backup is restorable
  } catch (...) {
    receiver.abandon();
    throw;
  }
  return meta;
}

}  // namespace pgvault
