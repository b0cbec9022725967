// The S3 driver's writer (s3_core.hpp), for S3 and GCS.
//
// Writers: objects up to single_put_limit bytes go up with one PUT at
// commit(). Larger ones use a multipart upload: part n is s3_part_size(
// part_size, n) bytes (doubling every 900 parts, capped at 5 GiB, so 10,000
// parts reach more than 5 TiB). Up to parts_in_flight parts upload in
// parallel, each worker thread with its own transport from the factory; the
// writing thread blocks while that many parts are queued or uploading, so
// memory stays within (parts_in_flight + 1) x the current part size (plus
// single_put_limit before the upload starts). Worker threads start with every
// signal blocked, so PostgreSQL's handlers only ever run on the main thread;
// they never call into PostgreSQL. The first part failure is rethrown by the
// next write() or by commit(). A CompleteMultipartUpload answered 200 with an
// <Error> body or without an ETag is a failure. A writer destroyed without a
// successful commit aborts its upload (best effort, never throws).
//
// The writing thread waits on a condition variable while the part slots are
// full, and commit() waits for the last parts: PostgreSQL interrupts are seen
// again once a part finishes (bounded by the transport's timeouts).
// A writer whose write() or commit() failed refuses further use, so a partial
// object is never committed.
#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/xml.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"
#include "s3_core.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace pgvault::storage_internal {

namespace {

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(std::shared_ptr<S3Core> core, std::string path)
      : core_(std::move(core)), path_(std::move(path)), key_(core_->key_of(path_)) {}

  ~S3Writer() override {
    try {
      stop_workers(true);
      if (!committed_ && !upload_id_.empty()) abort_upload();
    } catch (...) {
      // best effort: never throw from a destructor
    }
  }

  void write(std::span<const std::byte> data) override {
    if (committed_) throw Error(ErrorKind::internal, "write after commit of " + quoted(path_));
    check_not_failed();
    try {
      write_data(data);
    } catch (...) {
      failed_ = true;  // what was written is incomplete: never commit it
      throw;
    }
  }

  void commit() override {
    if (committed_)
      throw Error(ErrorKind::internal, "object " + quoted(path_) + " committed twice");
    check_not_failed();
    try {
      commit_data();
    } catch (...) {
      failed_ = true;
      throw;
    }
    committed_ = true;
  }

 private:
  struct Part {
    int number = 0;
    std::string data;
  };

  void check_not_failed() const {
    if (failed_)
      throw Error(ErrorKind::storage, core_->service() + ": object " + quoted(path_) +
                                          " cannot be written further: an earlier "
                                          "write or commit of it failed");
  }

