// HTTP layer: retries/backoff against the scripted transport, XML error
// extraction, redaction, and the libcurl transport against a tiny in-process
// HTTP/1.1 server on 127.0.0.1.
#include "pgvault/error.hpp"
#include "doubles/scripted_transport.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/xml.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace pgvault;
using namespace pgvault::http;
using namespace pgvault::test;

namespace {

// ---- retry helpers ------------------------------------------------------------

struct Recorder {
  std::vector<long> sleeps;
  std::vector<RetryEvent> events;
  double next_random = 0.5;

  RetryPolicy policy(int max_attempts = 5, long base = 200, long max = 20000) {
    RetryPolicy p;
    p.max_attempts = max_attempts;
    p.base_delay_ms = base;
    p.max_delay_ms = max;
    p.sleep = [this](long ms) { sleeps.push_back(ms); };
    p.random = [this] { return next_random; };
    p.on_retry = [this](const RetryEvent& e) { events.push_back(e); };
    return p;
  }
};

HttpRequest get(std::string url) {
  HttpRequest r;
  r.method = "GET";
  r.url = std::move(url);
  return r;
}

const char* kBucket = "https://bucket.s3.eu-west-1.amazonaws.com/";

// ---- retries --------------------------------------------------------------------

TEST(HttpRetry, Retries503ThenSucceedsWithGrowingDelays) {
  ScriptedTransport fake;
  fake.expect("GET", kBucket, 503).expect("GET", kBucket, 503).expect("GET", kBucket, 503);
  fake.expect("GET", kBucket, 200, "payload");
  Recorder rec;
  RetryingTransport t(fake, rec.policy());
  HttpResponse r = t.perform(get(std::string(kBucket) + "key"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "payload");
  EXPECT_EQ(t.last_attempts(), 4);
  // random() = 0.5 of caps 200, 400, 800
  EXPECT_EQ(rec.sleeps, (std::vector<long>{100, 200, 400}));
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[0].attempt, 1);
  EXPECT_EQ(rec.events[0].status, 503);
  EXPECT_EQ(rec.events[0].reason, "HTTP 503");
  EXPECT_EQ(rec.events[2].attempt, 3);
  EXPECT_EQ(fake.requests().size(), 4u);
  EXPECT_EQ(fake.verify(), "");
}

TEST(HttpRetry, FullJitterStaysWithinTheExponentialCap) {
  ScriptedTransport fake;
  for (int i = 0; i < 8; ++i) fake.expect("GET", "", 500);
  Recorder rec;
  RetryPolicy p = rec.policy(8, 100, 1000);
  std::vector<double> draws = {0.0, 0.999999, 0.25, 0.999999, 0.75, 0.999999, 0.1};
  size_t k = 0;
  p.random = [&] { return draws[k++ % draws.size()]; };
  RetryingTransport t(fake, p);
  EXPECT_EQ(t.perform(get("https://h/x")).status, 500);
  ASSERT_EQ(rec.sleeps.size(), 7u);
  const std::vector<long> caps = {100, 200, 400, 800, 1000, 1000, 1000};
  for (size_t i = 0; i < caps.size(); ++i) {
    EXPECT_GE(rec.sleeps[i], 0) << i;
    EXPECT_LE(rec.sleeps[i], caps[i]) << i;
    EXPECT_EQ(rec.sleeps[i], static_cast<long>(draws[i] * static_cast<double>(caps[i]))) << i;
  }
  EXPECT_EQ(rec.sleeps[0], 0);
  EXPECT_EQ(rec.sleeps[1], 199);
  EXPECT_EQ(rec.sleeps[5], 999);
  // Out-of-range random values are clamped, never exceeding the cap.
  ScriptedTransport fake2;
  fake2.expect("GET", "", 502).expect("GET", "", 200);
  Recorder rec2;
  RetryPolicy p2 = rec2.policy(3, 100, 1000);
  p2.random = [] { return 7.0; };
  RetryingTransport t2(fake2, p2);
  EXPECT_EQ(t2.perform(get("https://h/x")).status, 200);
  EXPECT_EQ(rec2.sleeps, (std::vector<long>{100}));
}

TEST(HttpRetry, HonoursRetryAfterOn429) {
  ScriptedTransport fake;
  fake.expect("PUT", "https://h/", 429, "", {{"Retry-After", "3"}});
  fake.expect("PUT", "https://h/", 429, "", {{"Retry-After", "120"}});  // capped
  fake.expect("PUT", "https://h/", 503, "", {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}});
  fake.expect("PUT", "https://h/", 200);
  Recorder rec;
  RetryingTransport t(fake, rec.policy(5, 200, 20000));
  HttpRequest req;
  req.method = "PUT";
  req.url = "https://h/obj";
  req.body = "data";
  EXPECT_EQ(t.perform(req).status, 200);
  // 3 s as asked, 120 s capped at 20 s, an HTTP date falls back to backoff (0.5 * 800).
  EXPECT_EQ(rec.sleeps, (std::vector<long>{3000, 20000, 400}));
  EXPECT_EQ(t.last_attempts(), 4);
  ASSERT_EQ(fake.requests().size(), 4u);
  EXPECT_EQ(fake.requests()[3].body, "data");
}

