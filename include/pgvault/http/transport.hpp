// One HTTP transport for the object-store drivers (S3, Azure Blob, GCS).
//
// HttpTransport::perform() sends one request and returns whatever HTTP status
// the server answered; it throws only for transport failures (DNS, connection
// refused or reset, timeout, TLS), as TransportError. RetryingTransport wraps
// any transport with exponential backoff and full jitter. CurlTransport is the
// libcurl implementation; the unit tests' fake, ScriptedTransport, lives in
// test/doubles (never in the core library).
//
// Secrets: no message produced here contains a request header value or the
// value of a signature/credential query parameter (see redact_url()).
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/error.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvault::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;       // "GET", "HEAD", "PUT", "POST", "DELETE", ...
  std::string url;          // absolute, already percent-encoded (and signed, if presigned)
  HeaderList headers;       // sent as given; a header with an empty value is sent empty
  std::string_view body;    // not owned: the caller keeps it alive during perform()
  long timeout_ms = 60000;  // whole request; 0 = no limit
  // Optional: the body of a 2xx response is passed here chunk by chunk
  // instead of being collected in HttpResponse::body (constant memory for
  // large GETs). Other statuses still fill HttpResponse::body, so error XML
  // can be read. An exception thrown by the sink aborts the transfer and is
  // rethrown by perform(). RetryingTransport does not retry once the sink has
  // received data (resume with a Range request instead).
  std::function<void(std::string_view)> body_sink;
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased, values trimmed, in arrival order
  std::string body;    // empty for HEAD

  // Value of the first header with this name (case-insensitive), "" if absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

// A transport failure: no HTTP response was received. kind() is storage.
// retryable() is true for failures that may go away by themselves (refused,
// reset, timeout, DNS, ...) and false for those that will not (TLS
// certificate rejected, malformed URL, unsupported protocol).
class TransportError : public Error {
 public:
  TransportError(const std::string& message, bool retryable, std::string code_text = {})
      : Error(ErrorKind::storage, message),
        retryable_(retryable),
        code_text_(std::move(code_text)) {}
  bool retryable() const noexcept { return retryable_; }
  // The library's name for the failure, e.g. "Couldn't connect to server".
  const std::string& code_text() const noexcept { return code_text_; }

 private:
  bool retryable_;
  std::string code_text_;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse perform(const HttpRequest& request) = 0;
};

// Creates one transport per thread that needs one: the object-store drivers
// (S3, GCS, Azure Blob) upload parts in parallel, each thread with its own
// connection.
using TransportFactory = std::function<std::unique_ptr<HttpTransport>()>;

// ---- libcurl ------------------------------------------------------------------

struct HttpOptions {
  bool verify_tls = true;           // peer certificate and host name
  std::string ca_file;              // PEM bundle; empty = system default
  long connect_timeout_ms = 10000;  // TCP + TLS handshake
  long stall_timeout_s = 60;        // abort when no byte moves for this long; 0 = off
};

// One CURL easy handle, reused for every request so connections are kept
// alive and reused. NOT thread-safe: use one CurlTransport per thread (the
// parallel part uploader gives each worker its own).
// HTTP/1.1 only, redirects are not followed, no Expect: 100-continue, and no
// Content-Type is added unless the request carries one (Azure SharedKey
// signs Content-Type). CURLOPT_AWS_SIGV4 is never used: drivers sign.
class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(const HttpOptions& options = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  HttpResponse perform(const HttpRequest& request) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- retries --------------------------------------------------------------------

struct RetryEvent {
  int attempt = 0;     // the attempt that failed (1-based)
  long delay_ms = 0;   // sleep before the next attempt
  long status = 0;     // HTTP status, 0 for a transport failure
  std::string reason;  // "HTTP 503" or the (redacted) transport error
};

struct RetryPolicy {
  int max_attempts = 5;  // total attempts, including the first
  long base_delay_ms = 200;
  long max_delay_ms = 20000;
  // Injectable for tests; defaults sleep for real / draw uniformly in [0, 1).
  std::function<void(long)> sleep;
  std::function<double()> random;
  // Called before each sleep (logging, tests).
  std::function<void(const RetryEvent&)> on_retry;
};

// Retries 429, 500, 502, 503, 504 and retryable TransportErrors; never other
// statuses. Delay before attempt n+1: uniform in [0, min(max, base * 2^(n-1))]
// (full jitter), or Retry-After (delta seconds) when the response has one,
// capped at max_delay_ms. After the last attempt the last response is
// returned, or the last TransportError rethrown (message says how many
// attempts were made). Only wrap requests that are safe to repeat.
class RetryingTransport : public HttpTransport {
 public:
  RetryingTransport(HttpTransport& inner, RetryPolicy policy = {});
  HttpResponse perform(const HttpRequest& request) override;
  // Attempts made by the last perform().
  int last_attempts() const noexcept { return last_attempts_; }

  static bool retryable_status(long status) noexcept;

 private:
  long backoff_ms(int attempt, const HttpResponse* response) const;

  HttpTransport& inner_;
  RetryPolicy policy_;
  int last_attempts_ = 0;
};

// ---- helpers ----------------------------------------------------------------------

// The URL with the values of signature/credential/token query parameters
// (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, X-Goog-Signature,
// sig, signature, access_token, ...) and any user:password@ replaced by
// "REDACTED". Also safe on free text that merely contains such a URL.
std::string redact_url(std::string_view url);

// True for headers whose values must never be logged (Authorization,
// x-amz-security-token, x-goog-*-token, Cookie, ...).
bool is_secret_header(std::string_view name);

// "host[:port]" of an absolute URL ("" if there is none).
std::string url_host(std::string_view url);

// "GET https://host/path?query" with the query redacted, for messages.
std::string describe_request(const HttpRequest& request);

}  // namespace pgvault::http
