#include "pgvault/error.hpp"

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "error_boundary.hpp"
#include "libpq_connection.hpp"
#include "worker_connection.hpp"

#include "postgres_headers.hpp"

namespace pgvault::pg {
namespace {

std::string without_trailing_space(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// How long one wait lasts at most: the caller's interrupt checks run at
// least this often even when nothing sets the latch.
constexpr long kWaitMs = 1000;
// Messages of a COPY stream between two interrupt checks when it never waits.
constexpr unsigned kMessagesBetweenChecks = 64;

}  // namespace

void LibpqResultDeleter::operator()(pg_result* result) const {
  PQclear(result);
}

std::string result_error_message(const pg_result* result) {
  std::string msg = without_trailing_space(PQresultErrorMessage(result));
  return msg.empty() ? PQresStatus(PQresultStatus(result)) : msg;
}

std::vector<std::vector<std::string>> text_rows(const pg_result* result) {
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(result); ++c) row.emplace_back(PQgetvalue(result, r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

LibpqConnection::LibpqConnection(const LibpqTarget& target, std::function<void()> check_interrupts,
                                 ConnectMode mode)
    : failure_(target.failure), hint_(target.hint), check_interrupts_(std::move(check_interrupts)) {
  // expand_dbname: the first "dbname" is a full connection string; later
  // keywords override it, so neither the database nor replication mode nor
  // the pinned search_path can be switched by what it says.
  const std::string options = options_with_safe_search_path(target.conninfo);
  std::vector<const char*> keywords = {"dbname", "fallback_application_name", "options"};
  std::vector<const char*> values = {target.conninfo.c_str(), target.application_name.c_str(),
                                     options.c_str()};
  if (!target.dbname.empty()) {
    keywords.push_back("dbname");
    values.push_back(target.dbname.c_str());
  }
  if (target.replication) {
    keywords.push_back("replication");
    values.push_back("true");
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keywords.data(), values.data(), 1);
  if (conn_ == nullptr) throw Error(ErrorKind::internal, "out of memory connecting to the server");
  try {
    if (mode == ConnectMode::start) {
      // A Unix socket is connected at once (CONNECTION_MADE): one poll sends
      // the startup packet, and the server takes it from there. A TCP
      // connection still in progress is left to complete_connection(), and
      // so is a failure: it throws it on first use.
      if (PQstatus(conn_) == CONNECTION_MADE) (void)PQconnectPoll(conn_);
      return;
    }
    complete_connection();
  } catch (...) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

void LibpqConnection::complete_connection() {
  if (connected_) return;
  for (;;) {
    const PostgresPollingStatusType st = PQconnectPoll(conn_);
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) {
      throw Error(ErrorKind::storage, failure_ + ": " +
                                          without_trailing_space(PQerrorMessage(conn_)) +
                                          (hint_.empty() ? "" : " (" + hint_ + ")"));
    }
    wait(st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE, kWaitMs);
  }
  connected_ = true;
}

LibpqConnection::~LibpqConnection() {
  if (read_waits_) FreeWaitEventSet(read_waits_);
  if (conn_) PQfinish(conn_);
}

void LibpqConnection::fail(const std::string& what) const {
  throw Error(ErrorKind::storage, what + ": " + without_trailing_space(PQerrorMessage(conn_)));
}

void LibpqConnection::wait(int socket_events, long timeout_ms) {
  const pgsocket sock = socket_events ? PQsocket(conn_) : PGINVALID_SOCKET;
  cancelling_on_error([&] {
    pg_guard([&] {
      (void)WaitLatchOrSocket(MyLatch,
                              WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | WL_TIMEOUT | socket_events, sock,
                              timeout_ms, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    });
  });
  check_for_interrupts();
}

void LibpqConnection::wait_readable() {
  cancelling_on_error([&] {
    pg_guard([&] {
      if (read_waits_ == nullptr) {
        // The socket no longer changes once connected; TopMemoryContext: the
        // set lives as long as this object, which frees it.
        WaitEventSet* set = CreateWaitEventSet(TopMemoryContext, 3);
        AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
        AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
        AddWaitEventToSet(set, WL_SOCKET_READABLE, PQsocket(conn_), nullptr, nullptr);
        read_waits_ = set;
      }
      WaitEvent event;
      (void)WaitEventSetWait(read_waits_, kWaitMs, &event, 1, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    });
  });
  check_for_interrupts();
}

void LibpqConnection::check_for_interrupts() {
  cancelling_on_error([&] {
    pg_guard([] { CHECK_FOR_INTERRUPTS(); });
    if (check_interrupts_) check_interrupts_();
  });
}

void LibpqConnection::cancelling_on_error(const std::function<void()>& step) {
  try {
    step();
  } catch (...) {
    // The server would go on running the command for a client that left.
    if (command_running_) cancel_command();
    throw;
  }
}

void LibpqConnection::cancel_command() noexcept {
  if (PGcancel* cancel = PQgetCancel(conn_)) {
    char err[256];
    (void)PQcancel(cancel, err, sizeof err);
    PQfreeCancel(cancel);
  }
}

void LibpqConnection::send(const std::string& command, const std::string& what) {
  complete_connection();
  if (!PQsendQuery(conn_, command.c_str())) fail(what);
  command_running_ = true;
}

LibpqResult LibpqConnection::next_result() {
  while (PQisBusy(conn_)) {
    wait(WL_SOCKET_READABLE, kWaitMs);
    if (!PQconsumeInput(conn_)) fail("lost the connection to this server");
  }
  LibpqResult result(PQgetResult(conn_));
  if (!result) command_running_ = false;
  return result;
}

void LibpqConnection::exec(const std::string& sql, const std::string& what) {
  send(sql, what);
  std::optional<PgError> error;
  while (LibpqResult res = next_result()) {
    const ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || error) continue;
    const char* code = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_DETAIL);
    const char* hint = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_HINT);
    const int sqlstate = (code && strlen(code) == 5)
                             ? MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])
                             : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    error.emplace(sqlstate, what + ": " + (primary ? primary : result_error_message(res.get())),
                  detail ? detail : "", hint ? hint : "");
  }
  if (error) throw *error;
}

void LibpqConnection::receive_copy(
    const std::function<void(std::span<const std::byte>)>& on_message, const std::string& what) {
  // Whether the socket was read since the last message: only then is there
  // nothing to do but wait.
  bool consumed = false;
  unsigned since_check = 0;
  for (;;) {
    char* buffer = nullptr;
    const int len = PQgetCopyData(conn_, &buffer, 1);
    if (len > 0) {
      std::unique_ptr<char, decltype(&PQfreemem)> owned(buffer, PQfreemem);
      on_message({reinterpret_cast<const std::byte*>(buffer), static_cast<std::size_t>(len)});
      consumed = false;
      // A stream that never pauses still hears a cancel.
      if (++since_check == kMessagesBetweenChecks) {
        since_check = 0;
        check_for_interrupts();
      }
    } else if (len == 0) {
      if (consumed) wait_readable();
      if (!PQconsumeInput(conn_)) fail("lost the connection to this server while reading " + what);
      consumed = true;
    } else if (len == -1) {
      return;  // COPY done; the command's status follows as a result
    } else {
      fail("could not read " + what);
    }
  }
}

void LibpqConnection::pause_reading(std::chrono::milliseconds pause) {
  const auto until = std::chrono::steady_clock::now() + pause;
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    wait(0, static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count()));
  }
}

std::string LibpqConnection::escaped(const std::string& s,
                                     char* (*escape)(pg_conn*, const char*, std::size_t)) {
  complete_connection();  // quoting follows the connection's encoding
  char* out = escape(conn_, s.data(), s.size());
  if (out == nullptr)
    throw Error(ErrorKind::invalid_argument,
                "cannot quote \"" + s + "\": " + without_trailing_space(PQerrorMessage(conn_)));
  std::string result(out);
  PQfreemem(out);
  return result;
}

std::string LibpqConnection::quote_identifier(const std::string& s) {
  return escaped(s, PQescapeIdentifier);
}

std::string LibpqConnection::quote_literal(const std::string& s) {
  return escaped(s, PQescapeLiteral);
}

}  // namespace pgvault::pg
