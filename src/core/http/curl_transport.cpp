// libcurl implementation of HttpTransport.
#include "pgvault/http/transport.hpp"
#include "pgvault/alert/alert.hpp"
#include "pgvault/text.hpp"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <cctype>
#include <exception>
#include <mutex>
#include <optional>

namespace pgvault::http {

namespace {

// libcurl is loaded with the first transport, not when a program starts: it
// brings some 28 shared libraries (TLS, Kerberos, LDAP, SSH, …) whose loading
// cost every `pgvault` process about 8 ms of CPU, and `pgvault wal-fetch`
// runs once per WAL segment of a recovery, mostly without the network (a
// segment taken from the prefetch spool, a file:// repository).
constexpr const char* kLibcurl = "libcurl.so.4";

struct CurlApi {
  CURLcode (*global_init)(long);
  const char* (*easy_strerror)(CURLcode);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  CURLcode (*easy_perform)(CURL*);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

template <typename F>
void bind(void* lib, F& function, const char* name) {
  void* symbol = ::dlsym(lib, name);
  if (!symbol)
    throw Error(ErrorKind::storage, std::string("cannot use ") + kLibcurl + ": it has no " + name);
  function = reinterpret_cast<F>(symbol);
}

CurlApi load_curl() {
  void* lib = ::dlopen(kLibcurl, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    throw Error(ErrorKind::storage, std::string("cannot load ") + kLibcurl +
                                        " for HTTP(S) object stores: " +
                                        (why ? why : "unknown error") + " (install libcurl4)");
  }
  CurlApi api{};
  bind(lib, api.global_init, "curl_global_init");
  bind(lib, api.easy_strerror, "curl_easy_strerror");
  bind(lib, api.easy_init, "curl_easy_init");
  bind(lib, api.easy_cleanup, "curl_easy_cleanup");
  bind(lib, api.easy_reset, "curl_easy_reset");
  bind(lib, api.easy_setopt, "curl_easy_setopt");
  bind(lib, api.easy_getinfo, "curl_easy_getinfo");
  bind(lib, api.easy_perform, "curl_easy_perform");
  bind(lib, api.slist_append, "curl_slist_append");
  bind(lib, api.slist_free_all, "curl_slist_free_all");
  return api;  // the library stays loaded for the life of the process
}

// Loaded and initialised once per process (a failed load is tried again).
const CurlApi& libcurl() {
  static std::mutex mu;
  static std::optional<CurlApi> api;
  std::lock_guard<std::mutex> lock(mu);
  if (!api) {
    CurlApi loaded = load_curl();
    CURLcode rc = loaded.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
      throw Error(ErrorKind::storage,
                  std::string("cannot initialise libcurl: ") + loaded.easy_strerror(rc));
    api = loaded;
  }
  return *api;
}

bool has_header(const HeaderList& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return ascii_lower(h.first) == ascii_lower(name); });
}

// Failures that may go away if the request is repeated.
bool retryable_code(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:  // handshake cut short; certificate problems differ
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { libcurl().slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void append(Slist& list, const std::string& line) {
  curl_slist* next = libcurl().slist_append(list.get(), line.c_str());
  if (!next) throw Error(ErrorKind::internal, "out of memory building HTTP headers");
  list.release();
  list.reset(next);
}

struct BodyContext {
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
  std::exception_ptr error;  // thrown by the sink; rethrown after the transfer
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* ctx = static_cast<BodyContext*>(user);
  const size_t n = size * nmemb;
  if (ctx->request->body_sink) {
    long status = 0;
    libcurl().easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      try {
        ctx->request->body_sink(std::string_view(data, n));
      } catch (...) {
        ctx->error = std::current_exception();
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      return n;
    }
  }
  ctx->response->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* resp = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * nmemb);
  if (line.starts_with("HTTP/")) {
    resp->headers.clear();  // a new response (after 100 Continue)
    return size * nmemb;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * nmemb;  // blank line ending the block
  resp->headers.emplace_back(ascii_lower(trim(line.substr(0, colon))),
                             std::string(trim(line.substr(colon + 1))));
  return size * nmemb;
}

}  // namespace

struct CurlTransport::Impl {
  HttpOptions options;
  CURL* curl = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
};

CurlTransport::CurlTransport(const HttpOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->curl = libcurl().easy_init();
  if (!impl_->curl) throw Error(ErrorKind::storage, "cannot create a libcurl handle");
}

CurlTransport::~CurlTransport() {
  if (impl_ && impl_->curl) libcurl().easy_cleanup(impl_->curl);
}

HttpResponse CurlTransport::perform(const HttpRequest& request) {
  CURL* c = impl_->curl;
  // Reset keeps live connections, the DNS cache and TLS sessions.
  libcurl().easy_reset(c);
  HttpResponse resp;
  Slist headers;
  for (const auto& [name, value] : request.headers)
    append(headers, value.empty() ? name + ";" : name + ": " + value);
  // Never let libcurl add headers of its own choosing to signed requests.
  if (!has_header(request.headers, "expect")) append(headers, "Expect:");
  const bool send_body = !request.body.empty() || request.method == "PUT" ||
                         request.method == "POST" || request.method == "PATCH";
  if (send_body && !has_header(request.headers, "content-type")) append(headers, "Content-Type:");

  const auto& o = impl_->options;
  impl_->errbuf[0] = '\0';
  libcurl().easy_setopt(c, CURLOPT_ERRORBUFFER, impl_->errbuf);
  libcurl().easy_setopt(c, CURLOPT_URL, request.url.c_str());
  libcurl().easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  libcurl().easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  libcurl().easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  libcurl().easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  libcurl().easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  libcurl().easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  if (!o.ca_file.empty()) libcurl().easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  libcurl().easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
  libcurl().easy_setopt(c, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  if (o.stall_timeout_s > 0) {
    libcurl().easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    libcurl().easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
  }
  libcurl().easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  libcurl().easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  libcurl().easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  BodyContext body_ctx{c, &request, &resp, nullptr};
  libcurl().easy_setopt(c, CURLOPT_WRITEDATA, &body_ctx);
  libcurl().easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  libcurl().easy_setopt(c, CURLOPT_HEADERDATA, &resp);

  if (request.method == "HEAD") {
    libcurl().easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (send_body) {
    // POSTFIELDS does not copy: the caller keeps request.body alive.
    libcurl().easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                          static_cast<curl_off_t>(request.body.size()));
    libcurl().easy_setopt(c, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
    libcurl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "GET") {
    libcurl().easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    libcurl().easy_setopt(c, CURLOPT_HTTPGET, 1L);
    libcurl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = libcurl().easy_perform(c);
  libcurl().easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (body_ctx.error) std::rethrow_exception(body_ctx.error);
  if (rc != CURLE_OK) {
    std::string code_text = libcurl().easy_strerror(rc);
    std::string detail = impl_->errbuf[0] ? impl_->errbuf : code_text;
    std::string msg = "HTTP " + describe_request(request) + " failed: " + redact_url(detail);
    if (rc == CURLE_PEER_FAILED_VERIFICATION)
      msg +=
          " (the server's TLS certificate was not accepted; trust its CA with "
          "pgvault.storage_ca_file)";
    else if (rc == CURLE_SSL_CACERT_BADFILE)
      msg += " (cannot load the CA file)";
    throw TransportError(msg, retryable_code(rc), code_text);
  }
  libcurl().easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace pgvault::http

// ---- SMTP (alerts by mail), on the same libcurl ---------------------------------

namespace pgvault::alert {

namespace {

struct MailReader {
  std::string_view rest;
};

size_t read_mail(char* buffer, size_t size, size_t nitems, void* user) {
  auto* reader = static_cast<MailReader*>(user);
  const size_t n = std::min(size * nitems, reader->rest.size());
  std::memcpy(buffer, reader->rest.data(), n);
  reader->rest.remove_prefix(n);
  return n;
}

bool loopback_host(const std::string& url) {
  const std::string host = http::url_host(url);
  const std::string name =
      host.starts_with("[") ? host.substr(0, host.find(']') + 1) : host.substr(0, host.find(':'));
  return name == "127.0.0.1" || name == "[::1]" || name == "localhost";
}

}  // namespace

void send_mail_with_curl(const MailSettings& settings, const OutgoingMail& mail) {
  const auto& api = http::libcurl();
  struct EasyDeleter {
    void operator()(CURL* c) const { http::libcurl().easy_cleanup(c); }
  };
  std::unique_ptr<CURL, EasyDeleter> handle(api.easy_init());
  if (!handle) throw Error(ErrorKind::storage, "cannot create a libcurl handle");
  CURL* c = handle.get();
  http::Slist recipients;
  for (const std::string& to : mail.to) http::append(recipients, "<" + to + ">");
  const std::string from = "<" + mail.from + ">";
  char errbuf[CURL_ERROR_SIZE] = {};
  MailReader reader{mail.message};
  api.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  api.easy_setopt(c, CURLOPT_URL, settings.smtp_url.c_str());
  api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(c, CURLOPT_TIMEOUT_MS, settings.timeout_ms);
  api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  // smtp://: STARTTLS when the server offers it; required before a password
  // is sent anywhere but to this machine. smtps:// is TLS from the start.
  const bool password = !settings.password.empty();
  api.easy_setopt(
      c, CURLOPT_USE_SSL,
      static_cast<long>(password && !loopback_host(settings.smtp_url) ? CURLUSESSL_ALL
                                                                      : CURLUSESSL_TRY));
  if (!settings.user.empty()) api.easy_setopt(c, CURLOPT_USERNAME, settings.user.c_str());
  if (password) api.easy_setopt(c, CURLOPT_PASSWORD, settings.password.c_str());
  api.easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  api.easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
  api.easy_setopt(c, CURLOPT_READFUNCTION, read_mail);
  api.easy_setopt(c, CURLOPT_READDATA, &reader);
  api.easy_setopt(c, CURLOPT_UPLOAD, 1L);
  const CURLcode rc = api.easy_perform(c);
  if (rc != CURLE_OK) {
    // The error buffer holds the server's reply ("550 ...") or the network
    // failure; neither carries the password.
    const std::string detail = errbuf[0] ? errbuf : api.easy_strerror(rc);
    throw Error(ErrorKind::storage,
                "mail through " + channel_label(settings.smtp_url) + " failed: " + detail);
  }
}

}  // namespace pgvault::alert
