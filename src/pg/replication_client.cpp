#include "pgvault/error.hpp"

#include <string>

#include "replication_client.hpp"

#include "postgres_headers.hpp"

namespace pgvault::pg {

namespace {

LibpqTarget replication_target(const std::string& conninfo) {
  LibpqTarget target;
  target.conninfo = conninfo;
  target.replication = true;
  target.application_name = "pgvault";
  target.failure = "could not open a replication connection to this server";
  target.hint =
      "set pgvault.replication_conninfo, and allow the connection in pg_hba.conf for "
      "'replication'";
  return target;
}

}  // namespace

ReplicationClient::ReplicationClient(const std::string& conninfo, ConnectMode mode)
    : connection_(
          replication_target(conninfo),
          [this] {
            if (check_interrupts) check_interrupts();
          },
          mode) {}

void ReplicationClient::send_command(const std::string& command) {
  connection_.send(command, "could not send replication command");
}

ReplicationConnection::Rows ReplicationClient::next_rows(const char* what) {
  const LibpqResult res = connection_.next_result();
  if (!res) throw Error(ErrorKind::storage, std::string("server sent no ") + what);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    throw Error(ErrorKind::storage, std::string("BASE_BACKUP failed while reading ") + what + ": " +
                                        result_error_message(res.get()));
  }
  return text_rows(res.get());
}

void ReplicationClient::expect_copy_out(const char* what) {
  const LibpqResult res = connection_.next_result();
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    throw Error(ErrorKind::storage, std::string("expected ") + what + ", got: " +
                                        (res ? result_error_message(res.get()) : "no result"));
  }
}

ReplicationConnection::Rows ReplicationClient::finish_command(const char* what) {
  std::vector<std::vector<std::string>> rows;
  while (const LibpqResult res = connection_.next_result()) {
    const ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_TUPLES_OK) {
      rows = text_rows(res.get());
    } else if (st != PGRES_COMMAND_OK) {
      throw Error(ErrorKind::storage,
                  std::string(what) + " failed: " + result_error_message(res.get()));
    }
  }
  return rows;
}

void ReplicationClient::receive_copy(
    const std::function<void(std::span<const std::byte>)>& on_message) {
  connection_.receive_copy(on_message, "the base backup stream");
}

void ReplicationClient::pause_reading(std::chrono::milliseconds pause) {
  connection_.pause_reading(pause);
}

}  // namespace pgvault::pg