TEST(HttpRetry, NeverRetriesOtherClientErrors) {
  for (long status : {400L, 401L, 403L, 404L, 409L, 412L, 416L}) {
    ScriptedTransport fake;
    fake.expect("GET", "", status,
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
    Recorder rec;
    RetryingTransport t(fake, rec.policy());
    HttpResponse r = t.perform(get("https://h/x"));
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(t.last_attempts(), 1) << status;
    EXPECT_TRUE(rec.sleeps.empty()) << status;
    EXPECT_EQ(fake.verify(), "");
  }
  for (long status : {200L, 204L, 206L, 301L, 501L})
    EXPECT_FALSE(RetryingTransport::retryable_status(status));
  for (long status : {429L, 500L, 502L, 503L, 504L})
    EXPECT_TRUE(RetryingTransport::retryable_status(status));
}

TEST(HttpRetry, MaxAttemptsRespectedAndLastResponseReturned) {
  ScriptedTransport fake;
  for (int i = 0; i < 4; ++i) fake.expect("GET", "", 500, "attempt " + std::to_string(i + 1));
  Recorder rec;
  RetryingTransport t(fake, rec.policy(4));
  HttpResponse r = t.perform(get("https://h/x"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "attempt 4");
  EXPECT_EQ(t.last_attempts(), 4);
  EXPECT_EQ(rec.sleeps.size(), 3u);
  EXPECT_EQ(fake.verify(), "");

  // max_attempts = 1 means no retry at all.
  ScriptedTransport fake1;
  fake1.expect("GET", "", 503);
  Recorder rec1;
  RetryingTransport t1(fake1, rec1.policy(1));
  EXPECT_EQ(t1.perform(get("https://h/x")).status, 503);
  EXPECT_TRUE(rec1.sleeps.empty());
}

TEST(HttpRetry, RetryableTransportErrorRetriedThenSucceeds) {
  ScriptedTransport fake;
  fake.expect_error("GET", "", "HTTP GET https://h/x failed: Connection reset by peer", true);
  fake.expect("GET", "", 200, "ok");
  Recorder rec;
  RetryingTransport t(fake, rec.policy());
  EXPECT_EQ(t.perform(get("https://h/x")).body, "ok");
  EXPECT_EQ(t.last_attempts(), 2);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].status, 0);
  EXPECT_NE(rec.events[0].reason.find("Connection reset"), std::string::npos);
}

TEST(HttpRetry, RetryableTransportErrorSurfacesAfterLastAttempt) {
  ScriptedTransport fake;
  for (int i = 0; i < 3; ++i)
    fake.expect_error("GET", "", "HTTP GET https://h/x failed: Connection refused", true,
                      "Couldn't connect to server");
  Recorder rec;
  RetryingTransport t(fake, rec.policy(3));
  try {
    t.perform(get("https://h/x"));
    ADD_FAILURE() << "expected a TransportError";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_TRUE(e.retryable());
    EXPECT_EQ(e.code_text(), "Couldn't connect to server");
    EXPECT_STREQ(e.what(),
                 "HTTP GET https://h/x failed: Connection refused (gave up after 3 attempts)");
  }
  EXPECT_EQ(t.last_attempts(), 3);
  EXPECT_EQ(rec.sleeps.size(), 2u);
  EXPECT_EQ(fake.verify(), "");
}

