// The S3 driver against the scripted fake transport (and, where parts run in
// parallel, a small thread-safe fake): signing, addressing, single PUT,
// multipart sequencing, part size growth, bounded parallel parts, 200-with-
// error bodies, aborts, pagination, ranged GETs, DeleteObjects batching,
// retries and bucket auto-creation.
#include "pgvault/error.hpp"
#include "doubles/scripted_transport.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <signal.h>

using namespace pgvault;
using namespace pgvault::http;
using namespace pgvault::test;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;
const std::string kHost = "https://b.s3.eu-west-1.amazonaws.com";
const std::string kObj = kHost + "/repo/";

S3Config config() {
  S3Config c;
  c.bucket = "b";
  c.prefix = "repo";
  c.region = "eu-west-1";
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  c.part_size = 5 * kMiB;
  c.single_put_limit = 5 * kMiB;
  c.parts_in_flight = 1;
  return c;
}

// Forwards to one shared transport under a mutex (the scripted fake is not
// thread-safe; with parts_in_flight = 1 the order stays deterministic).
class Forward : public HttpTransport {
 public:
  Forward(HttpTransport& inner, std::mutex& mu) : inner_(inner), mu_(mu) {}
  HttpResponse perform(const HttpRequest& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.perform(r);
  }

 private:
  HttpTransport& inner_;
  std::mutex& mu_;
};

struct Sleeps {
  std::vector<long> ms;
  RetryPolicy policy(int attempts = 4) {
    RetryPolicy p;
    p.max_attempts = attempts;
    p.sleep = [this](long d) { ms.push_back(d); };
    p.random = [] { return 0.0; };
    return p;
  }
};

struct Fixture {
  ScriptedTransport fake;
  std::mutex mu;
  Sleeps sleeps;
  std::unique_ptr<Storage> open(const S3Config& c = config()) {
    return make_s3_storage(
        c, [this] { return std::make_unique<Forward>(fake, mu); }, sleeps.policy());
  }
};

std::span<const std::byte> as_span(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

void write_in_chunks(ObjectWriter& w, const std::string& data, std::size_t chunk = kMiB) {
  for (std::size_t off = 0; off < data.size(); off += chunk)
    w.write(as_span(data).subspan(off, std::min(chunk, data.size() - off)));
}

std::string md5_b64(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::size_t count(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

HttpResponse ok_etag(const std::string& etag) {
  return ScriptedTransport::response(200, "", {{"ETag", etag}});
}

const char* kInitiate =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult>"
    "<Bucket>b</Bucket><Key>repo/big</Key><UploadId>UP-1</UploadId>"
    "</InitiateMultipartUploadResult>";
const char* kCompleted =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult>"
    "<Location>x</Location><Bucket>b</Bucket><Key>repo/big</Key><ETag>\"all-3\"</ETag>"
    "</CompleteMultipartUploadResult>";

// ---- signing and addressing ------------------------------------------------------

TEST(S3Storage, SignsEveryRequestWithSigV4AndTheBodyHash) {
  Fixture f;
  f.fake.expect("PUT", kObj + "dir/a%20b.txt", 200);
  S3Config c = config();
  c.session_token = "SESSION-TOKEN";
  auto s = f.open(c);
  s->write_all("dir/a b.txt", "hello");
  ASSERT_EQ(f.fake.verify(), "");
  const RecordedRequest& r = f.fake.requests().at(0);
  EXPECT_EQ(r.url, kObj + "dir/a%20b.txt");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("x-amz-content-sha256"), sha256_hex("hello"));
  EXPECT_EQ(r.header("x-amz-security-token"), "SESSION-TOKEN");
  std::string date = r.header("x-amz-date");
  ASSERT_EQ(date.size(), 16u);
  std::regex auth(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/[0-9]{8}/eu-west-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
      "Signature=[0-9a-f]{64}");
  EXPECT_TRUE(std::regex_match(r.header("authorization"), auth)) << r.header("authorization");
  // The signature is the one SigV4 gives for this exact request.
  SigV4Request sr;
  sr.method = "PUT";
  sr.path = "/repo/dir/a%20b.txt";
  sr.headers = {{"host", "b.s3.eu-west-1.amazonaws.com"}};
  sr.payload_hash = sha256_hex("hello");
  sr.timestamp = date;
  sr.region = "eu-west-1";
  sr.service = "s3";
  auto expected = sigv4_sign(sr, {c.access_key_id, c.secret_access_key, c.session_token, true});
  EXPECT_EQ(r.header("authorization"), expected.authorization);
  for (const auto& [name, value] : r.headers)
    EXPECT_EQ(value.find(c.secret_access_key), std::string::npos) << name;
}

TEST(S3Storage, PathStyleOnACustomEndpointWithPort) {
  Fixture f;
  f.fake.expect("PUT", "http://127.0.0.1:9000/b/x/y", 200);
  f.fake.expect("PUT", "http://127.0.0.1:9000/b/x", 200);  // bucket creation is not needed
  S3Config c = config();
  c.endpoint = "http://127.0.0.1:9000";
  c.uri_style = "path";
  c.prefix = "/x/";  // slashes trimmed
  auto s = f.open(c);
  EXPECT_EQ(s->url(), "s3://b/x");
  s->write_all("y", "1");
  c.prefix = "";
  auto s2 = f.open(c);
  s2->write_all("x", "2");
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests()[0].url, "http://127.0.0.1:9000/b/x/y");
  EXPECT_EQ(f.fake.requests()[1].url, "http://127.0.0.1:9000/b/x");
  EXPECT_NE(f.fake.requests()[0].header("authorization").find("SignedHeaders=host;"),
            std::string::npos);
}

TEST(S3Storage, VirtualHostStyleOnACustomEndpoint) {
  Fixture f;
  f.fake.expect("HEAD", "https://b.minio.local:9443/repo/k", 404);
  S3Config c = config();
  c.endpoint = "https://minio.local:9443";
  auto s = f.open(c);
  EXPECT_FALSE(s->info("k").has_value());
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, RejectsBadConfigNamingTheField) {
  Fixture f;
  S3Config c = config();
  c.uri_style = "dns";
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "uri_style");
  c = config();
  c.part_size = 1 * kMiB;
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "part_size");
  c = config();
  c.endpoint = "ftp://host";
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "endpoint");
  c = config();
  c.bucket = "";
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "bucket");
  c = config();
  c.parts_in_flight = 0;
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "parts_in_flight");
}

