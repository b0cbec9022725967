// The S3 driver (s3://bucket/prefix): AWS S3 and S3-compatible stores. The
// same code serves the GCS XML API (gcs_storage.cpp) through an S3Dialect
// (s3_compatible.hpp): its own name in messages, authenticator, bucket
// creation and delete strategy.
//
// Object path P is stored under key "<prefix>/P" (just "P" with an empty
// prefix). Every request is authenticated by the dialect's authenticator
// (S3: AWS Signature V4, service "s3"; the key is percent-encoded once, '/'
// kept; x-amz-content-sha256 is the real SHA-256 of the body) and sent
// through a RetryingTransport (5xx, 429 and retryable transport failures,
// exponential backoff with full jitter). A 401 is sent once more when the
// authenticator can renew its credentials (an expired bearer token).
// Every request this driver sends is safe to repeat: GET, HEAD, PUT (object or part,
// same body), DELETE, ListObjectsV2, DeleteObjects, CreateMultipartUpload (a
// repeat only leaves an unused upload id, which lifecycle rules or a later
// abort clean) and CompleteMultipartUpload (S3 treats a repeated complete of
// the same upload id and part list idempotently: it answers 200 again, or
// NoSuchUpload if the first one already went through, which we report).
//
// A missing bucket: list() is empty and info() nullopt (nothing stored yet);
// root_exists() is false.
// The first write that hears NoSuchBucket creates the bucket once
// (CreateBucket with a LocationConstraint outside us-east-1, plus the
// dialect's headers) and retries; if that is refused, the error names the
// bucket as missing.
//
// remove_prefix() lists, then sends DeleteObjects with up to 1000 keys, or
// one DELETE per object when the dialect has no multi-object delete; then it
// aborts the unfinished multipart uploads under the prefix (ListMultipartUploads):
// a writer cut off from the store could not abort its own, and such uploads
// hold storage while staying invisible to ListObjectsV2.
//
// The Storage object, its readers and writers take a transport from one
// pool for each request (several threads read at once: a chain restore);
// part workers hold one each for the upload's life.
//
// The writer is s3_writer.cpp, the reader s3_reader.cpp; what the three
// share is s3_core.hpp.
#include "pgvault/storage/s3_storage.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/http/xml.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/timestamp.hpp"
#include "ranged_reader.hpp"  // transfer_timeout_ms
#include "s3_compatible.hpp"
#include "s3_core.hpp"
#include "storage_internal.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <utility>
#include <vector>

namespace pgvault {

namespace storage_internal {

namespace {

constexpr std::size_t kDeleteBatch = 1000;

std::string md5_base64(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr) != 1)
    throw Error(ErrorKind::internal, "MD5 digest failed");
  return http::base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// ListObjectsV2's LastModified, "2026-11-24T07:02:12.000Z" -> unix seconds
// (0 when malformed: an odd timestamp must not hide an object).
std::int64_t parse_last_modified(std::string_view s) {
  try {
    return parse_utc_timestamp(s);
  } catch (const Error&) {
    return 0;
  }
}

std::string trim_slashes(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(0, 1);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// SigV4 over the request as sent (host, the driver's headers, the body's hash).
class SigV4Authenticator final : public RequestAuthenticator {
 public:
  SigV4Authenticator(http::SigV4Credentials credentials, std::string region, SigV4Signer sign)
      : credentials_(std::move(credentials)), region_(std::move(region)), sign_(std::move(sign)) {}

  http::HeaderList authenticate(const OutgoingRequest& r) override {
    http::SigV4Request sr;
    sr.method = r.method;
    sr.path = r.path;
    sr.query = r.query;
    sr.headers.emplace_back("host", r.host);
    for (const auto& h : r.headers) sr.headers.push_back(h);
    sr.payload_hash = r.body.empty() ? std::string(http::kEmptyPayloadSha256) : sha256_hex(r.body);
    sr.timestamp = compact_timestamp(std::time(nullptr));
    sr.region = region_;
    sr.service = "s3";
    return sign_(std::move(sr), credentials_).headers;
  }

 private:
  http::SigV4Credentials credentials_;
  std::string region_;
  SigV4Signer sign_;
};

class S3Storage final : public Storage {
 public:
  explicit S3Storage(std::shared_ptr<S3Core> core) : core_(std::move(core)) {}

  std::string url() const override { return core_->url(); }

  std::optional<ObjectInfo> info(const std::string& path) override {
    validate_object_path(path);
    S3Request r;
    r.method = "HEAD";
    r.key = core_->key_of(path);
    S3Exchange ex = core_->send(r);
    if (ex.response.status == 404) return std::nullopt;
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    ObjectInfo oi;
    oi.path = path;
    oi.size = std::strtoull(ex.response.header("content-length").c_str(), nullptr, 10);
    oi.mtime_unix = parse_http_date(ex.response.header("last-modified"));
    return oi;
  }

  // A ListObjectsV2 of at most one key: only NoSuchBucket says "no"; any
  // other failure (403 AccessDenied, ...) does not tell, so it is an error.
  bool root_exists() override {
    S3Request r;
    r.method = "GET";
    r.bucket_level = true;
    r.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", core_->key_of("")}};
    S3Exchange ex = core_->send(r);
    if (S3Core::no_such_bucket(ex.response)) return false;
    if (!is_2xx(ex.response.status)) throw core_->failure(ex);
    if (auto e = http::extract_error(ex.response.body))
      throw Error(ErrorKind::storage, core_->service() +
                                          ": ListObjectsV2 answered with an error: " + e->code +
                                          " - " + e->message);
    return true;
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    validate_prefix(prefix);
    std::vector<ObjectInfo> out;
    const std::string root = root_prefix();
    list_pages(root + prefix, false, [&](const pugi::xml_node& page) {
      for (auto c = page.child("Contents"); c; c = c.next_sibling("Contents")) {
        std::string key = http::child_text(c, "Key");
        if (!key.starts_with(root) || key.size() == root.size() || key.back() == '/') continue;
        ObjectInfo oi;
        oi.path = key.substr(root.size());
        oi.size = std::strtoull(http::child_text(c, "Size").c_str(), nullptr, 10);
        oi.mtime_unix = parse_last_modified(http::child_text(c, "LastModified"));
        out.push_back(std::move(oi));
      }
    });
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.path < b.path; });
    return out;
  }