TEST(HttpRetry, NonRetryableTransportErrorIsNotRetried) {
  ScriptedTransport fake;
  fake.expect_error("GET", "", "HTTP GET https://h/x failed: SSL certificate problem", false);
  Recorder rec;
  RetryingTransport t(fake, rec.policy());
  expect_error([&] { t.perform(get("https://h/x")); }, ErrorKind::storage,
               "SSL certificate problem");
  EXPECT_EQ(t.last_attempts(), 1);
  EXPECT_TRUE(rec.sleeps.empty());
}

// ---- scripted transport ----------------------------------------------------------

TEST(HttpScripted, UnexpectedAndMissingRequestsAreReported) {
  ScriptedTransport fake;
  fake.expect("GET", "https://h/a", 200);
  fake.expect("DELETE", "https://h/b", 204);
  HttpRequest put;
  put.method = "PUT";
  put.url = "https://h/a?X-Amz-Signature=deadbeef";
  expect_error([&] { fake.perform(put); }, ErrorKind::internal,
               "does not match the expected GET https://h/a");
  std::string v = fake.verify();
  EXPECT_NE(v.find("unexpected: request #1 PUT https://h/a?X-Amz-Signature=REDACTED"),
            std::string::npos)
      << v;
  EXPECT_NE(v.find("never requested: GET https://h/a"), std::string::npos) << v;
  EXPECT_NE(v.find("never requested: DELETE https://h/b"), std::string::npos) << v;
  EXPECT_EQ(v.find("deadbeef"), std::string::npos);
  ASSERT_EQ(fake.requests().size(), 1u);
  EXPECT_EQ(fake.requests()[0].method, "PUT");

  ScriptedTransport empty;
  expect_error([&] { empty.perform(get("https://h/z")); }, ErrorKind::internal,
               "no more requests were expected");
  EXPECT_EQ(empty.unexpected().size(), 1u);
}

TEST(HttpScripted, PredicatesHandlersAndRecording) {
  ScriptedTransport fake;
  Expectation e;
  e.method = "PUT";
  e.url_prefix = "https://h/obj";
  e.description = "PUT part 1";
  e.match = [](const HttpRequest& r) { return r.url.find("partNumber=1") != std::string::npos; };
  e.response = ScriptedTransport::response(200, "", {{"ETag", "\"e1\""}});
  fake.expect(std::move(e));
  fake.expect_handler("POST", "https://h/obj", [](const HttpRequest& r) {
    return ScriptedTransport::response(200, "got " + std::string(r.body));
  });
  HttpRequest part;
  part.method = "PUT";
  part.url = "https://h/obj?partNumber=1&uploadId=u";
  part.headers = {{"Content-MD5", "abc"}};
  part.body = "part-data";
  HttpResponse r = fake.perform(part);
  EXPECT_EQ(r.header("etag"), "\"e1\"");
  EXPECT_EQ(r.header("ETag"), "\"e1\"");
  EXPECT_TRUE(r.has_header("Etag"));
  EXPECT_FALSE(r.has_header("x-missing"));
  HttpRequest complete;
  complete.method = "POST";
  complete.url = "https://h/obj?uploadId=u";
  complete.body = "<CompleteMultipartUpload/>";
  EXPECT_EQ(fake.perform(complete).body, "got <CompleteMultipartUpload/>");
  ASSERT_EQ(fake.requests().size(), 2u);
  EXPECT_EQ(fake.requests()[0].header("content-md5"), "abc");
  EXPECT_EQ(fake.requests()[0].body, "part-data");
  EXPECT_EQ(fake.verify(), "");

  ScriptedTransport strict;
  Expectation e2;
  e2.method = "PUT";
  e2.description = "PUT part 2";
  e2.match = [](const HttpRequest& r) { return r.url.find("partNumber=2") != std::string::npos; };
  strict.expect(std::move(e2));
  expect_error([&] { strict.perform(part); }, ErrorKind::internal, "expected PUT part 2");
}

TEST(HttpScripted, BodySinkReceives2xxBodies) {
  ScriptedTransport fake;
  fake.expect("GET", "", 200, "streamed").expect("GET", "", 404, "<Error/>");
  std::string got;
  HttpRequest req = get("https://h/o");
  req.body_sink = [&](std::string_view chunk) { got.append(chunk); };
  HttpResponse r = fake.perform(req);
  EXPECT_EQ(got, "streamed");
  EXPECT_TRUE(r.body.empty());
  r = fake.perform(req);
  EXPECT_EQ(got, "streamed");
  EXPECT_EQ(r.body, "<Error/>");
}