// ---- writes ---------------------------------------------------------------------------

TEST(S3Storage, SmallObjectIsOneSinglePut) {
  Fixture f;
  std::string data = pattern(5 * kMiB);  // exactly the limit: still one PUT
  f.fake.expect("PUT", kObj + "small", 200);
  auto s = f.open();
  auto w = s->open_write("small");
  write_in_chunks(*w, data, 777777);
  w->commit();
  ASSERT_EQ(f.fake.verify(), "");
  ASSERT_EQ(f.fake.requests().size(), 1u);
  EXPECT_EQ(f.fake.requests()[0].url, kObj + "small");
  EXPECT_TRUE(f.fake.requests()[0].body == data);
  EXPECT_EQ(f.fake.requests()[0].header("x-amz-content-sha256"), sha256_hex(data));
}

TEST(S3Storage, MultipartSequencingCreatePartsComplete) {
  Fixture f;
  std::string data = pattern(12 * kMiB + 3);
  f.fake.expect("POST", kObj + "big?uploads=", 200, kInitiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1&uploadId=UP-1", ok_etag("\"e1\""));
  f.fake.expect("PUT", kObj + "big?partNumber=2&uploadId=UP-1", ok_etag("\"e2\""));
  f.fake.expect("PUT", kObj + "big?partNumber=3&uploadId=UP-1", ok_etag("\"e3\""));
  f.fake.expect("POST", kObj + "big?uploadId=UP-1", 200, kCompleted);
  auto s = f.open();
  auto w = s->open_write("big");
  write_in_chunks(*w, data, 3 * kMiB + 5);
  w->commit();
  w.reset();
  ASSERT_EQ(f.fake.verify(), "");
  const auto& rq = f.fake.requests();
  ASSERT_EQ(rq.size(), 5u);
  EXPECT_EQ(rq[1].body.size(), 5 * kMiB);
  EXPECT_EQ(rq[2].body.size(), 5 * kMiB);
  EXPECT_EQ(rq[3].body.size(), 2 * kMiB + 3);
  EXPECT_TRUE(rq[1].body + rq[2].body + rq[3].body == data);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(rq[i].header("x-amz-content-sha256"), sha256_hex(rq[i].body)) << i;
  EXPECT_EQ(rq[4].body,
            "<CompleteMultipartUpload>"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
            "<Part><PartNumber>3</PartNumber><ETag>&quot;e3&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Storage, PartSizeGrowsSoTenThousandPartsReachFiveTiB) {
  const std::uint64_t five_mib = 5ull << 20, five_gib = 5ull << 30, five_tib = 5ull << 40;
  EXPECT_EQ(s3_part_size(five_mib, 1), five_mib);
  EXPECT_EQ(s3_part_size(five_mib, 900), five_mib);
  EXPECT_EQ(s3_part_size(five_mib, 901), 2 * five_mib);
  EXPECT_EQ(s3_part_size(five_mib, 1801), 4 * five_mib);
  EXPECT_EQ(s3_part_size(8ull << 20, 2701), 64ull << 20);
  EXPECT_EQ(s3_part_size(five_mib, 10000), five_gib);  // capped at S3's largest part
  EXPECT_EQ(s3_part_size(1ull << 30, 10000), five_gib);
  for (std::uint64_t first :
       std::vector<std::uint64_t>{five_mib, 8ull << 20, 64ull << 20, five_gib}) {
    std::uint64_t total = 0, prev = 0;
    for (int n = 1; n <= 10000; ++n) {
      std::uint64_t sz = s3_part_size(first, n);
      EXPECT_GE(sz, prev);
      EXPECT_LE(sz, five_gib);
      prev = sz;
      total += sz;
    }
    EXPECT_GE(total, five_tib) << first;
  }
}

