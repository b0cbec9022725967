#include "pgvault/error.hpp"

#include <memory>

#include "error_boundary.hpp"
#include "replication_client.hpp"
#include "settings.hpp"
#include "worker_connection.hpp"

extern "C" {
#include "libpq-fe.h"
}

namespace pgvault::pg {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string trimmed_libpq_message(PGconn* conn) {
  std::string msg = conn ? PQerrorMessage(conn) : "out of memory";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

}  // namespace

std::string default_replication_conninfo() {
  std::string socket_dir = "/tmp";
  if (Unix_socket_directories && *Unix_socket_directories) {
    std::string dirs = Unix_socket_directories;
    socket_dir = dirs.substr(0, dirs.find(','));
    while (!socket_dir.empty() && socket_dir.front() == ' ') socket_dir.erase(0, 1);
    while (!socket_dir.empty() && socket_dir.back() == ' ') socket_dir.pop_back();
  }
  const char* user = pg_guard([] { return GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false); });
  return "host='" + socket_dir + "' port=" + std::to_string(PostPortNumber) + " user='" + user +
         "'";
}

ReplicationClient::ReplicationClient(const std::string& conninfo) {
  // expand_dbname: the first "dbname" is a full connection string; later
  // keywords override it, so replication mode cannot be switched off.
  const std::string options = options_with_safe_search_path(conninfo);
  const char* keywords[] = {"dbname", "replication", "fallback_application_name", "options",
                            nullptr};
  const char* values[] = {conninfo.c_str(), "true", "pgvault", options.c_str(), nullptr};
  conn_ = PQconnectStartParams(keywords, values, 1);
  if (conn_ == nullptr) throw Error(ErrorKind::internal, "out of memory connecting to the server");
  for (;;) {
    const PostgresPollingStatusType st = PQconnectPoll(conn_);
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) {
      std::string msg = trimmed_libpq_message(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      throw Error(ErrorKind::storage,
                  "could not open a replication connection to this server: " + msg +
                      " (set pgvault.replication_conninfo, and allow the connection in "
                      "pg_hba.conf for 'replication')");
    }
    const int events = (st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
    const int rc = pg_guard([&] {
      const int r =
          WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_POSTMASTER_DEATH | WL_TIMEOUT | events,
                            PQsocket(conn_), 1000, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      return r;
    });
    if (rc & WL_POSTMASTER_DEATH) {
      PQfinish(conn_);
      conn_ = nullptr;
      throw Error(ErrorKind::cancelled, "the postmaster died");
    }
    if (check_interrupts) check_interrupts();
  }
}

ReplicationClient::~ReplicationClient() {
  if (conn_) PQfinish(conn_);
}

void ReplicationClient::fail(const std::string& what) {
  throw Error(ErrorKind::storage, what + ": " + trimmed_libpq_message(conn_));
}

void ReplicationClient::send_command(const std::string& command) {
  if (!PQsendQuery(conn_, command.c_str())) fail("could not send replication command");
}

void ReplicationClient::wait_readable() {
  const int rc = pg_guard([&] {
    const int r = WaitLatchOrSocket(
        MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_POSTMASTER_DEATH | WL_TIMEOUT,
        PQsocket(conn_), 1000, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    return r;
  });
  if (rc & WL_POSTMASTER_DEATH) throw Error(ErrorKind::cancelled, "the postmaster died");
  if (check_interrupts) check_interrupts();
  if (!PQconsumeInput(conn_)) fail("lost the replication connection");
}

void ReplicationClient::pause_reading(std::chrono::milliseconds pause) {
  const auto until = std::chrono::steady_clock::now() + pause;
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    const int rc = pg_guard([&] {
      const int r = WaitLatch(MyLatch, WL_LATCH_SET | WL_POSTMASTER_DEATH | WL_TIMEOUT,
                              static_cast<long>(ms), PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      return r;
    });
    if (rc & WL_POSTMASTER_DEATH) throw Error(ErrorKind::cancelled, "the postmaster died");
    if (check_interrupts) check_interrupts();
  }
}

PGresult* ReplicationClient::wait_result() {
  while (PQisBusy(conn_)) wait_readable();
  return PQgetResult(conn_);
}

std::vector<std::vector<std::string>> ReplicationClient::next_rows(const char* what) {
  ResultPtr res(wait_result());
  if (!res) throw Error(ErrorKind::storage, std::string("server sent no ") + what);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(res.get());
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw Error(ErrorKind::storage,
                std::string("BASE_BACKUP failed while reading ") + what + ": " +
                    (msg.empty() ? PQresStatus(PQresultStatus(res.get())) : msg));
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res.get()); ++c) row.emplace_back(PQgetvalue(res.get(), r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

void ReplicationClient::expect_copy_out(const char* what) {
  ResultPtr res(wait_result());
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    std::string msg = res ? PQresultErrorMessage(res.get()) : "no result";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw Error(ErrorKind::storage, std::string("expected ") + what + ", got: " + msg);
  }
}

std::vector<std::vector<std::string>> ReplicationClient::finish_command(const char* what) {
  std::vector<std::vector<std::string>> rows;
  while (ResultPtr res{wait_result()}) {
    const ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_TUPLES_OK) {
      rows.clear();
      for (int r = 0; r < PQntuples(res.get()); ++r) {
        std::vector<std::string> row;
        for (int c = 0; c < PQnfields(res.get()); ++c)
          row.emplace_back(PQgetvalue(res.get(), r, c));
        rows.push_back(std::move(row));
      }
    } else if (st != PGRES_COMMAND_OK) {
      std::string msg = PQresultErrorMessage(res.get());
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      throw Error(ErrorKind::storage, std::string(what) + " failed: " + msg);
    }
  }
  return rows;
}

void ReplicationClient::receive_copy(
    const std::function<void(std::span<const std::byte>)>& on_message) {
  for (;;) {
    char* buffer = nullptr;
    const int len = PQgetCopyData(conn_, &buffer, 1);
    if (len > 0) {
      std::unique_ptr<char, decltype(&PQfreemem)> owned(buffer, PQfreemem);
      on_message({reinterpret_cast<const std::byte*>(buffer), static_cast<std::size_t>(len)});
    } else if (len == 0) {
      wait_readable();
    } else if (len == -1) {
      return;  // COPY done; the command's status follows as a result
    } else {
      fail("could not read the base backup stream");
    }
  }
}

}  // namespace pgvault::pg
