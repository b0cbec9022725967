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
// A missing container lists as empty (root_exists() is false) and is
// created on the first write that finds it missing
// (404 ContainerNotFound), once; if the credentials may not create it (SAS
// without that permission: 403), the error says the container is missing.
//
// remove_prefix() lists and deletes blob by blob: Blob Batch is not used (it
// needs a multipart/mixed body and is not supported by Azurite).
//
// The writer is azure_writer.cpp; what the two share is azure_core.hpp.
#include "pgvault/storage/azure_storage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/http/xml.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"
#include "azure_core.hpp"
#include "ranged_reader.hpp"
#include "storage_internal.hpp"

#include <algorithm>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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

namespace storage_internal {

std::string azure_error_code(const http::HttpResponse& r) {
  if (auto e = http::extract_error(r.body); e && !e->code.empty()) return e->code;
  return r.header("x-ms-error-code");
}

AzureContext::AzureContext(AzureConfig config, http::TransportFactory factory,
                           http::RetryPolicy policy)
    : cfg_(std::move(config)),
      policy_(std::move(policy)),
      pool_(std::move(factory), std::string(kAzureService)) {
  while (!cfg_.endpoint.empty() && cfg_.endpoint.back() == '/') cfg_.endpoint.pop_back();
  if (cfg_.endpoint.empty()) cfg_.endpoint = "https://" + cfg_.account + ".blob.core.windows.net";
  container_url_ = cfg_.endpoint + "/" + http::uri_encode(cfg_.container);
  // Validates the endpoint (scheme, host, port; no user-info).
  (void)http::parse_url(container_url_);
}

std::shared_ptr<AzureConnection> AzureContext::connect() const {
  return std::make_shared<AzureConnection>(pool_.lease(), policy_);
}

std::string AzureContext::url() const {
  return "azure://" + cfg_.container + (cfg_.prefix.empty() ? "" : "/" + cfg_.prefix);
}

http::HttpResponse AzureContext::send(http::HttpTransport& t, const std::string& method,
                                      const std::string& blob_name, const http::QueryParams& query,
                                      http::HeaderList headers, std::string_view body,
                                      std::function<void(std::string_view)> sink,
                                      http::HttpRequest* out, std::uint64_t expect) const {
  http::HttpRequest req;
  req.method = method;
  req.url = container_url_;
  if (!blob_name.empty()) req.url += "/" + http::uri_encode(blob_name, true);
  if (!query.empty()) req.url += "?" + http::build_query(query);
  headers.emplace_back("x-ms-date", http_date(std::time(nullptr)));
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
  req.timeout_ms = transfer_timeout_ms(std::max<std::uint64_t>(body.size(), expect));
  if (out) *out = req;
  try {
    return t.perform(req);
  } catch (const http::TransportError& e) {
    throw http::TransportError("Azure: " + std::string(e.what()), e.retryable(), e.code_text());
  }
}

http::HttpResponse AzureContext::put(http::HttpTransport& t, const std::string& blob_name,
                                     const http::QueryParams& query,
                                     const http::HeaderList& headers, std::string_view body,
                                     http::HttpRequest& req) {
  http::HttpResponse r = send(t, "PUT", blob_name, query, headers, body, nullptr, &req);
  if (r.status == 404 && azure_error_code(r) == "ContainerNotFound") {
    create_container(t);
    r = send(t, "PUT", blob_name, query, headers, body, nullptr, &req);
  }
  return r;
}

void AzureContext::create_container(http::HttpTransport& t) {
  std::lock_guard lock(container_mutex_);
  if (container_created_) return;
  http::HttpRequest req;
  http::HttpResponse r = send(t, "PUT", "", {{"restype", "container"}}, {}, {}, nullptr, &req);
  std::string code = azure_error_code(r);
  if (is_2xx(r.status) || (r.status == 409 && code == "ContainerAlreadyExists")) {
    container_created_ = true;
    return;
  }
  Error e = http::status_error(kAzureService, req, r);
  if (r.status == 401 || r.status == 403)
    throw Error(ErrorKind::storage, "Azure: container " + quoted(cfg_.container) +
                                        " does not exist in account " + quoted(cfg_.account) +
                                        " and these credentials may not create it (" + e.what() +
                                        ")");
  throw Error(ErrorKind::storage, "Azure: could not create missing container " +
                                      quoted(cfg_.container) + " (" + e.what() + ")");
}

}  // namespace storage_internal