// A thread-safe fake S3 for parallel part uploads: counts concurrent part
// uploads and records everything.
struct ParallelFake {
  std::mutex mu;
  std::vector<RecordedRequest> requests;
  std::map<int, std::string> parts;
  std::atomic<int> current{0}, max_seen{0};
  std::atomic<bool> signals_blocked{true};
  std::string complete_answer = kCompleted;
  int fail_part = 0;

  HttpResponse handle(const HttpRequest& r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      RecordedRequest rec;
      rec.method = r.method;
      rec.url = r.url;
      rec.headers = r.headers;
      rec.body = std::string(r.body);
      requests.push_back(std::move(rec));
    }
    if (r.method == "POST" && r.url.find("?uploads") != std::string::npos)
      return ScriptedTransport::response(200, kInitiate);
    if (r.method == "PUT" && r.url.find("partNumber=") != std::string::npos) {
      sigset_t cur;
      pthread_sigmask(SIG_BLOCK, nullptr, &cur);
      if (!sigismember(&cur, SIGTERM) || !sigismember(&cur, SIGINT)) signals_blocked = false;
      int now = ++current;
      int m = max_seen.load();
      while (now > m && !max_seen.compare_exchange_weak(m, now)) {
      }
      // Hold the part until another one arrives (or briefly, for the last
      // ones), so overlapping uploads are observed even on a slow machine.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while (current.load() < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      --current;
      int n = std::stoi(r.url.substr(r.url.find("partNumber=") + 11));
      {
        std::lock_guard<std::mutex> lock(mu);
        parts[n] = std::string(r.body);
      }
      if (n == fail_part)
        return ScriptedTransport::response(
            403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>");
      return ok_etag("\"etag-" + std::to_string(n) + "\"");
    }
    if (r.method == "POST" && r.url.find("?uploadId=") != std::string::npos)
      return ScriptedTransport::response(200, complete_answer);
    if (r.method == "DELETE") return ScriptedTransport::response(204);
    return ScriptedTransport::response(500);
  }
};

class ParallelTransport : public HttpTransport {
 public:
  explicit ParallelTransport(ParallelFake& fake) : fake_(fake) {}
  HttpResponse perform(const HttpRequest& r) override { return fake_.handle(r); }

 private:
  ParallelFake& fake_;
};

std::unique_ptr<Storage> open_parallel(ParallelFake& fake, int in_flight, int* transports) {
  S3Config c = config();
  c.parts_in_flight = in_flight;
  static Sleeps sleeps;  // no retries happen in these tests
  return make_s3_storage(
      c,
      [&fake, transports] {
        if (transports) ++*transports;
        return std::make_unique<ParallelTransport>(fake);
      },
      sleeps.policy());
}

TEST(S3Storage, PartsUploadInParallelBoundedByPartsInFlight) {
  ParallelFake fake;
  int transports = 0;
  auto s = open_parallel(fake, 3, &transports);
  std::string data = pattern(10 * 5 * kMiB + 100, 7);
  auto w = s->open_write("big");
  write_in_chunks(*w, data, 2 * kMiB);
  w->commit();
  w.reset();
  EXPECT_LE(fake.max_seen.load(), 3);
  EXPECT_GE(fake.max_seen.load(), 2);
  EXPECT_TRUE(fake.signals_blocked.load()) << "worker threads must block signals";
  // One connection per worker: the one that started the upload went back
  // to the pool and a worker took it.
  EXPECT_EQ(transports, 3);
  ASSERT_EQ(fake.parts.size(), 11u);
  std::string joined;
  for (auto& [n, body] : fake.parts) joined += body;
  EXPECT_TRUE(joined == data);
  const std::string& complete = fake.requests.back().body;
  EXPECT_EQ(fake.requests.back().method, "POST");
  std::size_t pos = 0;
  for (int n = 1; n <= 11; ++n) {
    auto p = complete.find("<PartNumber>" + std::to_string(n) + "</PartNumber><ETag>&quot;etag-" +
                           std::to_string(n) + "&quot;</ETag>");
    ASSERT_NE(p, std::string::npos) << n;
    EXPECT_GT(p, pos);
    pos = p;
  }
  // The next upload finds its connections in the pool.
  auto again = s->open_write("big2");
  write_in_chunks(*again, data, 2 * kMiB);
  again->commit();
  again.reset();
  EXPECT_EQ(transports, 3) << "a second upload opened connections of its own";
}

TEST(S3Storage, FailedPartIsRethrownAndTheUploadAborted) {
  ParallelFake fake;
  fake.fail_part = 2;
  auto s = open_parallel(fake, 2, nullptr);
  std::string data = pattern(30 * kMiB);
  auto w = s->open_write("big");
  expect_error(
      [&] {
        write_in_chunks(*w, data);
        w->commit();
      },
      ErrorKind::storage, "AccessDenied");
  w.reset();
  std::lock_guard<std::mutex> lock(fake.mu);
  EXPECT_EQ(fake.requests.back().method, "DELETE");
  EXPECT_NE(fake.requests.back().url.find("?uploadId=UP-1"), std::string::npos);
  for (const auto& r : fake.requests)
    EXPECT_FALSE(r.method == "POST" && r.url.find("?uploadId=") != std::string::npos);
}

