// A libpq client connection (to this server) driven without blocking: every
// wait is on the process latch and the socket, so that while the server
// works the process still sees
//  * a query cancel or termination of its own (CHECK_FOR_INTERRUPTS; a
//    cancel while a command runs cancels that command on the server too),
//  * the caller's own stop checks (check_interrupts, e.g. vault.cancel_backup()),
//  * postmaster death: the process exits (WL_EXIT_ON_PM_DEATH), as
//    PostgreSQL's own libpq users (walreceiver, postgres_fdw) and every other
//    wait in pgvault do; a job worker's row left 'running' is settled as
//    interrupted when the server starts again.
// Used for the replication protocol (ReplicationClient, BASE_BACKUP) and for
// SQL that cannot run inside the caller's transaction (CREATE, DROP and
// ALTER DATABASE of vault.restore_logical).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct WaitEventSet;  // PostgreSQL's storage/latch.h

struct pg_conn;
struct pg_result;

namespace pgvault::pg {

struct LibpqResultDeleter {
  void operator()(pg_result* result) const;
};
using LibpqResult = std::unique_ptr<pg_result, LibpqResultDeleter>;

// Where to connect and how to explain a failure.
struct LibpqTarget {
  // A libpq connection string (pgvault_conninfo()); search_path is pinned to
  // pg_catalog, pg_temp on top of its own options.
  std::string conninfo;
  std::string dbname;        // replaces the connection string's, unless empty
  bool replication = false;  // a physical replication connection (walsender)
  std::string application_name;
  // A failed connect throws "<failure>: <libpq's message> (<hint>)".
  std::string failure;
  std::string hint;
};

// complete: the constructor returns connected. start: it returns once
// the connection is under way (on a Unix socket, the startup packet sent), so
// the server forks and authenticates the session while the caller does other
// work; the first send() completes it, and a failure is thrown there.
enum class ConnectMode { complete, start };

class LibpqConnection {
 public:
  // Connects, waiting on the latch. Throws Error(storage) with libpq's
  // message (never the password) when the connection fails.
  LibpqConnection(const LibpqTarget& target, std::function<void()> check_interrupts,
                  ConnectMode mode = ConnectMode::complete);
  ~LibpqConnection();
  LibpqConnection(const LibpqConnection&) = delete;
  LibpqConnection& operator=(const LibpqConnection&) = delete;

  // Sends a command (simple query protocol); read its results with
  // next_result() until it returns none. A failure to send throws
  // Error(storage) "<what>: <libpq's message>".
  void send(const std::string& command,
            const std::string& what = "could not send a command to the server");
  // The next result of the command sent, once complete; empty when the
  // command is done.
  LibpqResult next_result();
  // Runs one SQL command and reads all of its results; an error result
  // becomes PgError with the server's SQLSTATE, message (prefixed by
  // "<what>: "), detail and hint.
  void exec(const std::string& sql, const std::string& what);

  // Delivers each CopyData message of a COPY OUT to on_message until the
  // COPY ends (the command's results follow). `what` names the stream in errors.
  void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message,
                    const std::string& what);
  // Waits `pause` without reading (interrupts still seen): the server
  // blocks on the full socket meanwhile.
  void pause_reading(std::chrono::milliseconds pause);

  // SQL quoting with the connection's encoding rules.
  std::string quote_identifier(const std::string& s);
  std::string quote_literal(const std::string& s);

  // Throws Error(storage) "<what>: <libpq's last message>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  // Waits for socket_events (WL_SOCKET_*; 0: none) or timeout_ms, then
  // checks for interrupts. An interrupt while a command runs cancels it.
  void wait(int socket_events, long timeout_ms);
  // The same for the connection's socket becoming readable, on one wait set
  // kept for the connection: a base backup stream waits thousands of times,
  // and building a set each time (an epoll instance and its registrations)
  // cost the job worker more CPU than the stream itself.
  void wait_readable();
  // CHECK_FOR_INTERRUPTS and the caller's check_interrupts; an interrupt
  // while a command runs cancels it.
  void check_for_interrupts();
  // Runs step; when it throws while a command runs, cancels that command.
  void cancelling_on_error(const std::function<void()>& step);
  void cancel_command() noexcept;
  // Polls the connection until it is made, waiting on the latch.
  void complete_connection();
  std::string escaped(const std::string& s, char* (*escape)(pg_conn*, const char*, std::size_t));

  pg_conn* conn_ = nullptr;
  bool connected_ = false;
  std::string failure_, hint_;          // LibpqTarget's, for a failure complete_connection() sees
  WaitEventSet* read_waits_ = nullptr;  // made by the first wait_readable()
  std::function<void()> check_interrupts_;
  bool command_running_ = false;
};

// A result's message (libpq's text, trailing newline removed), or its
// status's name when it has none.
std::string result_error_message(const pg_result* result);

// A result's rows, each value as text.
std::vector<std::vector<std::string>> text_rows(const pg_result* result);

}  // namespace pgvault::pg
