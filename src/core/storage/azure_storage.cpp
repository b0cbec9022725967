// The Azure Blob Storage driver (azure://container/prefix), for Azure and
// Azurite.
//
// Requests: every request carries x-ms-date and x-ms-version and is signed
// with SharedKey (account key) or carries the SAS token in its query (no
// Authorization header then). All requests go through a RetryingTransport;
// each is safe to repeat (Put Blob and Put Block overwrite, Delete tolerates
// 404, GETs are ranged). A retried request keeps its first x-ms-date, well
// inside Azure's 15-minute clock-skew window.
//
// Reads: the shared ranged reader (ranged_reader.hpp): 8 MiB ranges with
// x-ms-range, the first answer's ETag pinned with If-Match, cut-off bodies
// resumed.
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
//
// A missing container lists as empty (root_exists() is false) and is
// created on the first write that finds it missing
// (404 ContainerNotFound), once; if the credentials may not create it (SAS
// without that permission: 403), the error says the container is missing.
//
// remove_prefix() lists and deletes blob by blob: Blob Batch is not used (it
// needs a multipart/mixed body and is not supported by Azurite).
#include "pgvault/storage/azure_storage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/http/xml.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/thread.hpp"
#include "ranged_reader.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pgvault {

std::uint64_t azure_block_size(std::uint64_t first, std::uint64_t index) {
  if (first == 0) first = 1;
  std::uint64_t size = first;
  for (std::uint64_t d = index / kAzureBlocksPerDoubling; d > 0 && size < kAzureMaxBlockSize; --d)
    size *= 2;
  return std::min(size, kAzureMaxBlockSize);
}

std::uint64_t azure_max_object_size(std::uint64_t first) {
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < kAzureMaxBlocks; i += kAzureBlocksPerDoubling)
    total += kAzureBlocksPerDoubling * azure_block_size(first, i);
  return total;
}