TEST(S3Storage, WriterDestroyedWithoutCommitAbortsTheUpload) {
  ParallelFake fake;
  auto s = open_parallel(fake, 2, nullptr);
  {
    auto w = s->open_write("big");
    write_in_chunks(*w, pattern(11 * kMiB));
  }
  std::lock_guard<std::mutex> lock(fake.mu);
  ASSERT_GE(fake.requests.size(), 2u);
  EXPECT_EQ(fake.requests.front().method, "POST");
  EXPECT_EQ(fake.requests.back().method, "DELETE");
  EXPECT_EQ(fake.requests.back().url, kObj + "big?uploadId=UP-1");
  EXPECT_NE(fake.requests.back().header("authorization"), "");
}

TEST(S3Storage, CompleteAnswered200WithErrorBodyIsAFailureAndAborts) {
  Fixture f;
  f.fake.expect("POST", kObj + "big?uploads=", 200, kInitiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1", ok_etag("\"e1\""));
  f.fake.expect("PUT", kObj + "big?partNumber=2", ok_etag("\"e2\""));
  f.fake.expect("POST", kObj + "big?uploadId=UP-1", 200,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>"
                "<Message>We encountered an internal error. Please try again.</Message></Error>");
  f.fake.expect("DELETE", kObj + "big?uploadId=UP-1", 204);
  auto s = f.open();
  auto w = s->open_write("big");
  write_in_chunks(*w, pattern(6 * kMiB));
  expect_error([&] { w->commit(); }, ErrorKind::storage, "InternalError");
  w.reset();
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, CompleteAnswered200WithoutETagIsAFailure) {
  Fixture f;
  f.fake.expect("POST", kObj + "big?uploads=", 200, kInitiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1", ok_etag("\"e1\""));
  f.fake.expect("PUT", kObj + "big?partNumber=2", ok_etag("\"e2\""));
  f.fake.expect(
      "POST", kObj + "big?uploadId=UP-1", 200,
      "<CompleteMultipartUploadResult><Key>repo/big</Key></CompleteMultipartUploadResult>");
  f.fake.expect("DELETE", kObj + "big?uploadId=UP-1", 204);
  auto s = f.open();
  auto w = s->open_write("big");
  write_in_chunks(*w, pattern(6 * kMiB));
  expect_error([&] { w->commit(); }, ErrorKind::storage, "without an ETag");
  w.reset();
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, PartAnsweredWithoutETagIsAFailureAndAborts) {
  Fixture f;
  f.fake.expect("POST", kObj + "big?uploads=", 200, kInitiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1", 200);  // no ETag
  f.fake.expect("DELETE", kObj + "big?uploadId=UP-1", 204);
  auto s = f.open();
  auto w = s->open_write("big");
  expect_error(
      [&] {
        write_in_chunks(*w, pattern(12 * kMiB));
        w->commit();
      },
      ErrorKind::storage, "part 1 of object \"big\" was answered without an ETag");
  w.reset();
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, PartUploadIsRetriedOn503) {
  Fixture f;
  f.fake.expect("POST", kObj + "big?uploads=", 200, kInitiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1", 503);
  f.fake.expect("PUT", kObj + "big?partNumber=1", ok_etag("\"e1\""));
  f.fake.expect("PUT", kObj + "big?partNumber=2", ok_etag("\"e2\""));
  f.fake.expect("POST", kObj + "big?uploadId=UP-1", 200, kCompleted);
  auto s = f.open();
  auto w = s->open_write("big");
  write_in_chunks(*w, pattern(6 * kMiB));
  w->commit();
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.sleeps.ms.size(), 1u);
  EXPECT_TRUE(f.fake.requests()[1].body == f.fake.requests()[2].body);
}

TEST(S3Storage, AFailedWriterNeverCommitsAPartialObject) {
  Fixture f;
  f.fake.expect("POST", kObj + "big?uploads=", 403, "<Error><Code>AccessDenied</Code></Error>");
  auto s = f.open();
  auto w = s->open_write("big");
  expect_error([&] { write_in_chunks(*w, pattern(6 * kMiB)); }, ErrorKind::storage, "AccessDenied");
  expect_error([&] { w->commit(); }, ErrorKind::storage, "earlier write or commit");
  w.reset();
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests().size(), 1u);
}

TEST(S3Storage, RetriesOn503ThenSucceeds) {
  Fixture f;
  f.fake.expect("PUT", kObj + "k", 503);
  f.fake.expect("PUT", kObj + "k", 503, "<Error><Code>SlowDown</Code></Error>");
  f.fake.expect("PUT", kObj + "k", 200);
  auto s = f.open();
  s->write_all("k", "v");
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.sleeps.ms.size(), 2u);
  EXPECT_EQ(f.fake.requests()[2].body, "v");
}

TEST(S3Storage, ErrorsNameTheStoreStatusAndCodeButNoSecret) {
  Fixture f;
  f.fake.expect("PUT", kObj + "k", 403,
                "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
                "calculated does not match</Message></Error>");
  auto s = f.open();
  try {
    s->write_all("k", "v");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_NE(m.find("S3: PUT " + kObj + "k"), std::string::npos) << m;
    EXPECT_NE(m.find("403"), std::string::npos) << m;
    EXPECT_NE(m.find("SignatureDoesNotMatch"), std::string::npos) << m;
    EXPECT_EQ(m.find(config().secret_access_key), std::string::npos) << m;
    EXPECT_EQ(m.find("AWS4-HMAC"), std::string::npos) << m;
  }
  EXPECT_EQ(f.fake.verify(), "");
}