  // One CommonPrefixes entry per directory ("<dir><name>/").
  std::vector<std::string> list_directories(const std::string& dir) override {
    validate_directory(dir);
    std::vector<std::string> out;
    const std::string key_dir = root_prefix() + dir;
    list_pages(key_dir, true, [&](const pugi::xml_node& page) {
      for (auto c = page.child("CommonPrefixes"); c; c = c.next_sibling("CommonPrefixes"))
        if (auto name = listed_directory(http::child_text(c, "Prefix"), key_dir))
          out.push_back(std::move(*name));
    });
    return sorted_directories(std::move(out));
  }

  std::unique_ptr<ObjectReader> open_read(const std::string& path) override {
    validate_object_path(path);
    return open_s3_reader(core_, path);
  }

  std::unique_ptr<ObjectWriter> open_write(const std::string& path) override {
    validate_object_path(path);
    return open_s3_writer(core_, path);
  }

  void remove(const std::string& path) override {
    validate_object_path(path);
    S3Request r;
    r.method = "DELETE";
    r.key = core_->key_of(path);
    S3Exchange ex = core_->send(r);
    if (is_2xx(ex.response.status) || ex.response.status == 404) return;
    throw core_->failure(ex);
  }

  void remove_prefix(const std::string& prefix) override {
    std::vector<ObjectInfo> objects = list(prefix);
    if (!core_->dialect().multi_object_delete) {
      for (const ObjectInfo& o : objects) remove(o.path);
    } else {
      delete_objects(objects);
    }
    abort_uploads_under(prefix);
  }

 private:
  std::string root_prefix() const {
    return core_->config().prefix.empty() ? "" : core_->config().prefix + "/";
  }

  // ListObjectsV2 of every key under key_prefix (grouped by '/' when
  // delimited), each page's ListBucketResult to on_page; a missing bucket
  // has no pages.
  template <typename F>
  void list_pages(const std::string& key_prefix, bool delimited, F&& on_page) {
    std::string token;
    while (true) {
      S3Request r;
      r.method = "GET";
      r.bucket_level = true;
      r.query = {{"list-type", "2"}, {"prefix", key_prefix}};
      if (delimited) r.query.emplace_back("delimiter", "/");
      if (!token.empty()) r.query.emplace_back("continuation-token", token);
      S3Exchange ex = core_->send(r);
      if (S3Core::no_such_bucket(ex.response)) return;  // nothing stored yet
      if (!is_2xx(ex.response.status)) throw core_->failure(ex);
      if (auto e = http::extract_error(ex.response.body))
        throw Error(ErrorKind::storage, core_->service() +
                                            ": ListObjectsV2 answered with an error: " + e->code +
                                            " - " + e->message);
      auto doc = http::parse_xml(ex.response.body, core_->service() + " ListObjectsV2");
      auto page = doc.document_element();
      on_page(page);
      if (http::child_text(page, "IsTruncated") != "true") return;
      std::string next = http::child_text(page, "NextContinuationToken");
      if (next.empty() || next == token)
        throw Error(
            ErrorKind::storage,
            core_->service() + ": ListObjectsV2 is truncated but gave no new continuation token");
      token = next;
    }
  }

