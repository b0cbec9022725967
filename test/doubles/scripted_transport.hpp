// A fake HttpTransport for unit tests: a queue of expected requests, each
// answered with a canned response (or a handler's, or a TransportError), in
// order. Every request is recorded. A request that does not match the next
// expectation (or arrives when none is left) is recorded in unexpected() and
// answered by throwing Error(internal) naming both, so the test fails clearly
// even if the code under test swallows the exception: assert
// `transport.verify()` (or check unexpected()/pending()) at the end.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/http/transport.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pgvault::http {

struct RecordedRequest {
  std::string method;
  std::string url;
  HeaderList headers;
  std::string body;                                 // copied
  std::string header(std::string_view name) const;  // case-insensitive, "" if absent
};

struct Expectation {
  std::string method;      // empty = any method
  std::string url_prefix;  // the request URL must start with this (empty = any)
  std::function<bool(const HttpRequest&)> match;  // optional extra predicate
  std::string description;                        // shown in failures (optional)
  // The answer: error if set, else handler's response, else response. A 2xx
  // body is passed to the request's body_sink when it has one, as libcurl does.
  std::function<HttpResponse(const HttpRequest&)> handler;
  std::optional<TransportError> error;
  HttpResponse response;
};

class ScriptedTransport : public HttpTransport {
 public:
  // Canned responses.
  static HttpResponse response(long status, std::string body = {}, HeaderList headers = {});

  ScriptedTransport& expect(Expectation e);
  ScriptedTransport& expect(std::string method, std::string url_prefix, HttpResponse resp);
  ScriptedTransport& expect(std::string method, std::string url_prefix, long status,
                            std::string body = {}, HeaderList headers = {});
  ScriptedTransport& expect_error(std::string method, std::string url_prefix, std::string message,
                                  bool retryable, std::string code_text = "scripted failure");
  ScriptedTransport& expect_handler(std::string method, std::string url_prefix,
                                    std::function<HttpResponse(const HttpRequest&)> handler);

  HttpResponse perform(const HttpRequest& request) override;

  const std::vector<RecordedRequest>& requests() const noexcept { return requests_; }
  const std::vector<std::string>& unexpected() const noexcept { return unexpected_; }
  std::size_t pending() const noexcept { return queue_.size(); }
  // "" when every expectation was met and nothing unexpected arrived,
  // otherwise a description of what went wrong.
  std::string verify() const;

 private:
  std::deque<Expectation> queue_;
  std::vector<RecordedRequest> requests_;
  std::vector<std::string> unexpected_;
};

}  // namespace pgvault::http