// ---- missing bucket ---------------------------------------------------------------

const char* kNoSuchBucket =
    "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
    "<BucketName>b</BucketName></Error>";

TEST(S3Storage, MissingBucketIsCreatedOnFirstWrite) {
  Fixture f;
  f.fake.expect("PUT", kObj + "k", 404, kNoSuchBucket);
  f.fake.expect_handler("PUT", kHost + "/", [](const HttpRequest& r) {
    EXPECT_EQ(r.url, "https://b.s3.eu-west-1.amazonaws.com/");
    EXPECT_NE(std::string(r.body).find("<LocationConstraint>eu-west-1</LocationConstraint>"),
              std::string::npos);
    return ScriptedTransport::response(200);
  });
  f.fake.expect("PUT", kObj + "k", 200);
  auto s = f.open();
  s->write_all("k", "v");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, MissingBucketThatCannotBeCreatedIsNamed) {
  Fixture f;
  f.fake.expect("POST", "http://h:9000/b/repo/big?uploads=", 404, kNoSuchBucket);
  f.fake.expect("PUT", "http://h:9000/b", 403, "<Error><Code>AccessDenied</Code></Error>");
  S3Config c = config();
  c.endpoint = "http://h:9000";
  c.uri_style = "path";
  c.region = "us-east-1";
  auto s = f.open(c);
  auto w = s->open_write("big");
  expect_error([&] { write_in_chunks(*w, pattern(6 * kMiB)); }, ErrorKind::storage,
               "bucket \"b\" does not exist (S3 answered 404 NoSuchBucket)");
  w.reset();
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests().at(1).url, "http://h:9000/b");
  EXPECT_EQ(f.fake.requests().at(1).body, "");  // us-east-1: no LocationConstraint
}

// ---- reads ------------------------------------------------------------------------------

TEST(S3Storage, RangedGetsReadALargeObjectInChunks) {
  Fixture f;
  std::string object = pattern(20 * kMiB, 3);
  std::vector<std::string> ranges;
  auto serve = [&](const HttpRequest& r) {
    std::string range;
    for (const auto& [k, v] : r.headers)
      if (k == "range") range = v;
    ranges.push_back(range);
    std::size_t a = 0, b = 0;
    EXPECT_EQ(std::sscanf(range.c_str(), "bytes=%zu-%zu", &a, &b), 2) << range;
    b = std::min(b, object.size() - 1);
    return ScriptedTransport::response(
        206, object.substr(a, b - a + 1),
        {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                               std::to_string(object.size())}});
  };
  for (int i = 0; i < 3; ++i) f.fake.expect_handler("GET", kObj + "data", serve);
  auto s = f.open();
  std::string got = s->read_all("data");
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(got.size(), object.size());
  EXPECT_TRUE(got == object);
  // The last range asks for exactly what is left (the size is known by then).
  // The ranges after the first are asked for side by side, in any order.
  std::sort(ranges.begin() + 1, ranges.end());
  EXPECT_EQ(ranges, (std::vector<std::string>{"bytes=0-8388607", "bytes=16777216-20971519",
                                              "bytes=8388608-16777215"}));
  EXPECT_NE(f.fake.requests()[0].header("authorization").find("SignedHeaders=host;range;"),
            std::string::npos);
}

// An object served by ranged GETs, as S3 does: 206 with Content-Range and
// the object's ETag. Records the range and if-match of every request.
struct RangedObject {
  explicit RangedObject(std::string content) : data(std::move(content)) {}
  std::string data;
  std::string etag = "\"v1\"";
  std::vector<std::string> ranges, if_matches;

  static std::string header(const HttpRequest& r, const std::string& name) {
    return RecordedRequest{r.method, r.url, r.headers, ""}.header(name);
  }
  // The requested [first, last], clamped to the object.
  std::pair<std::size_t, std::size_t> requested(const HttpRequest& r) {
    std::string range = header(r, "range");
    ranges.push_back(range);
    if_matches.push_back(header(r, "if-match"));
    std::size_t a = 0, b = 0;
    EXPECT_EQ(std::sscanf(range.c_str(), "bytes=%zu-%zu", &a, &b), 2) << range;
    return {a, std::min(b, data.size() - 1)};
  }
  HttpResponse part(std::size_t a, std::size_t b) const {
    return ScriptedTransport::response(
        206, data.substr(a, b - a + 1),
        {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                               std::to_string(data.size())},
         {"ETag", etag}});
  }
  HttpResponse serve(const HttpRequest& r) {
    auto [a, b] = requested(r);
    return part(a, b);
  }
};

TEST(S3Storage, ReadPinsTheETagWithIfMatchFromTheSecondRange) {
  Fixture f;
  RangedObject obj{pattern(20 * kMiB, 4)};
  for (int i = 0; i < 3; ++i)
    f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) { return obj.serve(r); });
  auto s = f.open();
  EXPECT_TRUE(s->read_all("data") == obj.data);
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(obj.if_matches, (std::vector<std::string>{"", "\"v1\"", "\"v1\""}));
  // The condition is signed like every other header.
  EXPECT_NE(f.fake.requests()[1].header("authorization").find("SignedHeaders=host;if-match;range;"),
            std::string::npos)
      << f.fake.requests()[1].header("authorization");
}