  void abort_uploads_under(const std::string& prefix) {
    const std::string key_prefix = root_prefix() + prefix;
    std::string key_marker, upload_id_marker;
    while (true) {
      S3Request r;
      r.method = "GET";
      r.bucket_level = true;
      r.query = {{"uploads", ""}, {"prefix", key_prefix}};
      if (!key_marker.empty()) {
        r.query.emplace_back("key-marker", key_marker);
        r.query.emplace_back("upload-id-marker", upload_id_marker);
      }
      S3Exchange ex = core_->send(r);
      if (S3Core::no_such_bucket(ex.response)) return;
      if (!is_2xx(ex.response.status)) throw core_->failure(ex);
      auto doc = http::parse_xml(ex.response.body, core_->service() + " ListMultipartUploads");
      auto root = doc.document_element();
      for (auto u = root.child("Upload"); u; u = u.next_sibling("Upload")) {
        S3Request abort;
        abort.method = "DELETE";
        abort.key = http::child_text(u, "Key");
        abort.query = {{"uploadId", http::child_text(u, "UploadId")}};
        S3Exchange aborted = core_->send(abort);
        // 404 NoSuchUpload: finished or aborted meanwhile.
        if (!is_2xx(aborted.response.status) && aborted.response.status != 404)
          throw core_->failure(aborted);
      }
      if (http::child_text(root, "IsTruncated") != "true") return;
      std::string next_key = http::child_text(root, "NextKeyMarker");
      std::string next_id = http::child_text(root, "NextUploadIdMarker");
      if (next_key.empty() || (next_key == key_marker && next_id == upload_id_marker))
        throw Error(ErrorKind::storage, core_->service() +
                                            ": ListMultipartUploads is truncated but gave no new "
                                            "marker");
      key_marker = next_key;
      upload_id_marker = next_id;
    }
  }

  void delete_objects(const std::vector<ObjectInfo>& objects) {
    for (std::size_t start = 0; start < objects.size(); start += kDeleteBatch) {
      std::size_t end = std::min(objects.size(), start + kDeleteBatch);
      std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
      for (std::size_t i = start; i < end; ++i)
        body += "<Object><Key>" + xml_escape(core_->key_of(objects[i].path)) + "</Key></Object>";
      body += "</Delete>";
      S3Request r;
      r.method = "POST";
      r.bucket_level = true;
      r.query = {{"delete", ""}};
      r.headers.emplace_back("content-md5", md5_base64(body));
      r.headers.emplace_back("content-type", "application/xml");
      r.body = body;
      S3Exchange ex = core_->send(r);
      if (!is_2xx(ex.response.status)) throw core_->failure(ex);
      if (auto e = http::extract_error(ex.response.body))
        throw Error(ErrorKind::storage, core_->service() +
                                            ": DeleteObjects answered with an error: " + e->code +
                                            " - " + e->message);
      if (ex.response.body.empty()) continue;
      auto doc = http::parse_xml(ex.response.body, core_->service() + " DeleteObjects");
      auto err = doc.document_element().child("Error");
      if (err) {
        std::size_t count = 0;
        for (auto n = err; n; n = n.next_sibling("Error")) ++count;
        throw Error(ErrorKind::storage,
                    core_->service() + ": DeleteObjects could not delete " + std::to_string(count) +
                        " object(s), first " + quoted(http::child_text(err, "Key")) + ": " +
                        http::child_text(err, "Code") + " - " + http::child_text(err, "Message"));
      }
    }
  }

