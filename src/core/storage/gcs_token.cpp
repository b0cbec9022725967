// GcsTokenSource: the OAuth 2.0 JWT-bearer token exchange of a service
// account, with a cache shared by every thread of a storage.
#include "pgvault/error.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/http/xml.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/timestamp.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

namespace pgvault {

struct GcsTokenSource::Impl {
  http::GcsServiceAccount account;
  http::TransportFactory transports;
  http::RetryPolicy retry;
  UnixClock clock;

  std::mutex mutex;  // guards everything below
  std::unique_ptr<http::HttpTransport> transport;
  std::string token;
  std::int64_t refresh_at = 0;  // use the token while clock() < refresh_at

  std::string where() const { return "the token endpoint " + http::redact_url(account.token_uri); }

  // One token exchange; called with the mutex held.
  void fetch() {
    if (!transport) {
      transport = transports();
      if (!transport)
        throw Error(ErrorKind::internal, "GCS: the transport factory returned nothing");
    }
    const std::int64_t now = clock();
    const std::string assertion = http::gcs_jwt_assertion(account, now);
    const std::string body = http::gcs_token_request_body(assertion);
    http::HttpRequest req;
    req.method = "POST";
    req.url = account.token_uri;
    req.headers = {{"content-type", "application/x-www-form-urlencoded"},
                   {"accept", "application/json"}};
    req.body = body;
    http::RetryingTransport retrying(*transport, retry);
    http::HttpResponse resp;
    try {
      resp = retrying.perform(req);
    } catch (const http::TransportError& e) {
      // The transport's message names the URL only, never the body.
      throw http::TransportError(
          "GCS: could not get an access token from " + where() + ": " + e.what(), e.retryable(),
          e.code_text());
    }
    if (resp.status != 200) {
      std::string msg = "GCS: " + where() + " answered HTTP " + std::to_string(resp.status);
      if (auto phrase = http::reason_phrase(resp.status); !phrase.empty())
        msg += " " + std::string(phrase);
      if (std::string oauth = http::gcs_token_error_summary(resp.body);
          !oauth.empty() && oauth.find(assertion) == std::string::npos)
        msg += ": " + oauth;
      msg += " (service account " + account.client_email + ")";
      throw Error(ErrorKind::storage, msg);
    }
    http::GcsAccessToken t;
    try {
      t = http::gcs_parse_token_response(resp.body);
    } catch (const Error& e) {
      throw Error(ErrorKind::storage, std::string(e.what()) + " (" + where() + ")");
    }
    token = std::move(t.access_token);
    refresh_at = now + std::max(t.expires_in - kGcsTokenRefreshMargin, t.expires_in / 2);
  }
};

GcsTokenSource::GcsTokenSource(http::GcsServiceAccount account, http::TransportFactory transports,
                               http::RetryPolicy retry, UnixClock clock)
    : impl_(std::make_unique<Impl>()) {
  if (!transports) throw Error(ErrorKind::invalid_argument, "GCS: no transport factory");
  http::Url u;
  try {
    u = http::parse_url(account.token_uri);
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid_argument,
                "GCS service account: token_uri is not a URL: " + std::string(e.what()));
  }
  if (u.scheme != "https" && u.scheme != "http")
    throw Error(ErrorKind::invalid_argument,
                "GCS service account: token_uri must be an https:// URL");
  impl_->account = std::move(account);
  impl_->transports = std::move(transports);
  impl_->retry = std::move(retry);
  impl_->clock = clock ? std::move(clock) : UnixClock(unix_now);
}

GcsTokenSource::~GcsTokenSource() = default;

std::string GcsTokenSource::token() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->token.empty() || impl_->clock() >= impl_->refresh_at) impl_->fetch();
  return impl_->token;
}

void GcsTokenSource::invalidate(std::string_view rejected) {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->token.empty() && impl_->token == rejected) impl_->token.clear();
}

}  // namespace pgvault
