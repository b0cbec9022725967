// The replication protocol's side of a backup: a physical replication
// connection to this server (LibpqConnection, so the job worker keeps
// answering SIGTERM, vault.cancel_backup() and postmaster death while the
// server checkpoints or streams), BASE_BACKUP's result sets and its COPY OUT
// stream. It is the core's ReplicationConnection, so run_physical_backup
// reads BASE_BACKUP from it directly: libpq's bytes go straight into the core.
#pragma once

#include "pgvault/physical/physical_backup.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "libpq_connection.hpp"

namespace pgvault::pg {

class ReplicationClient final : public ReplicationConnection {
 public:
  // Throws Error(storage) — with libpq's message, never the password — when
  // the connection fails (with ConnectMode::start, at the first command).
  explicit ReplicationClient(const std::string& conninfo, ConnectMode mode = ConnectMode::complete);
  ReplicationClient(const ReplicationClient&) = delete;
  ReplicationClient& operator=(const ReplicationClient&) = delete;

  void send_command(const std::string& command) override;
  // Next result of the command: rows as text, or throws on an error result.
  Rows next_rows(const char* what) override;
  // The next result must be COPY OUT.
  void expect_copy_out(const char* what) override;
  // Reads every remaining result of the command; returns the rows of the
  // last row set (for BASE_BACKUP: the end position).
  Rows finish_command(const char* what) override;
  // Delivers each CopyData message to on_message until the COPY ends.
  void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message) override;
  // Stops reading for `pause` (interrupts still checked): the server blocks
  // on the full socket meanwhile. Paces a backup (pgvault.max_rate).
  void pause_reading(std::chrono::milliseconds pause) override;

  // Called while waiting, after the connection is made; throws to abandon
  // (cancel, shutdown).
  std::function<void()> check_interrupts;

 private:
  LibpqConnection connection_;
};

}  // namespace pgvault::pg