TEST(S3Storage, ObjectReplacedWhileItIsReadIsAClearError) {
  Fixture f;
  RangedObject obj{pattern(20 * kMiB, 5)};
  f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) { return obj.serve(r); });
  // Someone overwrote the object: its ETag no longer matches. The second and
  // third ranges are asked for side by side: whichever gets the 412, the
  // read fails when it reaches it.
  f.fake.expect("GET", kObj + "data", 412,
                "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions "
                "you specified did not hold</Message></Error>");
  f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) { return obj.serve(r); });
  auto s = f.open();
  auto reader = s->open_read("data");
  std::vector<std::byte> buf(1 * kMiB);
  expect_error(
      [&] {
        while (reader->read(buf) > 0) {
        }
      },
      ErrorKind::storage, "S3: object \"data\" changed while it was being read");
  // A read after the failure fails the same way.
  expect_error([&] { reader->read(buf); }, ErrorKind::storage, "changed while it was being read");
  reader.reset();  // the other range may still be in flight: done once the reader is gone
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests()[1].header("if-match"), "\"v1\"");
}

TEST(S3Storage, CutOffTransfersAreResumedWhereTheyStopped) {
  Fixture f;
  RangedObject obj{pattern(10 * kMiB, 6)};
  auto cut_after = [&](std::size_t bytes) {
    return [&obj, bytes](const HttpRequest& r) -> HttpResponse {
      auto [a, b] = obj.requested(r);
      (void)b;
      r.body_sink(std::string_view(obj.data).substr(a, bytes));
      throw TransportError("Connection reset by peer", true, "Failure when receiving data");
    };
  };
  // 1. The first range breaks before its answer (and ETag) is complete: the
  //    bytes cannot be pinned to a version, so the range starts over.
  f.fake.expect_handler("GET", kObj + "data", cut_after(3 * kMiB));
  f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) { return obj.serve(r); });
  // 2. The second range breaks after 512 KiB: asked again from there, pinned.
  f.fake.expect_handler("GET", kObj + "data", cut_after(512 * 1024));
  // 3. An answer shorter than asked for (but honest about it): the rest again.
  f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) {
    auto [a, b] = obj.requested(r);
    (void)b;
    return obj.part(a, a + kMiB - 1);
  });
  f.fake.expect_handler("GET", kObj + "data", [&](const HttpRequest& r) { return obj.serve(r); });
  auto s = f.open();
  std::string got = s->read_all("data");
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_TRUE(got == obj.data);
  EXPECT_EQ(obj.ranges, (std::vector<std::string>{
                            "bytes=0-8388607", "bytes=0-8388607", "bytes=8388608-10485759",
                            "bytes=8912896-10485759", "bytes=9961472-10485759"}));
  EXPECT_EQ(obj.if_matches, (std::vector<std::string>{"", "", "\"v1\"", "\"v1\"", "\"v1\""}));
}

TEST(S3Storage, ResumesAreBoundedAndAnEmptyAnswerIsNotTheEnd) {
  Fixture f;
  RangedObject obj{pattern(5 * kMiB, 7)};
  auto one_mib = [&](const HttpRequest& r) {
    auto [a, b] = obj.requested(r);
    (void)b;
    return obj.part(a, a + kMiB - 1);
  };
  // Every answer 1 MiB of the 5: the first range and three resumes, then stop.
  for (int i = 0; i < 4; ++i) f.fake.expect_handler("GET", kObj + "data", one_mib);
  auto s = f.open();
  expect_error([&] { s->read_all("data"); }, ErrorKind::storage, "fewer bytes than requested");
  ASSERT_EQ(f.fake.verify(), "");
  // An empty 206 for bytes that exist is an error, not the end of the object.
  f.fake.expect_handler("GET", kObj + "data", one_mib);
  f.fake.expect("GET", kObj + "data", 206, "",
                {{"Content-Range", "bytes 1048576-5242879/5242880"}, {"ETag", obj.etag}});
  expect_error([&] { s->read_all("data"); }, ErrorKind::storage, "fewer bytes than requested");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, AServerIgnoringTheRangeIsRefusedWithoutBufferingTheObject) {
  Fixture f;
  // A small object sent whole (HTTP 200) is fine ...
  f.fake.expect("GET", kObj + "small", 200, "whole", {{"ETag", "\"s\""}});
  // ... a large one is refused as soon as it exceeds the requested range.
  f.fake.expect("GET", kObj + "large", 200, pattern(9 * kMiB));
  auto s = f.open();
  EXPECT_EQ(s->read_all("small"), "whole");
  expect_error([&] { s->open_read("large"); }, ErrorKind::storage, "more than the requested");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, EmptyObjectAndMissingObject) {
  Fixture f;
  f.fake.expect("GET", kObj + "empty", 416, "<Error><Code>InvalidRange</Code></Error>");
  f.fake.expect("GET", kObj + "missing", 404, "<Error><Code>NoSuchKey</Code></Error>");
  auto s = f.open();
  EXPECT_EQ(s->read_all("empty"), "");
  expect_error([&] { s->open_read("missing"); }, ErrorKind::not_found, "\"missing\"");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, InfoUsesHead) {
  Fixture f;
  f.fake.expect("HEAD", kObj + "a", 200, "",
                {{"Content-Length", "1234"}, {"Last-Modified", "Tue, 24 Nov 2026 07:02:12 GMT"}});
  f.fake.expect("HEAD", kObj + "b", 404);
  f.fake.expect("HEAD", kObj + "c", 403);
  auto s = f.open();
  auto i = s->info("a");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->path, "a");
  EXPECT_EQ(i->size, 1234u);
  EXPECT_EQ(i->mtime_unix, 1795503732);
  EXPECT_FALSE(s->info("b").has_value());
  expect_error([&] { s->info("c"); }, ErrorKind::storage, "403");
  EXPECT_EQ(f.fake.verify(), "");
}

