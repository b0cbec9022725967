#include "pgvault/physical/physical_backup.hpp"

#include "physical_backup.hpp"
#include "replication_client.hpp"

namespace pgvault::pg {
namespace {

// The core's view of the connection: BASE_BACKUP's bytes move from libpq
// into the core's receiver, nothing else happens here.
class LibpqReplicationConnection final : public ReplicationConnection {
 public:
  LibpqReplicationConnection(const std::string& conninfo, std::function<void()> check_interrupts)
      : client_(conninfo) {
    client_.check_interrupts = std::move(check_interrupts);
  }
  void send_command(const std::string& command) override { client_.send_command(command); }
  Rows next_rows(const char* what) override { return client_.next_rows(what); }
  void expect_copy_out(const char* what) override { client_.expect_copy_out(what); }
  void receive_copy(const std::function<void(std::span<const std::byte>)>& on_message) override {
    client_.receive_copy(on_message);
  }
  void pause_reading(std::chrono::milliseconds pause) override { client_.pause_reading(pause); }
  Rows finish_command(const char* what) override { return client_.finish_command(what); }

 private:
  ReplicationClient client_;
};

}  // namespace

BackupMeta run_physical_backup_over_libpq(
    Repository& repo, const BackupRequest& req,
    const std::function<void(const BackupProgress&)>& progress,
    const std::function<void()>& check_interrupts) {
  LibpqReplicationConnection server(req.conninfo, check_interrupts);
  return run_physical_backup(repo, req, server, progress);
}

}  // namespace pgvault::pg