  void write_data(std::span<const std::byte> data) {
    rethrow_part_error();
    const char* p = reinterpret_cast<const char*>(data.data());
    std::size_t n = data.size();
    while (n > 0) {
      if (upload_id_.empty()) {
        std::uint64_t limit = core_->config().single_put_limit + 1;
        std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(n, limit - std::min<std::uint64_t>(limit, buf_.size())));
        buf_.append(p, take);
        p += take;
        n -= take;
        if (buf_.size() >= limit) {
          start_upload();
          carve_parts();
        }
      } else {
        std::uint64_t size = s3_part_size(core_->config().part_size, next_part_);
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, size - buf_.size()));
        if (buf_.empty() && buf_.capacity() < size)
          buf_ = buffers_.take(static_cast<std::size_t>(size));
        buf_.append(p, take);
        p += take;
        n -= take;
        if (buf_.size() == size) dispatch(std::exchange(buf_, std::string()));
      }
    }
  }

  void commit_data() {
    if (upload_id_.empty()) {
      put_single();
      return;
    }
    try {
      if (!buf_.empty()) dispatch(std::exchange(buf_, std::string()));
      wait_idle();
      stop_workers(false);
      rethrow_part_error();
      complete_upload();
    } catch (...) {
      stop_workers(true);
      abort_upload();
      throw;
    }
  }

  void put_single() {
    S3Request r;
    r.method = "PUT";
    r.key = key_;
    r.body = buf_;
    S3Exchange ex = core_->send_creating_bucket(nullptr, r);
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    buf_.clear();
    buf_.shrink_to_fit();
  }

  void start_upload() {
    S3Request r;
    r.method = "POST";
    r.key = key_;
    r.query = {{"uploads", ""}};
    S3Exchange ex = core_->send_creating_bucket(nullptr, r);
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    if (auto e = http::extract_error(ex.response.body))
      throw Error(ErrorKind::storage, core_->service() + ": CreateMultipartUpload of " +
                                          quoted(path_) + " failed: " + e->code + " - " +
                                          e->message);
    auto doc = http::parse_xml(ex.response.body, core_->service() + " CreateMultipartUpload");
    std::string id = http::child_text(doc.document_element(), "UploadId");
    if (id.empty())
      throw Error(ErrorKind::storage, core_->service() + ": CreateMultipartUpload of " +
                                          quoted(path_) + " answered no UploadId");
    upload_id_ = id;
  }

  // Cuts the single-PUT buffer, which just went past its limit, into parts
  // from the pool; what is left over starts the next part.
  void carve_parts() {
    std::string_view rest(buf_);
    while (true) {
      const auto size =
          static_cast<std::size_t>(s3_part_size(core_->config().part_size, next_part_));
      if (rest.size() < size) {
        std::string next = buffers_.take(size);
        next.append(rest);
        buf_ = std::move(next);
        return;
      }
      std::string part = buffers_.take(size);
      part.append(rest.substr(0, size));
      rest.remove_prefix(size);
      dispatch(std::move(part));
    }
  }

  void dispatch(std::string data) {
    if (next_part_ > kS3MaxParts)
      throw Error(ErrorKind::storage, core_->service() + ": object " + quoted(path_) +
                                          " needs more than " + std::to_string(kS3MaxParts) +
                                          " parts");
    if (workers_.empty()) start_workers();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ < max_in_flight() || error_; });
    if (error_) std::rethrow_exception(error_);
    queue_.push_back(Part{next_part_++, std::move(data)});
    ++in_flight_;
    cv_.notify_all();
  }

  int max_in_flight() const { return std::max(1, core_->config().parts_in_flight); }

  void start_workers() {
    int n = max_in_flight();
    std::vector<std::shared_ptr<TransportPool::Lease>> transports;
    for (int i = 0; i < n; ++i)
      transports.push_back(std::make_shared<TransportPool::Lease>(core_->lease_transport()));
    try {
      for (int i = 0; i < n; ++i)
        workers_.push_back(
            start_signal_blocked_thread([this, t = std::move(transports[i])] { worker(**t); }));
    } catch (...) {
      stop_workers(true);
      throw;
    }
  }

  void worker(http::HttpTransport& transport) {
    while (true) {
      Part part;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || stop_; });
        if (queue_.empty()) return;
        part = std::move(queue_.front());
        queue_.pop_front();
        if (error_ || cancel_) {
          --in_flight_;
          cv_.notify_all();
          continue;
        }
      }
      std::string etag;
      std::exception_ptr err;
      try {
        etag = upload_part(transport, part);
      } catch (...) {
        err = std::current_exception();
      }
      buffers_.give(std::move(part.data));  // back before the slot is released
      std::lock_guard<std::mutex> lock(mu_);
      if (err) {
        if (!error_) error_ = err;
      } else {
        if (etags_.size() < static_cast<std::size_t>(part.number)) etags_.resize(part.number);
        etags_[part.number - 1] = etag;
      }
      --in_flight_;
      cv_.notify_all();
    }
  }

  std::string upload_part(http::HttpTransport& transport, const Part& part) {
    S3Request r;
    r.method = "PUT";
    r.key = key_;
    r.query = {{"partNumber", std::to_string(part.number)}, {"uploadId", upload_id_}};
    r.body = part.data;
    S3Exchange ex = core_->send(transport, r);
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    std::string etag = ex.response.header("etag");
    if (etag.empty())
      throw Error(ErrorKind::storage, core_->service() + ": part " + std::to_string(part.number) +
                                          " of object " + quoted(path_) +
                                          " was answered without an ETag (" +
                                          http::describe_request(ex.request) + ")");
    return etag;
  }

  void wait_idle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

  // Joins the workers; with cancel, queued parts are dropped.
  void stop_workers(bool cancel) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (cancel) cancel_ = true;
      cv_.notify_all();
    }
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }

  void rethrow_part_error() {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) std::rethrow_exception(error_);
  }

  void complete_upload() {
    int parts = next_part_ - 1;
    std::string body = "<CompleteMultipartUpload>";
    for (int i = 1; i <= parts; ++i) {
      if (static_cast<std::size_t>(i) > etags_.size() || etags_[i - 1].empty())
        throw Error(ErrorKind::storage, core_->service() + ": part " + std::to_string(i) +
                                            " of object " + quoted(path_) + " has no ETag");
      body += "<Part><PartNumber>" + std::to_string(i) + "</PartNumber><ETag>" +
              xml_escape(etags_[i - 1]) + "</ETag></Part>";
    }
    body += "</CompleteMultipartUpload>";
    S3Request r;
    r.method = "POST";
    r.key = key_;
    r.query = {{"uploadId", upload_id_}};
    r.headers.emplace_back("content-type", "application/xml");
    r.body = body;
    S3Exchange ex = core_->send(r);
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    // S3 may answer 200 and report the failure in the body.
    if (auto e = http::extract_error(ex.response.body))
      throw Error(ErrorKind::storage,
                  core_->service() + ": CompleteMultipartUpload of " + quoted(path_) +
                      " answered HTTP 200 with an error: " + e->code + " - " + e->message);
    auto doc = http::parse_xml(ex.response.body, core_->service() + " CompleteMultipartUpload");
    if (!http::find_child_text(doc.document_element(), "ETag"))
      throw Error(ErrorKind::storage, core_->service() + ": CompleteMultipartUpload of " +
                                          quoted(path_) + " answered HTTP " +
                                          std::to_string(ex.response.status) + " without an ETag");
  }

  void abort_upload() noexcept {
    if (upload_id_.empty()) return;
    try {
      S3Request r;
      r.method = "DELETE";
      r.key = key_;
      r.query = {{"uploadId", upload_id_}};
      core_->send(r);
    } catch (...) {
      // best effort: lifecycle rules clean what is left
    }
    upload_id_.clear();
  }

  std::shared_ptr<S3Core> core_;
  std::string path_, key_;
  PartBuffers buffers_;
  std::string buf_;
  bool committed_ = false;
  bool failed_ = false;
  std::string upload_id_;
  int next_part_ = 1;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Part> queue_;
  int in_flight_ = 0;  // queued or uploading
  bool stop_ = false;
  bool cancel_ = false;
  std::exception_ptr error_;
  std::vector<std::string> etags_;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<ObjectWriter> open_s3_writer(std::shared_ptr<S3Core> core, std::string path) {
  return std::make_unique<S3Writer>(std::move(core), std::move(path));
}

}  // namespace pgvault::storage_internal