// ---- list and delete ------------------------------------------------------------------

// A ListObjectsV2 page: its keys (each as long as its name), and the
// CommonPrefixes of a delimited listing.
std::string list_page(const std::vector<std::string>& keys, const std::string& next,
                      const std::vector<std::string>& prefixes = {}) {
  std::string b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>";
  b += "<IsTruncated>" + std::string(next.empty() ? "false" : "true") + "</IsTruncated>";
  if (!next.empty()) b += "<NextContinuationToken>" + next + "</NextContinuationToken>";
  for (const auto& k : keys)
    b += "<Contents><Key>" + k +
         "</Key><LastModified>2026-11-24T07:02:12.000Z</LastModified>"
         "<Size>" +
         std::to_string(k.size()) + "</Size></Contents>";
  for (const auto& p : prefixes) b += "<CommonPrefixes><Prefix>" + p + "</Prefix></CommonPrefixes>";
  return b + "</ListBucketResult>";
}

TEST(S3Storage, ListFollowsContinuationTokensAcrossPages) {
  Fixture f;
  const std::string list = kHost + "/?list-type=2&prefix=repo%2Fbk%2F";
  f.fake.expect("GET", list, 200, list_page({"repo/bk/b", "repo/bk/a"}, "tok+1/="));
  f.fake.expect("GET", list + "&continuation-token=tok%2B1%2F%3D", 200,
                list_page({"repo/bk/d/x"}, "t2"));
  f.fake.expect("GET", list + "&continuation-token=t2", 200, list_page({"repo/bk/c"}, ""));
  auto s = f.open();
  auto objs = s->list("bk/");
  EXPECT_EQ(f.fake.verify(), "");
  ASSERT_EQ(objs.size(), 4u);
  EXPECT_EQ(objs[0].path, "bk/a");
  EXPECT_EQ(objs[1].path, "bk/b");
  EXPECT_EQ(objs[2].path, "bk/c");
  EXPECT_EQ(objs[3].path, "bk/d/x");
  EXPECT_EQ(objs[3].size, std::string("repo/bk/d/x").size());
  EXPECT_EQ(objs[0].mtime_unix, 1795503732);
}

// A delimited listing's page: the objects directly under the directory
// (the format file) come back beside the directories.
std::string directories_page(const std::vector<std::string>& prefixes, const std::string& next) {
  return list_page({"repo/pgvault-repository.json"}, next, prefixes);
}

// One delimited ListObjectsV2 a thousand directories: the objects under
// them (a system's WAL archive) are never paged through.
TEST(S3Storage, ListDirectoriesAsksForCommonPrefixesAcrossPages) {
  Fixture f;
  const std::string list = kHost + "/?list-type=2&prefix=repo%2F&delimiter=%2F";
  f.fake.expect("GET", list, 200, directories_page({"repo/7291/", "repo/7300/"}, "t1"));
  f.fake.expect("GET", list + "&continuation-token=t1", 200,
                directories_page({"repo/7123/", "repo/odd", "repo/7400/deeper/"}, ""));
  auto s = f.open();
  EXPECT_EQ(s->list_directories(""), (std::vector<std::string>{"7123", "7291", "7300"}));
  EXPECT_EQ(f.fake.verify(), "");

  f.fake.expect("GET", kHost + "/?list-type=2&prefix=repo%2F7291%2F&delimiter=%2F", 200,
                directories_page({"repo/7291/backups/", "repo/7291/wal/"}, ""));
  EXPECT_EQ(s->list_directories("7291/"), (std::vector<std::string>{"backups", "wal"}));
  EXPECT_EQ(f.fake.verify(), "");
  expect_error([&] { s->list_directories("7291"); }, ErrorKind::invalid_argument,
               "a directory is empty (the root) or ends with '/'");
}