namespace {

constexpr std::string_view kService = "Azure";
constexpr std::uint64_t kMaxPutBlob = 5000ull << 20;  // Put Blob limit (version 2019-12-12+)

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

bool is_success(long status) {
  return status >= 200 && status < 300;
}

std::string error_code(const http::HttpResponse& r) {
  if (auto e = http::extract_error(r.body); e && !e->code.empty()) return e->code;
  return r.header("x-ms-error-code");
}

std::uint64_t parse_u64(const std::string& s) {
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// A transport from the factory and the retrying wrapper around it.
struct Connection {
  Connection(std::unique_ptr<http::HttpTransport> t, const http::RetryPolicy& policy)
      : raw(std::move(t)), retrying(*raw, policy) {}
  std::unique_ptr<http::HttpTransport> raw;
  http::RetryingTransport retrying;
};

// What the storage, its readers and its writers share.
class AzureContext {
 public:
  AzureContext(AzureConfig config, TransportFactory factory, http::RetryPolicy policy)
      : cfg_(std::move(config)), factory_(std::move(factory)), policy_(std::move(policy)) {
    while (!cfg_.endpoint.empty() && cfg_.endpoint.back() == '/') cfg_.endpoint.pop_back();
    if (cfg_.endpoint.empty()) cfg_.endpoint = "https://" + cfg_.account + ".blob.core.windows.net";
    container_url_ = cfg_.endpoint + "/" + http::uri_encode(cfg_.container);
    // Validates the endpoint (scheme, host, port; no user-info).
    (void)http::parse_url(container_url_);
  }

  const AzureConfig& config() const { return cfg_; }

  std::shared_ptr<Connection> connect() const {
    std::unique_ptr<http::HttpTransport> t = factory_();
    if (!t) throw Error(ErrorKind::internal, "Azure: the transport factory returned nothing");
    return std::make_shared<Connection>(std::move(t), policy_);
  }

  std::string url() const {
    return "azure://" + cfg_.container + (cfg_.prefix.empty() ? "" : "/" + cfg_.prefix);
  }

  // The blob name of a repository path.
  std::string blob(const std::string& path) const {
    return cfg_.prefix.empty() ? path : cfg_.prefix + "/" + path;
  }
  // What a blob name starts with for every repository object.
  std::string root() const { return cfg_.prefix.empty() ? std::string() : cfg_.prefix + "/"; }

  // Builds, signs and sends one request. blob_name empty = the container.
  http::HttpResponse send(http::HttpTransport& t, const std::string& method,
                          const std::string& blob_name, const http::QueryParams& query,
                          http::HeaderList headers = {}, std::string_view body = {},
                          std::function<void(std::string_view)> sink = nullptr,
                          http::HttpRequest* out = nullptr, std::uint64_t expect = 0) const {
    http::HttpRequest req;
    req.method = method;
    req.url = container_url_;
    if (!blob_name.empty()) req.url += "/" + http::uri_encode(blob_name, true);
    if (!query.empty()) req.url += "?" + http::build_query(query);
    headers.emplace_back("x-ms-date", http::http_date(std::time(nullptr)));
    headers.emplace_back("x-ms-version", std::string(http::kAzureApiVersion));
    if (method == "PUT") headers.emplace_back("Content-Length", std::to_string(body.size()));
    if (!cfg_.key.empty()) {
      http::AzureSharedKeyRequest sk;
      sk.method = method;
      sk.account = cfg_.account;
      sk.path = http::parse_url(req.url).path;
      sk.query = query;
      sk.headers = headers;
      headers.emplace_back("Authorization", http::azure_sharedkey_sign(sk, cfg_.key).authorization);
    } else {
      req.url = http::azure_append_sas(req.url, cfg_.sas_token);
    }
    req.headers = std::move(headers);
    req.body = body;
    req.body_sink = std::move(sink);
    // Data transfers get a whole-request limit that grows with their size.
    req.timeout_ms =
        storage_internal::transfer_timeout_ms(std::max<std::uint64_t>(body.size(), expect));
    if (out) *out = req;
    try {
      return t.perform(req);
    } catch (const http::TransportError& e) {
      throw http::TransportError("Azure: " + std::string(e.what()), e.retryable(), e.code_text());
    }
  }

  // A PUT that creates something in the container: on 404 ContainerNotFound
  // the container is created (once per storage) and the PUT repeated.
  http::HttpResponse put(http::HttpTransport& t, const std::string& blob_name,
                         const http::QueryParams& query, const http::HeaderList& headers,
                         std::string_view body, http::HttpRequest& req) {
    http::HttpResponse r = send(t, "PUT", blob_name, query, headers, body, nullptr, &req);
    if (r.status == 404 && error_code(r) == "ContainerNotFound") {
      create_container(t);
      r = send(t, "PUT", blob_name, query, headers, body, nullptr, &req);
    }
    return r;
  }

 private:
  void create_container(http::HttpTransport& t) {
    std::lock_guard lock(container_mutex_);
    if (container_created_) return;
    http::HttpRequest req;
    http::HttpResponse r = send(t, "PUT", "", {{"restype", "container"}}, {}, {}, nullptr, &req);
    std::string code = error_code(r);
    if (is_success(r.status) || (r.status == 409 && code == "ContainerAlreadyExists")) {
      container_created_ = true;
      return;
    }
    Error e = http::status_error(kService, req, r);
    if (r.status == 401 || r.status == 403)
      throw Error(ErrorKind::storage, "Azure: container " + quoted(cfg_.container) +
                                          " does not exist in account " + quoted(cfg_.account) +
                                          " and these credentials may not create it (" + e.what() +
                                          ")");
    throw Error(ErrorKind::storage, "Azure: could not create missing container " +
                                        quoted(cfg_.container) + " (" + e.what() + ")");
  }

  AzureConfig cfg_;
  TransportFactory factory_;
  http::RetryPolicy policy_;
  std::string container_url_;
  std::mutex container_mutex_;
  bool container_created_ = false;
};

// ---- writing ----------------------------------------------------------------

// "blk-00000042" base64-encoded: 12 bytes give 16 characters, no padding;
// every id of an upload has the same length.
std::string block_id(std::uint64_t index) {
  char raw[32];
  std::snprintf(raw, sizeof raw, "blk-%08llu", static_cast<unsigned long long>(index));
  return http::base64_encode(raw);
}

class AzureWriter final : public ObjectWriter {
 public:
  AzureWriter(std::shared_ptr<AzureContext> ctx, std::shared_ptr<Connection> conn, std::string path)
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
      if (!is_success(r.status)) throw http::status_error(kService, req, r);
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
    if (!is_success(r.status)) throw http::status_error(kService, req, r);
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
      std::shared_ptr<Connection> conn = ctx_->connect();
      start_worker(std::move(conn));
    }
    work_.notify_one();
  }

