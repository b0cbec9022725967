// RetryingTransport: exponential backoff with full jitter.
#include "pgvault/http/transport.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>

namespace pgvault::http {

namespace {

void real_sleep(long ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

double real_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

// Retry-After as delta seconds; -1 when absent or an HTTP date (then the
// usual backoff applies).
long retry_after_ms(const HttpResponse& resp) {
  std::string v = resp.header("retry-after");
  if (v.empty() || v.size() > 9) return -1;
  if (!std::all_of(v.begin(), v.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return -1;
  return std::stol(v) * 1000;
}

}  // namespace

RetryingTransport::RetryingTransport(HttpTransport& inner, RetryPolicy policy)
    : inner_(inner), policy_(std::move(policy)) {
  if (policy_.max_attempts < 1) policy_.max_attempts = 1;
  if (policy_.base_delay_ms < 0) policy_.base_delay_ms = 0;
  if (policy_.max_delay_ms < 0) policy_.max_delay_ms = 0;
  if (!policy_.sleep) policy_.sleep = real_sleep;
  if (!policy_.random) policy_.random = real_random;
}

bool RetryingTransport::retryable_status(long status) noexcept {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

long RetryingTransport::backoff_ms(int attempt, const HttpResponse* response) const {
  if (response) {
    long ra = retry_after_ms(*response);
    if (ra >= 0) return std::min(ra, policy_.max_delay_ms);
  }
  // base * 2^(attempt-1), saturating at max_delay_ms.
  long cap = policy_.base_delay_ms;
  for (int i = 1; i < attempt && cap < policy_.max_delay_ms; ++i) cap *= 2;
  cap = std::min(cap, policy_.max_delay_ms);
  double r = std::clamp(policy_.random(), 0.0, 1.0);
  return static_cast<long>(r * static_cast<double>(cap));
}

HttpResponse RetryingTransport::perform(const HttpRequest& original) {
  // With a body sink, count what it received: a failure after that point
  // cannot be repeated without delivering the data twice.
  std::uint64_t streamed = 0;
  std::optional<HttpRequest> wrapped;
  if (original.body_sink) {
    wrapped.emplace(original);
    wrapped->body_sink = [&streamed, &original](std::string_view chunk) {
      streamed += chunk.size();
      original.body_sink(chunk);
    };
  }
  const HttpRequest& request = wrapped ? *wrapped : original;
  for (int attempt = 1;; ++attempt) {
    last_attempts_ = attempt;
    RetryEvent ev;
    ev.attempt = attempt;
    try {
      HttpResponse resp = inner_.perform(request);
      if (!retryable_status(resp.status) || attempt >= policy_.max_attempts) return resp;
      ev.status = resp.status;
      ev.reason = "HTTP " + std::to_string(resp.status);
      ev.delay_ms = backoff_ms(attempt, &resp);
    } catch (const TransportError& e) {
      if (!e.retryable()) throw;
      if (streamed > 0)
        throw TransportError(std::string(e.what()) + " (after " + std::to_string(streamed) +
                                 " bytes of the response had been received)",
                             true, e.code_text());
      if (attempt >= policy_.max_attempts) {
        if (attempt == 1) throw;
        throw TransportError(
            std::string(e.what()) + " (gave up after " + std::to_string(attempt) + " attempts)",
            true, e.code_text());
      }
      ev.reason = e.what();
      ev.delay_ms = backoff_ms(attempt, nullptr);
    }
    if (policy_.on_retry) policy_.on_retry(ev);
    policy_.sleep(ev.delay_ms);
  }
}

}  // namespace pgvault::http