  std::shared_ptr<S3Core> core_;
};

S3Config validated(S3Config c, const S3Dialect& dialect) {
  auto bad_config = [&](const std::string& field, const std::string& why) {
    throw Error(ErrorKind::invalid_argument,
                "invalid " + dialect.service + " setting " + field + ": " + why);
  };
  c.prefix = trim_slashes(c.prefix);
  if (c.bucket.empty()) bad_config("bucket", "must not be empty");
  if (c.bucket.find('/') != std::string::npos) bad_config("bucket", "must not contain '/'");
  if (c.region.empty()) bad_config("region", "must not be empty");
  if (c.uri_style != "host" && c.uri_style != "path")
    bad_config("uri_style", "\"" + c.uri_style + "\" is neither \"host\" nor \"path\"");
  if (!dialect.authenticator) {
    if (c.access_key_id.empty()) bad_config("access_key_id", "must not be empty");
    if (c.secret_access_key.empty()) bad_config("secret_access_key", "must not be empty");
  }
  if (!c.prefix.empty()) {
    try {
      validate_object_path(c.prefix);
    } catch (const Error& e) {
      bad_config("prefix", e.what());
    }
  }
  if (!c.endpoint.empty()) {
    http::Url u;
    try {
      u = http::parse_url(c.endpoint);
    } catch (const Error& e) {
      bad_config("endpoint", e.what());
    }
    if (u.scheme != "http" && u.scheme != "https")
      bad_config("endpoint", "\"" + c.endpoint + "\" must start with http:// or https://");
    if ((u.path != "/" && !u.path.empty()) || !u.query.empty())
      bad_config("endpoint", "\"" + c.endpoint + "\" must not have a path or query");
  }
  if (c.part_size < kS3MinPartSize || c.part_size > kS3MaxPartSize)
    bad_config("part_size", std::to_string(c.part_size) + " is not between 5 MiB and 5 GiB");
  if (c.parts_in_flight < 1 || c.parts_in_flight > 64)
    bad_config("parts_in_flight", std::to_string(c.parts_in_flight) + " is not between 1 and 64");
  if (c.single_put_limit > kS3MaxPartSize)
    bad_config("single_put_limit", std::to_string(c.single_put_limit) + " is above 5 GiB");
  return c;
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---- S3Core -----------------------------------------------------------------------

S3Core::S3Core(S3Config config, S3Dialect dialect, http::TransportFactory factory,
               http::RetryPolicy retry)
    : config_(std::move(config)),
      dialect_(std::move(dialect)),
      retry_(std::move(retry)),
      pool_(std::move(factory), dialect_.service) {
  if (!dialect_.authenticator)
    dialect_.authenticator = make_sigv4_authenticator(
        {config_.access_key_id, config_.secret_access_key, config_.session_token, true},
        config_.region, http::sigv4_sign);
  if (config_.endpoint.empty()) {
    scheme_ = "https";
    host_ = "s3." + config_.region + ".amazonaws.com";
  } else {
    http::Url u = http::parse_url(config_.endpoint);
    scheme_ = u.scheme;
    host_ = u.host_header();
  }
}

std::string S3Core::url() const {
  return dialect_.scheme + "://" + config_.bucket +
         (config_.prefix.empty() ? "" : "/" + config_.prefix);
}

std::string S3Core::key_of(const std::string& path) const {
  if (config_.prefix.empty()) return path;
  return path.empty() ? config_.prefix + "/" : config_.prefix + "/" + path;
}

http::HttpRequest S3Core::build(const S3Request& r) const {
  bool path_style = config_.uri_style == "path";
  OutgoingRequest out;
  out.method = r.method;
  out.host = path_style ? host_ : config_.bucket + "." + host_;
  out.path = path_style ? "/" + http::uri_encode(config_.bucket) : std::string();
  if (!r.bucket_level) out.path += "/" + http::uri_encode(r.key, true);
  if (out.path.empty()) out.path = "/";
  out.query = r.query;
  out.headers = r.headers;
  out.body = r.body;

  http::HttpRequest req;
  req.method = r.method;
  req.url = scheme_ + "://" + out.host + out.path;
  if (!r.query.empty()) req.url += "?" + http::build_query(r.query);
  req.headers = r.headers;
  for (auto& h : dialect_.authenticator->authenticate(out)) req.headers.push_back(std::move(h));
  req.body = r.body;
  req.body_sink = r.body_sink;
  req.timeout_ms = transfer_timeout_ms(std::max<std::uint64_t>(r.body.size(), r.expected_bytes));
  return req;
}

S3Exchange S3Core::send(http::HttpTransport& t, const S3Request& r) const {
  S3Exchange ex = send_once(t, r);
  if (ex.response.status == 401 && dialect_.authenticator->renew_after_unauthorized(ex.request))
    ex = send_once(t, r);
  return ex;
}

S3Exchange S3Core::send(const S3Request& r) {
  TransportPool::Lease transport = pool_.lease();
  return send(*transport, r);
}

std::string S3Core::error_code(const http::HttpResponse& resp) {
  if (auto e = http::extract_error(resp.body)) return e->code;
  return resp.header("x-amz-error-code");
}

bool S3Core::no_such_bucket(const http::HttpResponse& resp) {
  return resp.status == 404 && error_code(resp) == "NoSuchBucket";
}

Error S3Core::bucket_missing(const http::HttpResponse& resp, const std::string& extra) const {
  return Error(ErrorKind::storage, service() + ": bucket " + quoted(config_.bucket) +
                                       " does not exist (" + service() + " answered " +
                                       std::to_string(resp.status) + " NoSuchBucket)" + extra);
}

Error S3Core::failure(const S3Exchange& ex) const {
  if (no_such_bucket(ex.response)) return bucket_missing(ex.response);
  return http::status_error(service(), ex.request, ex.response);
}

S3Exchange S3Core::send_creating_bucket(http::HttpTransport* t, const S3Request& r) {
  S3Exchange ex = t ? send(*t, r) : send(r);
  if (!no_such_bucket(ex.response)) return ex;
  if (!dialect_.cannot_create_bucket.empty())
    throw bucket_missing(ex.response,
                         "; it is not created automatically: " + dialect_.cannot_create_bucket);
  if (bucket_create_tried_.exchange(true)) throw bucket_missing(ex.response);
  create_bucket(ex.response);
  ex = t ? send(*t, r) : send(r);
  if (no_such_bucket(ex.response)) throw bucket_missing(ex.response);
  return ex;
}

S3Exchange S3Core::send_once(http::HttpTransport& t, const S3Request& r) const {
  S3Exchange ex;
  ex.request = build(r);
  http::RetryingTransport retrying(t, retry_);
  try {
    ex.response = retrying.perform(ex.request);
  } catch (const http::TransportError& e) {
    // Name the store; the message already names the request (redacted).
    throw http::TransportError(service() + ": " + e.what(), e.retryable(), e.code_text());
  }
  return ex;
}

void S3Core::create_bucket(const http::HttpResponse& original) {
  S3Request cr;
  cr.method = "PUT";
  cr.bucket_level = true;
  cr.headers = dialect_.create_bucket_headers;
  std::string body;
  if (dialect_.location_constraint && config_.region != "us-east-1") {
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        xml_escape(config_.region) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  cr.body = body;
  S3Exchange ex = send(cr);
  if (is_2xx(ex.response.status)) return;
  std::string code = error_code(ex.response);
  if (ex.response.status == 409 && code == "BucketAlreadyOwnedByYou") return;
  throw bucket_missing(
      original, " and could not be created: " +
                    std::string(http::status_error(service(), ex.request, ex.response).what()));
}

std::shared_ptr<RequestAuthenticator> make_sigv4_authenticator(http::SigV4Credentials credentials,
                                                               std::string region,
                                                               SigV4Signer sign) {
  return std::make_shared<SigV4Authenticator>(std::move(credentials), std::move(region),
                                              std::move(sign));
}

std::unique_ptr<Storage> make_s3_compatible_storage(const S3Config& config, S3Dialect dialect,
                                                    http::TransportFactory transports,
                                                    http::RetryPolicy retry) {
  if (!transports)
    throw Error(ErrorKind::invalid_argument, dialect.service + ": no transport factory");
  S3Config checked = validated(config, dialect);
  auto core = std::make_shared<S3Core>(std::move(checked), std::move(dialect),
                                       std::move(transports), std::move(retry));
  return std::make_unique<S3Storage>(std::move(core));
}

}  // namespace storage_internal

std::uint64_t s3_part_size(std::uint64_t first_part_size, int part_number) {
  using storage_internal::kS3MaxPartSize;
  const int doublings =
      part_number <= 1 ? 0 : (part_number - 1) / storage_internal::kS3PartsPerDoubling;
  std::uint64_t size = std::max(first_part_size, storage_internal::kS3MinPartSize);
  for (int i = 0; i < doublings && size < kS3MaxPartSize; ++i) size *= 2;
  return std::min(size, kS3MaxPartSize);
}

std::unique_ptr<Storage> make_s3_storage(const S3Config& config, http::TransportFactory transports,
                                         http::RetryPolicy retry) {
  return storage_internal::make_s3_compatible_storage(config, storage_internal::S3Dialect{},
                                                      std::move(transports), std::move(retry));
}

std::unique_ptr<Storage> make_s3_storage(const S3Config& config,
                                         http::TransportFactory transports) {
  return make_s3_storage(config, std::move(transports), http::RetryPolicy{});
}

}  // namespace pgvault