TEST(HttpRetry, NoRetryOnceTheBodySinkHasData) {
  ScriptedTransport fake;
  fake.expect_handler("GET", "", [](const HttpRequest& r) -> HttpResponse {
    r.body_sink("abcd");
    throw TransportError("HTTP GET https://h/o failed: Connection reset by peer", true);
  });
  Recorder rec;
  RetryingTransport t(fake, rec.policy());
  std::string got;
  HttpRequest req = get("https://h/o");
  req.body_sink = [&](std::string_view chunk) { got.append(chunk); };
  expect_error([&] { t.perform(req); }, ErrorKind::storage,
               "Connection reset by peer (after 4 bytes of the response had been received)");
  EXPECT_EQ(got, "abcd");
  EXPECT_EQ(t.last_attempts(), 1);
  EXPECT_TRUE(rec.sleeps.empty());

  // A failure before any data reached the sink is retried as usual.
  ScriptedTransport fake2;
  fake2.expect_error("GET", "", "reset", true).expect("GET", "", 200, "whole");
  RetryingTransport t2(fake2, rec.policy());
  got.clear();
  EXPECT_TRUE(t2.perform(req).body.empty());
  EXPECT_EQ(got, "whole");
  EXPECT_EQ(t2.last_attempts(), 2);
}

// ---- XML -------------------------------------------------------------------------

