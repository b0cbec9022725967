#include "doubles/scripted_transport.hpp"

#include <cctype>

namespace pgvault::http {

namespace {

std::string describe(const Expectation& e) {
  if (!e.description.empty()) return e.description;
  return (e.method.empty() ? std::string("any method") : e.method) + " " +
         (e.url_prefix.empty() ? std::string("any URL") : e.url_prefix + "...");
}

bool matches(const Expectation& e, const HttpRequest& r) {
  if (!e.method.empty() && e.method != r.method) return false;
  if (!r.url.starts_with(e.url_prefix)) return false;
  return !e.match || e.match(r);
}

}  // namespace

std::string RecordedRequest::header(std::string_view name) const {
  HttpResponse tmp;
  tmp.headers = headers;
  return tmp.header(name);
}

HttpResponse ScriptedTransport::response(long status, std::string body, HeaderList headers) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  for (auto& [k, v] : headers) {
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(k), std::move(v));
  }
  return r;
}

ScriptedTransport& ScriptedTransport::expect(Expectation e) {
  queue_.push_back(std::move(e));
  return *this;
}

ScriptedTransport& ScriptedTransport::expect(std::string method, std::string url_prefix,
                                             HttpResponse resp) {
  Expectation e;
  e.method = std::move(method);
  e.url_prefix = std::move(url_prefix);
  e.response = std::move(resp);
  return expect(std::move(e));
}

ScriptedTransport& ScriptedTransport::expect(std::string method, std::string url_prefix,
                                             long status, std::string body, HeaderList headers) {
  return expect(std::move(method), std::move(url_prefix),
                response(status, std::move(body), std::move(headers)));
}

ScriptedTransport& ScriptedTransport::expect_error(std::string method, std::string url_prefix,
                                                   std::string message, bool retryable,
                                                   std::string code_text) {
  Expectation e;
  e.method = std::move(method);
  e.url_prefix = std::move(url_prefix);
  e.error.emplace(message, retryable, std::move(code_text));
  return expect(std::move(e));
}

ScriptedTransport& ScriptedTransport::expect_handler(
    std::string method, std::string url_prefix,
    std::function<HttpResponse(const HttpRequest&)> handler) {
  Expectation e;
  e.method = std::move(method);
  e.url_prefix = std::move(url_prefix);
  e.handler = std::move(handler);
  return expect(std::move(e));
}

HttpResponse ScriptedTransport::perform(const HttpRequest& request) {
  requests_.push_back({request.method, request.url, request.headers, std::string(request.body)});
  const std::string n = std::to_string(requests_.size());
  if (queue_.empty()) {
    unexpected_.push_back("request #" + n + " " + describe_request(request) +
                          " arrived but no more requests were expected");
    throw Error(ErrorKind::internal, "ScriptedTransport: " + unexpected_.back());
  }
  if (!matches(queue_.front(), request)) {
    unexpected_.push_back("request #" + n + " " + describe_request(request) +
                          " does not match the expected " + describe(queue_.front()));
    throw Error(ErrorKind::internal, "ScriptedTransport: " + unexpected_.back());
  }
  Expectation e = std::move(queue_.front());
  queue_.pop_front();
  if (e.error) throw *e.error;
  HttpResponse r = e.handler ? e.handler(request) : std::move(e.response);
  if (request.body_sink && r.status >= 200 && r.status < 300) {
    if (!r.body.empty()) request.body_sink(r.body);
    r.body.clear();
  }
  return r;
}

std::string ScriptedTransport::verify() const {
  std::string out;
  for (const auto& u : unexpected_) out += "unexpected: " + u + "\n";
  for (const auto& e : queue_) out += "never requested: " + describe(e) + "\n";
  return out;
}

}  // namespace pgvault::http