  void start_worker(std::shared_ptr<Connection> conn) {
    workers_.push_back(
        start_signal_blocked_thread([this, conn = std::move(conn)] { worker(*conn); }));
  }

  void worker(Connection& conn) {
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

  void upload(Connection& conn, const Job& job) {
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->put(conn.retrying, blob_, {{"comp", "block"}, {"blockid", block_id(job.index)}}, {},
                  job.data, req);
    if (!is_success(r.status)) throw http::status_error(kService, req, r);
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
  std::shared_ptr<Connection> conn_;
  std::string path_;
  std::string blob_;
  std::size_t max_in_flight_;
  storage_internal::PartBuffers buffers_;
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

// ---- the driver ---------------------------------------------------------------

class AzureStorage final : public Storage {
 public:
  explicit AzureStorage(std::shared_ptr<AzureContext> ctx)
      : ctx_(std::move(ctx)), conn_(ctx_->connect()) {}

  std::string url() const override { return ctx_->url(); }

  std::optional<ObjectInfo> info(const std::string& path) override {
    storage_internal::validate_object_path(path);
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->send(conn_->retrying, "HEAD", ctx_->blob(path), {}, {}, {}, nullptr, &req);
    if (r.status == 404) return std::nullopt;
    if (!is_success(r.status)) throw http::status_error(kService, req, r);
    return ObjectInfo{path, parse_u64(r.header("content-length")),
                      http::parse_http_date(r.header("last-modified"))};
  }

  // A List Blobs of at most one blob: only ContainerNotFound says "no"; any
  // other failure (403 AuthorizationFailure, ...) does not tell.
  bool root_exists() override {
    http::QueryParams q{
        {"restype", "container"}, {"comp", "list"}, {"maxresults", "1"}, {"prefix", ctx_->root()}};
    http::HttpRequest req;
    http::HttpResponse r = ctx_->send(conn_->retrying, "GET", "", q, {}, {}, nullptr, &req);
    if (r.status == 404 && error_code(r) == "ContainerNotFound") return false;
    if (!is_success(r.status)) throw http::status_error(kService, req, r);
    return true;
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    storage_internal::validate_prefix(prefix);
    const std::string root = ctx_->root();
    std::vector<ObjectInfo> out;
    std::string marker;
    do {
      http::QueryParams q{{"restype", "container"}, {"comp", "list"}, {"prefix", root + prefix}};
      if (!marker.empty()) q.emplace_back("marker", marker);
      http::HttpRequest req;
      http::HttpResponse r = ctx_->send(conn_->retrying, "GET", "", q, {}, {}, nullptr, &req);
      // A container that does not exist yet holds no objects.
      if (r.status == 404 && error_code(r) == "ContainerNotFound") return {};
      if (!is_success(r.status)) throw http::status_error(kService, req, r);
      pugi::xml_document doc = http::parse_xml(r.body, "Azure: List Blobs");
      pugi::xml_node results = doc.child("EnumerationResults");
      if (!results)
        throw Error(ErrorKind::storage,
                    "Azure: List Blobs: unexpected response (no "
                    "EnumerationResults)");
      for (pugi::xml_node b : results.child("Blobs").children("Blob")) {
        std::string name = http::child_text(b, "Name");
        if (!name.starts_with(root)) continue;
        pugi::xml_node props = b.child("Properties");
        out.push_back({name.substr(root.size()),
                       parse_u64(http::child_text(props, "Content-Length")),
                       http::parse_http_date(http::child_text(props, "Last-Modified"))});
      }
      marker = http::child_text(results, "NextMarker");
    } while (!marker.empty());
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.path < b.path; });
    return out;
  }

  // The shared ranged reader; Azure's part is the GET with x-ms-range.
  std::unique_ptr<ObjectReader> open_read(const std::string& path) override {
    storage_internal::validate_object_path(path);
    storage_internal::RangedReaderSettings settings;
    settings.service = std::string(kService);
    settings.path = path;
    settings.repository_url = ctx_->url();
    auto fetch = [ctx = ctx_, conn = conn_,
                  blob = ctx_->blob(path)](const storage_internal::RangeGet& get) {
      http::HeaderList headers{{"x-ms-range", "bytes=" + std::to_string(get.offset) + "-" +
                                                  std::to_string(get.offset + get.length - 1)}};
      if (!get.if_match.empty()) headers.emplace_back("If-Match", get.if_match);
      storage_internal::RangeExchange ex;
      ex.response = ctx->send(conn->retrying, "GET", blob, {}, std::move(headers), {}, get.sink,
                              &ex.request, get.length);
      return ex;
    };
    return storage_internal::open_ranged_reader(std::move(settings), std::move(fetch));
  }

  std::unique_ptr<ObjectWriter> open_write(const std::string& path) override {
    storage_internal::validate_object_path(path);
    return std::make_unique<AzureWriter>(ctx_, conn_, path);
  }

  void remove(const std::string& path) override {
    storage_internal::validate_object_path(path);
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->send(conn_->retrying, "DELETE", ctx_->blob(path), {}, {}, {}, nullptr, &req);
    if (r.status == 404) return;
    if (!is_success(r.status)) throw http::status_error(kService, req, r);
  }

  // List, then one Delete Blob per object (no Blob Batch, see the top).
  void remove_prefix(const std::string& prefix) override {
    for (const ObjectInfo& obj : list(prefix)) remove(obj.path);
  }

 private:
  std::shared_ptr<AzureContext> ctx_;
  std::shared_ptr<Connection> conn_;
};

void validate(const AzureConfig& c) {
  auto bad = [](const std::string& what) {
    throw Error(ErrorKind::invalid_argument, "invalid Azure repository settings: " + what);
  };
  if (c.container.empty()) bad("the container name is empty");
  if (c.account.empty()) bad("the account name (pgvault.azure_account) is empty");
  if (c.key.empty() && c.sas_token.empty())
    bad("set either an account key (pgvault.azure_key) or a SAS token (pgvault.azure_sas_token)");
  if (!c.key.empty() && !c.sas_token.empty())
    bad("set only one of the account key (pgvault.azure_key) and the SAS token "
        "(pgvault.azure_sas_token)");
  if (!c.key.empty()) {
    bool ok = true;
    try {
      ok = !http::base64_decode(c.key).empty();
    } catch (const Error&) {
      ok = false;
    }
    if (!ok) bad("the account key (pgvault.azure_key) is not valid base64");
  }
  if (!c.prefix.empty() && (c.prefix.front() == '/' || c.prefix.back() == '/'))
    bad("the prefix must not start or end with '/'");
  if (c.block_size == 0 || c.block_size > kAzureMaxBlockSize)
    bad("the block size must be between 1 byte and 4000 MiB");
  if (c.single_put_limit > kMaxPutBlob) bad("the single-put limit must be at most 5000 MiB");
  if (c.blocks_in_flight < 1) bad("blocks in flight must be at least 1");
}

}  // namespace

std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config, TransportFactory transports,
                                            const http::RetryPolicy& retry) {
  validate(config);
  if (!transports) throw Error(ErrorKind::internal, "Azure: no transport factory");
  auto ctx = std::make_shared<AzureContext>(config, std::move(transports), retry);
  return std::make_unique<AzureStorage>(std::move(ctx));
}

std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config,
                                            TransportFactory transports) {
  return make_azure_storage(config, std::move(transports), http::RetryPolicy{});
}

}  // namespace pgvault
