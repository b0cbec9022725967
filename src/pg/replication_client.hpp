// A libpq replication connection driven without blocking, so that the job
// worker keeps answering SIGTERM and postmaster death while the server
// checkpoints or streams.
#pragma once

#include <cstddef>
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

struct pg_conn;
struct pg_result;

namespace pgvault::pg {

class ReplicationClient {
 public:
  // Throws Error(storage) — with libpq's message, never the password — when
  // the connection fails.
  explicit ReplicationClient(const std::string& conninfo);
  ~ReplicationClient();
  ReplicationClient(const ReplicationClient&) = delete;
  ReplicationClient& operator=(const ReplicationClient&) = delete;

  void send_command(const std::string& command);
  // Next result of the command: rows as text, or throws on an error result.
  // expect_copy: the result must be COPY OUT (returns no rows).
  std::vector<std::vector<std::string>> next_rows(const char* what);
  void expect_copy_out(const char* what);
  // Reads every remaining result of the command; returns the rows of the
  // last row set (for BASE_BACKUP: the end position).
  std::vector<std::vector<std::string>> finish_command(const char* what);
  // Delivers each CopyData message to on_message until the COPY ends.
  void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message);
  // Stops reading for `pause` (interrupts still checked): the server blocks
  // on the full socket meanwhile. Paces a backup (pgvault.max_rate).
  void pause_reading(std::chrono::milliseconds pause);

  // Called while waiting; throws to abandon (cancel, shutdown).
  std::function<void()> check_interrupts;

 private:
  pg_result* wait_result();
  void wait_readable();
  [[noreturn]] void fail(const std::string& what);
  pg_conn* conn_;
};

// The default: the server's own Unix socket and port, as the bootstrap superuser.
std::string default_replication_conninfo();

}  // namespace pgvault::pg