TEST(S3Storage, ListOfAMissingBucketIsEmpty) {
  Fixture f;
  f.fake.expect("GET", kHost + "/?list-type=2", 404, kNoSuchBucket);
  auto s = f.open();
  EXPECT_TRUE(s->list("").empty());
  EXPECT_EQ(f.fake.verify(), "");
  f.fake.expect("GET", kHost + "/?list-type=2&prefix=repo%2F&delimiter=%2F", 404, kNoSuchBucket);
  EXPECT_TRUE(s->list_directories("").empty());
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, RootExistsAsksForOneKeyAndOnlyNoSuchBucketMeansNo) {
  Fixture f;
  const std::string probe = kHost + "/?list-type=2&max-keys=1&prefix=repo%2F";
  f.fake.expect("GET", probe, 200, list_page({}, ""));
  f.fake.expect("GET", probe, 404, kNoSuchBucket);
  f.fake.expect("GET", probe, 403,
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  f.fake.expect("GET", probe, 200,
                "<Error><Code>InternalError</Code><Message>oops</Message></Error>");
  auto s = f.open();
  EXPECT_TRUE(s->root_exists());
  EXPECT_FALSE(s->root_exists());
  expect_error([&] { s->root_exists(); }, ErrorKind::storage, "AccessDenied");
  expect_error([&] { s->root_exists(); }, ErrorKind::storage, "InternalError");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, RemoveTreats404AsDone) {
  Fixture f;
  f.fake.expect("DELETE", kObj + "a", 204);
  f.fake.expect("DELETE", kObj + "b", 404);
  f.fake.expect("DELETE", kObj + "c", 403);
  auto s = f.open();
  s->remove("a");
  s->remove("b");
  expect_error([&] { s->remove("c"); }, ErrorKind::storage, "DELETE");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, RemovePrefixBatchesDeleteObjectsWithContentMd5) {
  Fixture f;
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.push_back("repo/old/" + std::to_string(10000 + i));
  f.fake.expect("GET", kHost + "/?list-type=2&prefix=repo%2Fold%2F", 200,
                list_page(std::vector<std::string>(keys.begin(), keys.begin() + 1200), "n"));
  f.fake.expect("GET", kHost + "/?list-type=2", 200,
                list_page(std::vector<std::string>(keys.begin() + 1200, keys.end()), ""));
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 3; ++i)
    f.fake.expect_handler("POST", kHost + "/?delete=", [&](const HttpRequest& r) {
      std::string body(r.body);
      std::string md5;
      for (const auto& [k, v] : r.headers)
        if (k == "content-md5") md5 = v;
      EXPECT_EQ(md5, md5_b64(body));
      sizes.push_back(count(body, "<Object>"));
      EXPECT_NE(body.find("<Key>repo/old/"), std::string::npos);
      return ScriptedTransport::response(200, "<DeleteResult></DeleteResult>");
    });
  f.fake.expect("GET", kHost + "/?uploads=&prefix=repo%2Fold%2F", 200,
                "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
                "</ListMultipartUploadsResult>");
  auto s = f.open();
  s->remove_prefix("old/");
  EXPECT_EQ(f.fake.verify(), "");
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1000, 1000, 500}));
  std::string all;
  for (const auto& r : f.fake.requests()) all += r.body;
  for (const auto& k : keys) EXPECT_NE(all.find("<Key>" + k + "</Key>"), std::string::npos);
}

// An upload whose writer was cut off from the store (it could not abort)
// stays invisible to ListObjectsV2: remove_prefix finds and aborts it.
TEST(S3Storage, RemovePrefixAbortsUnfinishedUploadsAcrossPages) {
  Fixture f;
  f.fake.expect("GET", kHost + "/?list-type=2&prefix=repo%2Fb1%2F", 200, list_page({}, ""));
  f.fake.expect("GET", kHost + "/?uploads=&prefix=repo%2Fb1%2F", 200,
                "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                "<NextKeyMarker>repo/b1/base.tar</NextKeyMarker>"
                "<NextUploadIdMarker>u1</NextUploadIdMarker>"
                "<Upload><Key>repo/b1/base.tar</Key><UploadId>u1</UploadId></Upload>"
                "</ListMultipartUploadsResult>");
  f.fake.expect("DELETE", kHost + "/repo/b1/base.tar?uploadId=u1", 204);
  f.fake.expect("GET",
                kHost +
                    "/?uploads=&prefix=repo%2Fb1%2F&key-marker=repo%2Fb1%2Fbase.tar"
                    "&upload-id-marker=u1",
                200,
                "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
                "<Upload><Key>repo/b1/16385.tar</Key><UploadId>u2</UploadId></Upload>"
                "</ListMultipartUploadsResult>");
  f.fake.expect("DELETE", kHost + "/repo/b1/16385.tar?uploadId=u2", 404,
                "<Error><Code>NoSuchUpload</Code></Error>");  // finished meanwhile
  auto s = f.open();
  s->remove_prefix("b1/");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(S3Storage, DeleteObjectsErrorEntriesAreAFailure) {
  Fixture f;
  f.fake.expect("GET", kHost + "/?list-type=2", 200, list_page({"repo/x/1", "repo/x/2"}, ""));
  f.fake.expect("POST", kHost + "/?delete=", 200,
                "<DeleteResult><Error><Key>repo/x/2</Key><Code>AccessDenied</Code>"
                "<Message>Access Denied</Message></Error></DeleteResult>");
  auto s = f.open();
  expect_error([&] { s->remove_prefix("x/"); }, ErrorKind::storage, "AccessDenied");
  EXPECT_EQ(f.fake.verify(), "");
}

}  // namespace