TEST(HttpXml, ExtractsS3Error) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
      "does not match the signature you provided. Check your key and signing "
      "method.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
      "<StringToSign>AWS4-HMAC-SHA256\n20261124T000000Z</StringToSign>"
      "<RequestId>4442587FB7D0A2F9</RequestId></Error>";
  auto e = extract_error(body);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "SignatureDoesNotMatch");
  EXPECT_EQ(e->message,
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.");

  HttpRequest req;
  req.method = "PUT";
  req.url = "https://bucket.s3.amazonaws.com/backups/base.tar?partNumber=2&uploadId=xyz";
  req.headers = {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/..., Signature=f00d"}};
  HttpResponse resp = ScriptedTransport::response(403, body);
  Error err = status_error("S3", req, resp);
  EXPECT_EQ(err.kind(), ErrorKind::storage);
  EXPECT_STREQ(err.what(),
               "S3: PUT https://bucket.s3.amazonaws.com/backups/base.tar?partNumber=2&uploadId=xyz "
               "answered HTTP 403 Forbidden: SignatureDoesNotMatch - The request signature we "
               "calculated does not match the signature you provided. Check your key and signing "
               "method.");
  EXPECT_EQ(std::string(err.what()).find("f00d"), std::string::npos);
  EXPECT_EQ(std::string(err.what()).find("AKIA"), std::string::npos);
}

TEST(HttpXml, ExtractsAzureErrorWithoutAuthenticationDetail) {
  const std::string body =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"
      "<Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. "
      "Make sure the value of Authorization header is formed correctly including the "
      "signature.\nRequestId:0c3b1c8e-d01e-0034-1c2b-0d1a4b000000\nTime:2026-11-24T06:00:00."
      "0000000Z</Message><AuthenticationErrorDetail>The MAC signature found in the HTTP request "
      "'c2VjcmV0c2lnbmF0dXJl' is not the same as any computed signature.</"
      "AuthenticationErrorDetail></Error>";
  auto e = extract_error(body);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "AuthenticationFailed");
  EXPECT_EQ(e->message,
            "Server failed to authenticate the request. Make sure the value of Authorization "
            "header is formed correctly including the signature. "
            "RequestId:0c3b1c8e-d01e-0034-1c2b-0d1a4b000000 Time:2026-11-24T06:00:00.0000000Z");

  HttpRequest req;
  req.method = "GET";
  req.url =
      "https://acct.blob.core.windows.net/backups/x?sv=2022-11-02&ss=b&srt=co&sp=rwdl"
      "&se=2027-01-01T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJl%3D&comp=list";
  Error err = status_error("Azure Blob", req, ScriptedTransport::response(403, body));
  std::string msg = err.what();
  EXPECT_NE(msg.find("Azure Blob: GET https://acct.blob.core.windows.net/backups/x?"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("sig=REDACTED&comp=list"), std::string::npos) << msg;
  EXPECT_NE(msg.find("answered HTTP 403 Forbidden: AuthenticationFailed - Server failed"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("c2VjcmV0c2lnbmF0dXJl"), std::string::npos) << msg;
}

TEST(HttpXml, StatusErrorFallsBackToHeadersAndStatus) {
  HttpRequest head;
  head.method = "HEAD";
  head.url = "http://127.0.0.1:10000/devstoreaccount1/c/blob";
  Error a =
      status_error("Azure Blob", head,
                   ScriptedTransport::response(404, "", {{"x-ms-error-code", "BlobNotFound"}}));
  EXPECT_STREQ(a.what(),
               "Azure Blob: HEAD http://127.0.0.1:10000/devstoreaccount1/c/blob answered HTTP 404 "
               "Not Found: BlobNotFound");
  Error b = status_error("GCS", head, ScriptedTransport::response(599, "not xml at all"));
  EXPECT_STREQ(b.what(),
               "GCS: HEAD http://127.0.0.1:10000/devstoreaccount1/c/blob answered HTTP 599");
  EXPECT_FALSE(extract_error("").has_value());
  EXPECT_FALSE(extract_error("<ListBucketResult/>").has_value());
  EXPECT_FALSE(extract_error("<Error><Code>").has_value());
}

TEST(HttpXml, ParseAndChildText) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>bucket</Name><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
      "NextContinuationToken>"
      "<Contents><Key>a &amp; b.tar</Key><Size>10</Size></Contents>"
      "<Contents><Key>c.tar</Key><Size>20</Size><ETag></ETag></Contents>"
      "</ListBucketResult>";
  pugi::xml_document doc = parse_xml(body, "S3 ListObjectsV2");
  pugi::xml_node root = doc.child("ListBucketResult");
  ASSERT_TRUE(root);
  EXPECT_EQ(child_text(root, "IsTruncated"), "true");
  EXPECT_EQ(child_text(root, "NextContinuationToken"),
            "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  EXPECT_EQ(child_text(root, "Missing"), "");
  std::vector<std::string> keys;
  for (pugi::xml_node c : root.children("Contents")) keys.push_back(child_text(c, "Key"));
  EXPECT_EQ(keys, (std::vector<std::string>{"a & b.tar", "c.tar"}));
  pugi::xml_node second = root.child("Contents").next_sibling("Contents");
  EXPECT_FALSE(find_child_text(root.child("Contents"), "ETag").has_value());
  ASSERT_TRUE(find_child_text(second, "ETag").has_value());
  EXPECT_EQ(*find_child_text(second, "ETag"), "");

  expect_error([] { parse_xml("<ListBucketResult><Name>x</Name>", "S3 ListObjectsV2"); },
               ErrorKind::storage, "S3 ListObjectsV2: invalid XML response");
  expect_error([] { parse_xml("", "Azure List Blobs"); }, ErrorKind::storage,
               "Azure List Blobs: invalid XML response");
}

// ---- redaction -------------------------------------------------------------------

TEST(HttpRedact, SignaturesAndCredentialsInUrls) {
  EXPECT_EQ(
      redact_url("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                 "&X-Amz-Security-Token=FQoGZXIvYXdzEBYaD&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=REDACTED&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
      "&X-Amz-SignedHeaders=host&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED");
  EXPECT_EQ(redact_url("https://a.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&SIG=abc%2Bdef"),
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&SIG=REDACTED");
  EXPECT_EQ(redact_url("https://storage.googleapis.com/b/o?X-Goog-Signature=0123&x=1#frag"),
            "https://storage.googleapis.com/b/o?X-Goog-Signature=REDACTED&x=1#frag");
  EXPECT_EQ(redact_url("http://user:s3cret@host:9000/b?access_token=ya29.tok"),
            "http://REDACTED@host:9000/b?access_token=REDACTED");
  // Not a parameter name match: left alone.
  EXPECT_EQ(redact_url("https://h/signature.txt?prefix=sig&designature=1"),
            "https://h/signature.txt?prefix=sig&designature=1");
  // In free text (a curl message or an error).
  EXPECT_EQ(redact_url("failed: GET 'https://h/o?sig=abc' (retry)"),
            "failed: GET 'https://h/o?sig=REDACTED' (retry)");

  HttpRequest req;
  req.method = "PUT";
  req.url = "https://h/o?X-Amz-Signature=abcd&partNumber=1";
  EXPECT_EQ(describe_request(req), "PUT https://h/o?X-Amz-Signature=REDACTED&partNumber=1");

  EXPECT_TRUE(is_secret_header("Authorization"));
  EXPECT_TRUE(is_secret_header("x-amz-security-token"));
  EXPECT_FALSE(is_secret_header("x-amz-date"));
  EXPECT_EQ(url_host("https://bucket.s3.amazonaws.com/k?x=1"), "bucket.s3.amazonaws.com");
  EXPECT_EQ(url_host("http://u:p@127.0.0.1:9000"), "127.0.0.1:9000");
  EXPECT_EQ(url_host("no-scheme"), "");
}

// ---- libcurl against a local server ----------------------------------------------

// A single-threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port), poll()-based
// so it serves several keep-alive connections; canned answers by path.
class LocalServer {
 public:
  LocalServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0)
      throw std::runtime_error("bind/listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LocalServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepts() const { return accepts_.load(); }
  std::vector<std::string> heads() {
    std::lock_guard lock(mu_);
    return heads_;
  }

 private:
  struct Conn {
    int fd;
    std::string buf;
  };

  static std::string header_of(const std::string& head, const std::string& name) {
    std::string lower_head = head;
    for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto p = lower_head.find("\r\n" + name + ":");
    if (p == std::string::npos) return "<none>";
    p += name.size() + 3;
    auto e = head.find("\r\n", p);
    std::string v = head.substr(p, e - p);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }

  static std::string reply(int status, const std::string& reason, const std::string& body,
                           const std::string& extra = "", bool head = false) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + extra +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    if (!head) r += body;
    return r;
  }

  std::string respond(const std::string& method, const std::string& path, const std::string& head,
                      const std::string& body) {
    if (method == "GET" && path == "/hello")
      return reply(200, "OK", "hello world",
                   "Content-Type: text/plain\r\nX-Test:   Spaced Value  \r\nETag: \"v1\"\r\n");
    if (method == "GET" && path == "/busy")
      return reply(503, "Service Unavailable",
                   "<Error><Code>SlowDown</Code><Message>Please reduce your request "
                   "rate.</Message></Error>",
                   "Retry-After: 1\r\n");
    if (method == "GET" && path == "/flaky")
      return ++flaky_ <= 2 ? reply(503, "Service Unavailable", "") : reply(200, "OK", "finally");
    if ((method == "PUT" || method == "POST") && path.starts_with("/echo"))
      return reply(200, "OK", body,
                   "X-Len: " + std::to_string(body.size()) +
                       "\r\nX-Content-Type: " + header_of(head, "content-type") +
                       "\r\nX-Expect: " + header_of(head, "expect") +
                       "\r\nX-Empty: " + header_of(head, "x-empty") + "\r\n");
    if (method == "HEAD" && path == "/head") {
      return "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"abc\"\r\n\r\n";
    }
    if (method == "DELETE" && path == "/obj") return "HTTP/1.1 204 No Content\r\n\r\n";
    if (path == "/slow") return "";  // never answers
    return reply(404, "Not Found", "");
  }

  // Handles one complete request in c.buf, if there is one.
  bool handle_one(Conn& c) {
    auto end = c.buf.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::string head = c.buf.substr(0, end + 2);
    std::string cl = header_of(head, "content-length");
    size_t len = cl == "<none>" ? 0 : std::stoul(cl);
    if (c.buf.size() < end + 4 + len) return false;
    std::string body = c.buf.substr(end + 4, len);
    c.buf.erase(0, end + 4 + len);
    auto sp1 = head.find(' ');
    auto sp2 = head.find(' ', sp1 + 1);
    std::string method = head.substr(0, sp1);
    std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    {
      std::lock_guard lock(mu_);
      heads_.push_back(head);
    }
    std::string out = respond(method, path, head, body);
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::send(c.fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void run() {
    std::vector<Conn> conns;
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Conn& c = conns[i - 1];
        char buf[65536];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          ::close(c.fd);
          c.fd = -1;
          continue;
        }
        c.buf.append(buf, static_cast<size_t>(n));
        while (handle_one(c)) {
        }
      }
      std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
      if (fds[0].revents & POLLIN) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) {
          ++accepts_;
          conns.push_back({fd, {}});
        }
      }
    }
    for (auto& c : conns) ::close(c.fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0};
  int flaky_ = 0;
  std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

// A port with nothing listening on it.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(HttpCurl, GetReturnsStatusBodyAndLowerCasedHeaders) {
  LocalServer server;
  CurlTransport t;
  HttpRequest req = get(server.url("/hello"));
  req.headers = {{"X-Custom", "one"}, {"Authorization", "secret-token"}};
  HttpResponse r = t.perform(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.header("x-test"), "Spaced Value");
  EXPECT_EQ(r.header("ETAG"), "\"v1\"");
  EXPECT_EQ(r.header("content-length"), "11");
  for (const auto& [k, v] : r.headers) {
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(k, lower);
  }
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_TRUE(heads[0].starts_with("GET /hello HTTP/1.1\r\n")) << heads[0];
  EXPECT_NE(heads[0].find("\r\nX-Custom: one\r\n"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("\r\nAuthorization: secret-token\r\n"), std::string::npos);
}

TEST(HttpCurl, PutSendsBodyWithoutAddedContentTypeOrExpect) {
  LocalServer server;
  CurlTransport t;
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  HttpRequest req;
  req.method = "PUT";
  req.url = server.url("/echo/part1");
  req.headers = {{"x-empty", ""}};
  req.body = big;
  HttpResponse r = t.perform(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-len"), std::to_string(big.size()));
  EXPECT_TRUE(r.body == big);
  EXPECT_EQ(r.header("x-content-type"), "<none>");
  EXPECT_EQ(r.header("x-expect"), "<none>");
  EXPECT_EQ(r.header("x-empty"), "");

  // Caller's Content-Type is kept; an empty PUT sends Content-Length: 0.
  req.headers = {{"Content-Type", "application/octet-stream"}};
  req.body = {};
  r = t.perform(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-len"), "0");
  EXPECT_EQ(r.header("x-content-type"), "application/octet-stream");
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_NE(heads[1].find("\r\nContent-Length: 0\r\n"), std::string::npos) << heads[1];

  req.method = "POST";
  req.url = server.url("/echo?delete");
  req.headers = {{"Content-Type", "application/xml"}};
  req.body = "<Delete/>";
  r = t.perform(req);
  EXPECT_EQ(r.body, "<Delete/>");
  EXPECT_TRUE(server.heads()[2].starts_with("POST /echo?delete HTTP/1.1\r\n"));
}

TEST(HttpCurl, HeadAndDeleteHaveNoBody) {
  LocalServer server;
  CurlTransport t;
  HttpRequest req;
  req.method = "HEAD";
  req.url = server.url("/head");
  req.timeout_ms = 2000;
  HttpResponse r = t.perform(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "1234");
  EXPECT_EQ(r.header("etag"), "\"abc\"");
  EXPECT_TRUE(r.body.empty());
  req.method = "DELETE";
  req.url = server.url("/obj");
  r = t.perform(req);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  // The HEAD did not leave the connection in a bad state.
  r = t.perform(get(server.url("/hello")));
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(server.accepts(), 1);
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_TRUE(heads[0].starts_with("HEAD /head HTTP/1.1\r\n"));
  EXPECT_TRUE(heads[1].starts_with("DELETE /obj HTTP/1.1\r\n"));
}

TEST(HttpCurl, ReusesOneConnection) {
  LocalServer server;
  CurlTransport t;
  EXPECT_EQ(t.perform(get(server.url("/hello"))).status, 200);
  EXPECT_EQ(t.perform(get(server.url("/hello"))).status, 200);
  HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/echo");
  put.body = "abc";
  EXPECT_EQ(t.perform(put).body, "abc");
  EXPECT_EQ(t.perform(get(server.url("/missing"))).status, 404);
  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(server.heads().size(), 4u);
  // A second transport has its own connection.
  CurlTransport other;
  EXPECT_EQ(other.perform(get(server.url("/hello"))).status, 200);
  EXPECT_EQ(server.accepts(), 2);
}

TEST(HttpCurl, ErrorStatusesAreReturnedNotThrown) {
  LocalServer server;
  CurlTransport t;
  HttpRequest req = get(server.url("/busy"));
  HttpResponse r = t.perform(req);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("retry-after"), "1");
  Error e = status_error("S3", req, r);
  EXPECT_NE(std::string(e.what()).find("answered HTTP 503 Service Unavailable: SlowDown - Please "
                                       "reduce your request rate."),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos);
}

TEST(HttpCurl, BodySinkStreams2xxAndPropagatesItsExceptions) {
  LocalServer server;
  CurlTransport t;
  std::string got;
  HttpRequest req = get(server.url("/echo"));
  req.method = "PUT";
  std::string big(300000, 'x');
  big[123456] = 'y';
  req.body = big;
  size_t chunks = 0;
  req.body_sink = [&](std::string_view c) {
    got.append(c);
    ++chunks;
  };
  HttpResponse r = t.perform(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(got == big);
  EXPECT_GE(chunks, 1u);

  // Non-2xx bodies are kept for error reporting.
  got.clear();
  HttpRequest busy = get(server.url("/busy"));
  busy.body_sink = req.body_sink;
  r = t.perform(busy);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(got.empty());
  EXPECT_NE(r.body.find("SlowDown"), std::string::npos);

  HttpRequest failing = get(server.url("/hello"));
  failing.body_sink = [](std::string_view) { throw Error(ErrorKind::cancelled, "stop here"); };
  expect_error([&] { t.perform(failing); }, ErrorKind::cancelled, "stop here");
  EXPECT_EQ(t.perform(get(server.url("/hello"))).body, "hello world");
}

TEST(HttpCurl, RetryingOverCurl) {
  LocalServer server;
  CurlTransport curl;
  Recorder rec;
  RetryingTransport t(curl, rec.policy(5, 10, 100));
  HttpResponse r = t.perform(get(server.url("/flaky")));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finally");
  EXPECT_EQ(t.last_attempts(), 3);
  EXPECT_EQ(rec.sleeps, (std::vector<long>{5, 10}));
  EXPECT_EQ(server.accepts(), 1);
}

TEST(HttpCurl, ConnectionRefusedIsRetryable) {
  int port = closed_port();
  CurlTransport t(HttpOptions{.verify_tls = true, .ca_file = {}, .connect_timeout_ms = 1000});
  HttpRequest req = get("http://127.0.0.1:" + std::to_string(port) +
                        "/b/k?X-Amz-Signature=0123456789abcdef&X-Amz-Credential=AKIAEXAMPLE");
  req.headers = {{"Authorization", "Bearer very-secret"}};
  try {
    t.perform(req);
    ADD_FAILURE() << "expected a TransportError";
  } catch (const TransportError& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_TRUE(e.retryable());
    EXPECT_EQ(e.code_text(), "Couldn't connect to server");
    EXPECT_NE(msg.find("HTTP GET http://127.0.0.1:" + std::to_string(port) +
                       "/b/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED failed: "),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("0123456789abcdef"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("AKIAEXAMPLE"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("very-secret"), std::string::npos) << msg;
  }
  // Through the retrying wrapper: every attempt made, then surfaced.
  Recorder rec;
  RetryingTransport rt(t, rec.policy(3, 1, 1));
  expect_error([&] { rt.perform(req); }, ErrorKind::storage, "(gave up after 3 attempts)");
  EXPECT_EQ(rt.last_attempts(), 3);
}

TEST(HttpCurl, TimeoutIsRetryableAndBounded) {
  LocalServer server;
  CurlTransport t;
  HttpRequest req = get(server.url("/slow"));
  req.timeout_ms = 200;
  auto start = std::chrono::steady_clock::now();
  try {
    t.perform(req);
    ADD_FAILURE() << "expected a TransportError";
  } catch (const TransportError& e) {
    EXPECT_TRUE(e.retryable());
    EXPECT_EQ(e.code_text(), "Timeout was reached");
    EXPECT_NE(std::string(e.what()).find("/slow failed: "), std::string::npos) << e.what();
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
  // The transport recovers (a new connection) after a timed-out one.
  EXPECT_EQ(t.perform(get(server.url("/hello"))).status, 200);
}

TEST(HttpCurl, MissingCaFileIsNotRetryable) {
  CurlTransport t(HttpOptions{
      .verify_tls = true, .ca_file = "/nonexistent/pgvault-ca.pem", .connect_timeout_ms = 1000});
  LocalServer server;
  // https to the plain server: the CA bundle is loaded (and fails) first.
  std::string url = server.url("/hello");
  url.replace(0, 4, "https");
  try {
    t.perform(get(url));
    ADD_FAILURE() << "expected a TransportError";
  } catch (const TransportError& e) {
    EXPECT_FALSE(e.retryable()) << e.what() << " / " << e.code_text();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
  }
}

}  // namespace