namespace {

using namespace storage_internal;

constexpr std::uint64_t kMaxPutBlob = 5000ull << 20;  // Put Blob limit (version 2019-12-12+)

std::uint64_t parse_u64(const std::string& s) {
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

class AzureStorage final : public Storage {
 public:
  explicit AzureStorage(std::shared_ptr<AzureContext> ctx) : ctx_(std::move(ctx)) {}

  std::string url() const override { return ctx_->url(); }

  std::optional<ObjectInfo> info(const std::string& path) override {
    validate_object_path(path);
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->send(ctx_->connect()->retrying, "HEAD", ctx_->blob(path), {}, {}, {}, nullptr, &req);
    if (r.status == 404) return std::nullopt;
    if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
    return ObjectInfo{path, parse_u64(r.header("content-length")),
                      parse_http_date(r.header("last-modified"))};
  }

  // A List Blobs of at most one blob: only ContainerNotFound says "no"; any
  // other failure (403 AuthorizationFailure, ...) does not tell.
  bool root_exists() override {
    http::QueryParams q{
        {"restype", "container"}, {"comp", "list"}, {"maxresults", "1"}, {"prefix", ctx_->root()}};
    http::HttpRequest req;
    http::HttpResponse r =
        ctx_->send(ctx_->connect()->retrying, "GET", "", q, {}, {}, nullptr, &req);
    if (r.status == 404 && azure_error_code(r) == "ContainerNotFound") return false;
    if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
    return true;
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    validate_prefix(prefix);
    const std::string root = ctx_->root();
    std::vector<ObjectInfo> out;
    list_pages(root + prefix, false, [&](const pugi::xml_node& blobs) {
      for (pugi::xml_node b : blobs.children("Blob")) {
        std::string name = http::child_text(b, "Name");
        if (!name.starts_with(root)) continue;
        pugi::xml_node props = b.child("Properties");
        out.push_back({name.substr(root.size()),
                       parse_u64(http::child_text(props, "Content-Length")),
                       parse_http_date(http::child_text(props, "Last-Modified"))});
      }
    });
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.path < b.path; });
    return out;
  }

  // One BlobPrefix entry per directory ("<dir><name>/").
  std::vector<std::string> list_directories(const std::string& dir) override {
    validate_directory(dir);
    const std::string blob_dir = ctx_->root() + dir;
    std::vector<std::string> out;
    list_pages(blob_dir, true, [&](const pugi::xml_node& blobs) {
      for (pugi::xml_node p : blobs.children("BlobPrefix"))
        if (auto name = listed_directory(http::child_text(p, "Name"), blob_dir))
          out.push_back(std::move(*name));
    });
    return sorted_directories(std::move(out));
  }

  // The shared ranged reader; Azure's part is the GET with x-ms-range.
  std::unique_ptr<ObjectReader> open_read(const std::string& path) override {
    validate_object_path(path);
    RangedReaderSettings settings;
    settings.service = std::string(kAzureService);
    settings.path = path;
    settings.repository_url = ctx_->url();
    auto fetch = [ctx = ctx_, blob = ctx_->blob(path)](const RangeGet& get) {
      http::HeaderList headers{{"x-ms-range", "bytes=" + std::to_string(get.offset) + "-" +
                                                  std::to_string(get.offset + get.length - 1)}};
      if (!get.if_match.empty()) headers.emplace_back("If-Match", get.if_match);
      RangeExchange ex;
      ex.response = ctx->send(ctx->connect()->retrying, "GET", blob, {}, std::move(headers), {},
                              get.sink, &ex.request, get.length);
      return ex;
    };
    return open_ranged_reader(std::move(settings), std::move(fetch));
  }

  std::unique_ptr<ObjectWriter> open_write(const std::string& path) override {
    validate_object_path(path);
    return open_azure_writer(ctx_, ctx_->connect(), path);
  }

  void remove(const std::string& path) override {
    validate_object_path(path);
    http::HttpRequest req;
    http::HttpResponse r = ctx_->send(ctx_->connect()->retrying, "DELETE", ctx_->blob(path), {}, {},
                                      {}, nullptr, &req);
    if (r.status == 404) return;
    if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
  }

  // List, then one Delete Blob per object (no Blob Batch, see the top).
  void remove_prefix(const std::string& prefix) override {
    for (const ObjectInfo& obj : list(prefix)) remove(obj.path);
  }

 private:
  // List Blobs of every blob under blob_prefix (grouped by '/' when
  // delimited), each page's <Blobs> to on_page; a missing container has no
  // pages.
  template <typename F>
  void list_pages(const std::string& blob_prefix, bool delimited, F&& on_page) {
    std::string marker;
    do {
      http::QueryParams q{{"restype", "container"}, {"comp", "list"}, {"prefix", blob_prefix}};
      if (delimited) q.emplace_back("delimiter", "/");
      if (!marker.empty()) q.emplace_back("marker", marker);
      http::HttpRequest req;
      http::HttpResponse r =
          ctx_->send(ctx_->connect()->retrying, "GET", "", q, {}, {}, nullptr, &req);
      // A container that does not exist yet holds no objects.
      if (r.status == 404 && azure_error_code(r) == "ContainerNotFound") return;
      if (!is_2xx(r.status)) throw http::status_error(kAzureService, req, r);
      pugi::xml_document doc = http::parse_xml(r.body, "Azure: List Blobs");
      pugi::xml_node results = doc.child("EnumerationResults");
      if (!results)
        throw Error(ErrorKind::storage,
                    "Azure: List Blobs: unexpected response (no "
                    "EnumerationResults)");
      on_page(results.child("Blobs"));
      marker = http::child_text(results, "NextMarker");
    } while (!marker.empty());
  }

  std::shared_ptr<AzureContext> ctx_;
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

std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config,
                                            http::TransportFactory transports,
                                            const http::RetryPolicy& retry) {
  validate(config);
  if (!transports) throw Error(ErrorKind::internal, "Azure: no transport factory");
  auto ctx = std::make_shared<AzureContext>(config, std::move(transports), retry);
  return std::make_unique<AzureStorage>(std::move(ctx));
}

std::unique_ptr<Storage> make_azure_storage(const AzureConfig& config,
                                            http::TransportFactory transports) {
  return make_azure_storage(config, std::move(transports), http::RetryPolicy{});
}

}  // namespace pgvault
