// The Azure Blob driver's writer (azure_core.hpp).
//
// Writes: objects up to single_put_limit are buffered and sent as one Put
// Blob on commit(). Larger ones are cut into blocks (Put Block, at most
// blocks_in_flight in parallel on worker threads, each with its own
// transport) and made visible by Put Block List on commit(). Block ids are
// base64 of a fixed-width counter, so every id of a blob has the same length.
// Azure has no call to abort an upload: a writer destroyed without commit()
// leaves only uncommitted blocks, which are invisible (not listed, not
// readable) and garbage-collected by Azure after 7 days.
//
// Worker threads never call into PostgreSQL, and they are created with every
// signal blocked, so the backend's signal handlers always run on the main
// thread.
#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/xml.hpp"  // status_error
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"
#include "azure_core.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace pgvault::storage_internal {

namespace {

// "blk-00000042" base64-encoded: 12 bytes give 16 characters, no padding;
// every id of an upload has the same length.
std::string block_id(std::uint64_t index) {
  char raw[32];
  std::snprintf(raw, sizeof raw, "blk-%08llu", static_cast<unsigned long long>(index));
  return http::base64_encode(raw);
}

class AzureWriter final : public ObjectWriter {
 public:
  AzureWriter(std::shared_ptr<AzureContext> ctx, std::shared_ptr<AzureConnection> conn,
              std::string path)
      : ctx_(std::move(ctx)),
        conn_(std::move(conn)),
        path_(std::move(path)),
        blob_(ctx_->blob(path_)),
        max_in_flight_(static_cast<std::size_t>(std::max(1, ctx_->config().blocks_in_flight))) {}

  // Never throws: joins the workers (waiting for requests already sent) and
  // drops queued blocks. Nothing becomes visible without Put Block List.
  ~AzureWriter() override { stop_workers(); }

  void write(std::span<const std::byte> data) override {
    if (done_) throw Error(ErrorKind::internal, "write after commit of " + quoted(path_));
    rethrow_failure();
    const char* p = reinterpret_cast<const char*>(data.data());
    std::size_t n = data.size();
    const std::uint64_t single = ctx_->config().single_put_limit;
    if (!block_mode_) {
      if (buf_.size() + n <= single) {
        buf_.append(p, n);
        return;
      }
      block_mode_ = true;
      // Cut what was buffered for a single Put Blob into blocks.
      while (buf_.size() >= current_block_size()) {
        std::size_t bs = static_cast<std::size_t>(current_block_size());
        std::string block = buffers_.take(bs);
        block.append(buf_, 0, bs);
        buf_.erase(0, bs);
        dispatch(std::move(block));
      }
    }
    while (n > 0) {
      std::size_t bs = static_cast<std::size_t>(current_block_size());
      if (buf_.empty() && buf_.capacity() < bs) buf_ = buffers_.take(bs);
      std::size_t take = std::min(n, bs - buf_.size());
      buf_.append(p, take);
      p += take;
      n -= take;
      if (buf_.size() == bs) {
        dispatch(std::move(buf_));
        buf_ = std::string();
      }
    }
  }

  void commit() override {
    if (done_) throw Error(ErrorKind::internal, "object " + quoted(path_) + " committed twice");
    done_ = true;  // a failed commit is final too
    if (!block_mode_) {
      http::HttpRequest req;
      http::HttpResponse r =
          ctx_->put(conn_->retrying, blob_, {}, {{"x-ms-blob-type", "BlockBlob"}}, buf_, req);
      if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
      buf_ = std::string();
      return;
    }
    if (!buf_.empty()) dispatch(std::move(buf_));
    buf_ = std::string();
    wait_idle();
    stop_workers();
    rethrow_failure();
    std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    for (std::uint64_t i = 0; i < next_index_; ++i) xml += "<Latest>" + block_id(i) + "</Latest>";
    xml += "</BlockList>";
    http::HttpRequest req;
    http::HttpResponse r = ctx_->put(conn_->retrying, blob_, {{"comp", "blocklist"}},
                                     {{"Content-Type", "application/xml"}}, xml, req);
    if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
  }

 private:
  struct Job {
    std::uint64_t index;
    std::string data;
  };

  std::uint64_t current_block_size() const {
    return azure_block_size(ctx_->config().block_size, next_index_);
  }

  void rethrow_failure() {
    std::lock_guard lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);
  }

  // Queues a block; waits while blocks_in_flight are queued or uploading.
  void dispatch(std::string data) {
    if (next_index_ >= kAzureMaxBlocks)
      throw Error(ErrorKind::storage, "Azure: object " + quoted(path_) + " needs more than " +
                                          std::to_string(kAzureMaxBlocks) + " blocks");
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return failure_ || queue_.size() + busy_ < max_in_flight_; });
    if (failure_) std::rethrow_exception(failure_);
    queue_.push_back({next_index_++, std::move(data)});
    if (workers_.size() < max_in_flight_ && workers_.size() < queue_.size() + busy_) {
      std::shared_ptr<AzureConnection> conn = ctx_->connect();
      start_worker(std::move(conn));
    }
    work_.notify_one();
  }

  void start_worker(std::shared_ptr<AzureConnection> conn) {
    workers_.push_back(
        start_signal_blocked_thread([this, conn = std::move(conn)] { worker(*conn); }));
  }

  void worker(AzureConnection& conn) {
    std::unique_lock lock(mutex_);
    while (true) {
      work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_ || failure_) {
        queue_.clear();
        idle_.notify_all();
        if (stop_) return;
        continue;
      }
      Job job = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lock.unlock();
      std::exception_ptr error;
      try {
        upload(conn, job);
      } catch (...) {
        error = std::current_exception();
      }
      buffers_.give(std::move(job.data));
      lock.lock();
      --busy_;
      if (error && !failure_) failure_ = error;
      if (failure_) queue_.clear();
      idle_.notify_all();
    }
  }

  void upload(AzureConnection& conn, const Job& job) {
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->put(conn.retrying, blob_, {{"comp", "block"}, {"blockid", block_id(job.index)}}, {},
                  job.data, req);
    if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
  }

  void wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
  }

  void stop_workers() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_.notify_all();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
  }

  std::shared_ptr<AzureContext> ctx_;
  std::shared_ptr<AzureConnection> conn_;
  std::string path_;
  std::string blob_;
  std::size_t max_in_flight_;
  PartBuffers buffers_;
  std::string buf_;
  bool block_mode_ = false;
  bool done_ = false;
  std::uint64_t next_index_ = 0;

  std::mutex mutex_;
  std::condition_variable work_, idle_;
  std::deque<Job> queue_;
  std::size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<ObjectWriter> open_azure_writer(std::shared_ptr<AzureContext> ctx,
                                                std::shared_ptr<AzureConnection> conn,
                                                std::string path) {
  return std::make_unique<AzureWriter>(std::move(ctx), std::move(conn), std::move(path));
}

}  // namespace pgvault::storage_internal
