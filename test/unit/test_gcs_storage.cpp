// The GCS driver (the S3 driver on the GCS XML API) against the scripted fake
// transport: HMAC keys (SigV4, region "auto"), service-account bearer tokens
// (fetched once, cached until expiry, refreshed once on 401, shared by
// threads), token endpoint errors without secrets, deletes one by one,
// multipart, listing, ranged reads, bucket creation with the project id, and
// the settings mapping (gcs_config_from, open_repository).
#include "pgvault/error.hpp"
#include "doubles/scripted_transport.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/settings.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::http;
using namespace pgvault::test;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;
const std::string kEndpoint = "https://storage.googleapis.com";
const std::string kBucketUrl = kEndpoint + "/bkt";
const std::string kObj = kBucketUrl + "/repo/";
const std::string kTokenUri = "https://oauth2.googleapis.com/token";
constexpr const char* kHmacId = "GOOG1EEXAMPLEHMACACCESSID";
constexpr const char* kHmacSecret = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ";
constexpr std::int64_t kStart = 1795503600;  // 2026-11-24T07:00:00Z

// ---- a throwaway service account ------------------------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// One RSA key for the whole file: generating one takes a while.
const std::string& private_pem() {
  static const std::string pem = [] {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!key || !bio ||
        PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      throw std::runtime_error("RSA key generation failed");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  }();
  return pem;
}

nlohmann::json key_json(const std::string& project = "pgvault-test") {
  nlohmann::json j = {{"type", "service_account"},
                      {"private_key_id", "0123abcd"},
                      {"private_key", private_pem()},
                      {"client_email", "backup@pgvault-test.iam.gserviceaccount.com"},
                      {"token_uri", kTokenUri}};
  if (!project.empty()) j["project_id"] = project;
  return j;
}

GcsServiceAccount account(const std::string& project = "pgvault-test") {
  return gcs_parse_service_account(key_json(project).dump());
}

// ---- fixtures ------------------------------------------------------------------------

RetryPolicy no_sleep() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.sleep = [](long) {};
  p.random = [] { return 0.0; };
  return p;
}

class Forward : public HttpTransport {
 public:
  Forward(ScriptedTransport& t, std::mutex& m) : t_(t), m_(m) {}
  HttpResponse perform(const HttpRequest& r) override {
    std::lock_guard lock(m_);
    return t_.perform(r);
  }

 private:
  ScriptedTransport& t_;
  std::mutex& m_;
};

GcsConfig hmac_config() {
  GcsConfig c;
  c.bucket = "bkt";
  c.prefix = "repo";
  c.hmac_access_id = kHmacId;
  c.hmac_secret = kHmacSecret;
  c.part_size = 5 * kMiB;
  c.single_put_limit = 5 * kMiB;
  c.parts_in_flight = 1;
  return c;
}

GcsConfig account_config(const std::string& project = "pgvault-test") {
  GcsConfig c = hmac_config();
  c.hmac_access_id.clear();
  c.hmac_secret.clear();
  c.service_account = account(project);
  return c;
}

struct Fixture {
  ScriptedTransport fake;
  std::mutex mu;
  std::int64_t now = kStart;
  std::unique_ptr<Storage> open(const GcsConfig& c) {
    return make_gcs_storage(
        c, [this] { return std::make_unique<Forward>(fake, mu); }, no_sleep(),
        [this] { return now; });
  }
  // Expects one token request and answers it with `token`.
  void expect_token(const std::string& token, std::int64_t expires_in = 3600) {
    fake.expect_handler("POST", kTokenUri, [token, expires_in](const HttpRequest&) {
      return ScriptedTransport::response(200, nlohmann::json{{"access_token", token},
                                                             {"expires_in", expires_in},
                                                             {"token_type", "Bearer"}}
                                                  .dump());
    });
  }
  std::size_t token_requests() const {
    std::size_t n = 0;
    for (const auto& r : fake.requests()) n += r.url == kTokenUri;
    return n;
  }
};

std::string base64url_decode(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4) s.push_back('=');
  return base64_decode(s);
}

// The claims of the JWT assertion in a token request's form body.
nlohmann::json assertion_claims(const std::string& form) {
  for (const auto& [name, value] : parse_query(form)) {
    if (name != "assertion") continue;
    std::size_t d1 = value.find('.'), d2 = value.find('.', d1 + 1);
    return nlohmann::json::parse(base64url_decode(value.substr(d1 + 1, d2 - d1 - 1)));
  }
  ADD_FAILURE() << "no assertion in the token request";
  return {};
}

std::string header_of(const HttpRequest& r, const std::string& name) {
  RecordedRequest rec{r.method, r.url, r.headers, ""};
  return rec.header(name);
}

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

std::string list_page(const std::vector<std::string>& keys, const std::string& next) {
  std::string b =
      "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult "
      "xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Name>bkt</Name>";
  b += "<IsTruncated>" + std::string(next.empty() ? "false" : "true") + "</IsTruncated>";
  if (!next.empty()) b += "<NextContinuationToken>" + next + "</NextContinuationToken>";
  for (const auto& k : keys)
    b += "<Contents><Key>" + k +
         "</Key><Generation>1795503732000000</Generation><MetaGeneration>1</MetaGeneration>"
         "<LastModified>2026-11-24T07:02:12.000Z</LastModified><ETag>\"e\"</ETag><Size>" +
         std::to_string(k.size()) + "</Size></Contents>";
  return b + "</ListBucketResult>";
}

const char* kNoSuchBucket =
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchBucket</Code>"
    "<Message>The specified bucket does not exist.</Message></Error>";

}  // namespace

// ---- HMAC keys ---------------------------------------------------------------------------

TEST(GcsStorage, HmacRequestsAreSigV4WithRegionAutoOnThePathStyleEndpoint) {
  Fixture f;
  f.fake.expect("PUT", kObj + "dir/a%20b.txt", 200);
  auto s = f.open(hmac_config());
  EXPECT_EQ(s->url(), "gs://bkt/repo");
  s->write_all("dir/a b.txt", "hello");
  ASSERT_EQ(f.fake.verify(), "");
  const RecordedRequest& r = f.fake.requests().at(0);
  EXPECT_EQ(r.url, kObj + "dir/a%20b.txt");
  std::string auth = r.header("authorization");
  EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 ")) << auth;
  std::regex form(
      "AWS4-HMAC-SHA256 Credential=GOOG1EEXAMPLEHMACACCESSID/[0-9]{8}/auto/s3/aws4_request, "
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}");
  EXPECT_TRUE(std::regex_match(auth, form)) << auth;
  // Exactly what gcs_hmac_sign gives for this request.
  SigV4Request sr;
  sr.method = "PUT";
  sr.path = "/bkt/repo/dir/a%20b.txt";
  sr.headers = {{"host", "storage.googleapis.com"}};
  sr.payload_hash = sha256_hex("hello");
  sr.timestamp = r.header("x-amz-date");
  EXPECT_EQ(auth, gcs_hmac_sign(sr, {kHmacId, kHmacSecret, "", true}).authorization);
  for (const auto& [name, value] : r.headers)
    EXPECT_EQ(value.find(kHmacSecret), std::string::npos) << name;
}

TEST(GcsStorage, CustomEndpointForEmulators) {
  Fixture f;
  f.fake.expect("HEAD", "http://127.0.0.1:4443/bkt/repo/x", 404);
  GcsConfig c = hmac_config();
  c.endpoint = "http://127.0.0.1:4443";
  auto s = f.open(c);
  EXPECT_FALSE(s->info("x").has_value());
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, ErrorsNameGcsAndTheStatusButNoSecret) {
  Fixture f;
  f.fake.expect(
      "PUT", kObj + "k", 403,
      "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>Access denied.</Message><StringToSign>AWS4-HMAC-SHA256\n...</StringToSign>"
      "</Error>");
  auto s = f.open(hmac_config());
  try {
    s->write_all("k", "v");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_TRUE(m.starts_with("GCS: PUT " + kObj + "k answered HTTP 403 Forbidden")) << m;
    EXPECT_NE(m.find("SignatureDoesNotMatch"), std::string::npos) << m;
    EXPECT_EQ(m.find(kHmacSecret), std::string::npos) << m;
    EXPECT_EQ(m.find("Signature="), std::string::npos) << m;
  }
  // Transport failures name the store too.
  for (int i = 0; i < 3; ++i)
    f.fake.expect_error("HEAD", kObj + "x", "Couldn't connect to server", true);
  expect_error([&] { s->info("x"); }, ErrorKind::storage, "GCS: ");
  EXPECT_EQ(f.fake.verify(), "");
}

// ---- service account: bearer tokens --------------------------------------------------

TEST(GcsStorage, BearerTokenIsFetchedOnceAndReused) {
  Fixture f;
  std::string form;
  f.fake.expect_handler("POST", kTokenUri, [&](const HttpRequest& r) {
    form = std::string(r.body);
    EXPECT_EQ(header_of(r, "content-type"), "application/x-www-form-urlencoded");
    return ScriptedTransport::response(
        200, R"({"access_token":"ya29.first","expires_in":3599,"token_type":"Bearer"})");
  });
  f.fake.expect("HEAD", kObj + "a", 200, "", {{"Content-Length", "3"}});
  f.fake.expect("PUT", kObj + "b", 200);
  f.fake.expect("GET", kBucketUrl + "?list-type=2&prefix=repo%2F", 200, list_page({}, ""));
  auto s = f.open(account_config());
  EXPECT_EQ(f.fake.requests().size(), 0u);  // nothing is sent while opening
  EXPECT_EQ(s->info("a")->size, 3u);
  s->write_all("b", "data");
  EXPECT_TRUE(s->list("").empty());
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.token_requests(), 1u);
  for (std::size_t i = 1; i < f.fake.requests().size(); ++i) {
    const RecordedRequest& r = f.fake.requests()[i];
    EXPECT_EQ(r.header("authorization"), "Bearer ya29.first") << r.url;
    EXPECT_EQ(r.header("x-amz-date"), "") << r.url;  // no SigV4 with a token
  }
  // The JWT-bearer exchange: the assertion is for this account, scope and time.
  EXPECT_TRUE(form.starts_with("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"))
      << form;
  nlohmann::json claims = assertion_claims(form);
  EXPECT_EQ(claims["iss"], "backup@pgvault-test.iam.gserviceaccount.com");
  EXPECT_EQ(claims["aud"], kTokenUri);
  EXPECT_EQ(claims["scope"], std::string(kGcsScopeReadWrite));
  EXPECT_EQ(claims["iat"].get<std::int64_t>(), kStart);
}

TEST(GcsStorage, TokenIsRefreshedBeforeItExpires) {
  Fixture f;
  auto s = f.open(account_config());
  f.expect_token("ya29.one", 3600);
  f.fake.expect("HEAD", kObj + "x", 404);
  f.fake.expect("HEAD", kObj + "x", 404);
  EXPECT_FALSE(s->info("x"));
  f.now = kStart + 3600 - kGcsTokenRefreshMargin - 1;  // still comfortably valid
  EXPECT_FALSE(s->info("x"));
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.token_requests(), 1u);

  f.now = kStart + 3600 - kGcsTokenRefreshMargin;  // within the margin: a new one
  std::string form;
  f.fake.expect_handler("POST", kTokenUri, [&](const HttpRequest& r) {
    form = std::string(r.body);
    return ScriptedTransport::response(200, R"({"access_token":"ya29.two","expires_in":3600})");
  });
  f.fake.expect("HEAD", kObj + "x", 404);
  EXPECT_FALSE(s->info("x"));
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests().back().header("authorization"), "Bearer ya29.two");
  EXPECT_EQ(assertion_claims(form)["iat"].get<std::int64_t>(), f.now);
}

TEST(GcsStorage, A401RefreshesTheTokenOnceAndRetries) {
  Fixture f;
  auto s = f.open(account_config());
  f.expect_token("ya29.revoked");
  f.fake.expect("GET", kObj + "a.json", 401,
                "<Error><Code>AuthenticationRequired</Code><Message>Invalid Credentials</Message>"
                "</Error>");
  f.expect_token("ya29.fresh");
  f.fake.expect("GET", kObj + "a.json", 206, "{}", {{"Content-Range", "bytes 0-1/2"}});
  EXPECT_EQ(s->read_all("a.json"), "{}");
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests()[3].header("authorization"), "Bearer ya29.fresh");

  // A second 401 for the same request is reported, not retried again.
  f.fake.expect("DELETE", kObj + "b", 401, "<Error><Code>AuthenticationRequired</Code></Error>");
  f.expect_token("ya29.third");
  f.fake.expect("DELETE", kObj + "b", 401, "<Error><Code>AuthenticationRequired</Code></Error>");
  try {
    s->remove("b");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("GCS: DELETE " + kObj + "b answered HTTP 401"), std::string::npos) << m;
    EXPECT_EQ(m.find("ya29."), std::string::npos) << m;
  }
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, TokenEndpointErrorIsClearAndSecretFree) {
  Fixture f;
  auto s = f.open(account_config());
  std::string assertion_form;
  f.fake.expect_handler("POST", kTokenUri, [&](const HttpRequest& r) {
    assertion_form = std::string(r.body);
    return ScriptedTransport::response(
        400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})");
  });
  try {
    s->info("x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_NE(m.find("GCS"), std::string::npos) << m;
    EXPECT_NE(m.find(kTokenUri), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 400"), std::string::npos) << m;
    EXPECT_NE(m.find("invalid_grant: Invalid JWT Signature."), std::string::npos) << m;
    std::string assertion = parse_query(assertion_form).at(1).second;
    ASSERT_GT(assertion.size(), 100u);
    EXPECT_EQ(m.find(assertion.substr(0, 40)), std::string::npos) << m;
    EXPECT_EQ(m.find("PRIVATE KEY"), std::string::npos) << m;
    EXPECT_EQ(m.find(private_pem().substr(40, 40)), std::string::npos) << m;
  }
  // A 200 that is not a token is an error that does not echo the body.
  f.fake.expect("POST", kTokenUri, 200, R"({"id_token":"SECRET-ID-TOKEN"})");
  std::string m;
  try {
    s->info("x");
  } catch (const Error& e) {
    m = e.what();
  }
  EXPECT_NE(m.find("no access_token"), std::string::npos) << m;
  EXPECT_NE(m.find(kTokenUri), std::string::npos) << m;
  EXPECT_EQ(m.find("SECRET-ID-TOKEN"), std::string::npos) << m;
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, TokenSourceIsSharedByThreadsWithOneFetch) {
  std::mutex mu;
  std::atomic<int> fetches{0};
  struct Slow : HttpTransport {
    std::atomic<int>& fetches;
    explicit Slow(std::atomic<int>& f) : fetches(f) {}
    HttpResponse perform(const HttpRequest&) override {
      ++fetches;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return ScriptedTransport::response(200,
                                         R"({"access_token":"ya29.shared","expires_in":3600})");
    }
  };
  GcsTokenSource tokens(
      account(), [&] { return std::make_unique<Slow>(fetches); }, no_sleep(),
      [] { return kStart; });
  std::vector<std::thread> threads;
  std::vector<std::string> got(8);
  for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { got[i] = tokens.token(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fetches.load(), 1);
  for (const auto& t : got) EXPECT_EQ(t, "ya29.shared");
  // Invalidating a token that was already replaced does not fetch again.
  tokens.invalidate("ya29.some-older-token");
  EXPECT_EQ(tokens.token(), "ya29.shared");
  EXPECT_EQ(fetches.load(), 1);
  tokens.invalidate("ya29.shared");
  EXPECT_EQ(tokens.token(), "ya29.shared");
  EXPECT_EQ(fetches.load(), 2);
}

// ---- what GCS does not share with S3 -------------------------------------------------------

TEST(GcsStorage, RemovePrefixDeletesObjectByObject) {
  Fixture f;
  f.fake.expect("GET", kBucketUrl + "?list-type=2&prefix=repo%2Fold%2F", 200,
                list_page({"repo/old/a", "repo/old/b", "repo/old/c/d"}, ""));
  f.fake.expect("DELETE", kObj + "old/a", 204);
  f.fake.expect("DELETE", kObj + "old/b", 404,
                "<Error><Code>NoSuchKey</Code></Error>");  // already gone
  f.fake.expect("DELETE", kObj + "old/c/d", 204);
  f.fake.expect("GET", kBucketUrl + "?uploads=&prefix=repo%2Fold%2F", 200,
                "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
                "</ListMultipartUploadsResult>");
  auto s = f.open(hmac_config());
  s->remove_prefix("old/");
  ASSERT_EQ(f.fake.verify(), "");
  for (const auto& r : f.fake.requests()) EXPECT_EQ(r.url.find("?delete"), std::string::npos);
}

TEST(GcsStorage, MissingBucketIsCreatedWithTheProjectIdOfTheKey) {
  Fixture f;
  auto s = f.open(account_config());
  f.expect_token("ya29.t");
  f.fake.expect("PUT", kObj + "k", 404, kNoSuchBucket);
  f.fake.expect_handler("PUT", kBucketUrl, [](const HttpRequest& r) {
    RecordedRequest rec{r.method, r.url, r.headers, std::string(r.body)};
    EXPECT_EQ(r.url, kBucketUrl);
    EXPECT_EQ(rec.header("x-goog-project-id"), "pgvault-test");
    EXPECT_EQ(rec.header("authorization"), "Bearer ya29.t");
    EXPECT_EQ(rec.body, "");  // no LocationConstraint: "auto" is no location
    return ScriptedTransport::response(200);
  });
  f.fake.expect("PUT", kObj + "k", 200);
  s->write_all("k", "v");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, BucketCreationWithHmacKeysAndItsFailures) {
  Fixture f;
  // HMAC keys: the key's own project, so no x-goog-project-id.
  auto s = f.open(hmac_config());
  f.fake.expect("PUT", kObj + "k", 404, kNoSuchBucket);
  f.fake.expect_handler("PUT", kBucketUrl, [](const HttpRequest& r) {
    RecordedRequest rec{r.method, r.url, r.headers, std::string(r.body)};
    EXPECT_EQ(rec.header("x-goog-project-id"), "");
    EXPECT_EQ(rec.body, "");
    EXPECT_TRUE(rec.header("authorization").starts_with("AWS4-HMAC-SHA256 "));
    return ScriptedTransport::response(
        409, "<Error><Code>BucketAlreadyOwnedByYou</Code><Message>yours</Message></Error>");
  });
  f.fake.expect("PUT", kObj + "k", 200);
  s->write_all("k", "v");
  ASSERT_EQ(f.fake.verify(), "");

  // The name taken by another project: reported with GCS's code.
  auto s2 = f.open(hmac_config());
  f.fake.expect("PUT", kObj + "k", 404, kNoSuchBucket);
  f.fake.expect("PUT", kBucketUrl, 409,
                "<Error><Code>BucketAlreadyExists</Code><Message>Sorry, that name is not "
                "available.</Message></Error>");
  expect_error(
      [&] { s2->write_all("k", "v"); }, ErrorKind::storage,
      "GCS: bucket \"bkt\" does not exist (GCS answered 404 NoSuchBucket) and could not "
      "be created: GCS: PUT https://storage.googleapis.com/bkt answered HTTP 409 Conflict: "
      "BucketAlreadyExists");
  ASSERT_EQ(f.fake.verify(), "");

  // A key without project_id: no attempt, and the error says why.
  auto s3 = f.open(account_config(""));
  f.expect_token("ya29.t");
  f.fake.expect("PUT", kObj + "k", 404, kNoSuchBucket);
  expect_error([&] { s3->write_all("k", "v"); }, ErrorKind::storage, "no project_id");
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, ListingFollowsContinuationTokens) {
  Fixture f;
  const std::string list = kBucketUrl + "?list-type=2&prefix=repo%2Fbk%2F";
  f.fake.expect("GET", list, 200, list_page({"repo/bk/b", "repo/bk/a"}, "CgVyZXBvLw=="));
  f.fake.expect("GET", list + "&continuation-token=CgVyZXBvLw%3D%3D", 200,
                list_page({"repo/bk/c"}, ""));
  auto s = f.open(hmac_config());
  auto objs = s->list("bk/");
  ASSERT_EQ(f.fake.verify(), "");
  ASSERT_EQ(objs.size(), 3u);
  EXPECT_EQ(objs[0].path, "bk/a");
  EXPECT_EQ(objs[2].path, "bk/c");
  EXPECT_EQ(objs[0].mtime_unix, 1795503732);
  // A bucket that does not exist yet holds nothing.
  f.fake.expect("GET", kBucketUrl + "?list-type=2", 404, kNoSuchBucket);
  EXPECT_TRUE(s->list("").empty());
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, RootExistsIsFalseOnlyForNoSuchBucket) {
  Fixture f;
  auto s = f.open(hmac_config());
  f.fake.expect("GET", kBucketUrl + "?list-type=2&max-keys=1&prefix=repo%2F", 404, kNoSuchBucket);
  f.fake.expect("GET", kBucketUrl + "?list-type=2&max-keys=1&prefix=repo%2F", 200,
                list_page({"repo/x"}, ""));
  EXPECT_FALSE(s->root_exists());
  EXPECT_TRUE(s->root_exists());
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsStorage, MultipartUploadSequence) {
  Fixture f;
  const char* initiate =
      "<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult "
      "xmlns='http://s3.amazonaws.com/doc/2006-03-01/'><Bucket>bkt</Bucket><Key>repo/big</Key>"
      "<UploadId>ABPnzm5-gcs</UploadId></InitiateMultipartUploadResult>";
  f.fake.expect("POST", kObj + "big?uploads=", 200, initiate);
  f.fake.expect("PUT", kObj + "big?partNumber=1&uploadId=ABPnzm5-gcs", 200, "",
                {{"ETag", "\"p1\""}});
  f.fake.expect("PUT", kObj + "big?partNumber=2&uploadId=ABPnzm5-gcs", 200, "",
                {{"ETag", "\"p2\""}});
  f.fake.expect("POST", kObj + "big?uploadId=ABPnzm5-gcs", 200,
                "<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Location>"
                "http://storage.googleapis.com/bkt/repo/big</Location><Bucket>bkt</Bucket><Key>"
                "repo/big</Key><ETag>\"7fc8-2\"</ETag></CompleteMultipartUploadResult>");
  auto s = f.open(hmac_config());
  std::string data = pattern(6 * kMiB);
  auto w = s->open_write("big");
  for (std::size_t off = 0; off < data.size(); off += kMiB)
    w->write(as_span(data).subspan(off, std::min(kMiB, data.size() - off)));
  w->commit();
  w.reset();
  ASSERT_EQ(f.fake.verify(), "");
  const auto& rq = f.fake.requests();
  ASSERT_EQ(rq.size(), 4u);
  EXPECT_TRUE(rq[1].body + rq[2].body == data);
  EXPECT_EQ(rq[3].body,
            "<CompleteMultipartUpload>"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;p1&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;p2&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
  for (const auto& r : rq)
    EXPECT_NE(r.header("authorization").find("/auto/s3/"), std::string::npos);
}

TEST(GcsStorage, RangedReadsPinTheETagAndEmptyObjects) {
  Fixture f;
  std::string object = pattern(9 * kMiB, 3);
  auto serve = [&](const HttpRequest& r) {
    RecordedRequest rec{r.method, r.url, r.headers, ""};
    std::size_t a = 0, b = 0;
    EXPECT_EQ(std::sscanf(rec.header("range").c_str(), "bytes=%zu-%zu", &a, &b), 2);
    b = std::min(b, object.size() - 1);
    return ScriptedTransport::response(
        206, object.substr(a, b - a + 1),
        {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                               std::to_string(object.size())},
         {"ETag", "\"c0ffee\""}});
  };
  f.fake.expect_handler("GET", kObj + "base.tar", serve);
  f.fake.expect_handler("GET", kObj + "base.tar", serve);
  // GCS answers a range of an empty object with 416 and "bytes */0".
  f.fake.expect("GET", kObj + "empty", 416,
                "<Error><Code>InvalidRange</Code><Message>The requested range cannot be "
                "satisfied.</Message></Error>",
                {{"Content-Range", "bytes */0"}});
  f.fake.expect("GET", kObj + "gone", 404,
                "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                "</Message></Error>");
  auto s = f.open(hmac_config());
  EXPECT_TRUE(s->read_all("base.tar") == object);
  EXPECT_EQ(s->read_all("empty"), "");
  expect_error([&] { s->open_read("gone"); }, ErrorKind::not_found,
               "object \"gone\" not found in repository gs://bkt/repo");
  ASSERT_EQ(f.fake.verify(), "");
  EXPECT_EQ(f.fake.requests()[0].header("if-match"), "");
  EXPECT_EQ(f.fake.requests()[1].header("if-match"), "\"c0ffee\"");
  EXPECT_EQ(f.fake.requests()[1].header("range"), "bytes=8388608-9437183");
}

// ---- configuration ---------------------------------------------------------------------------

TEST(GcsStorage, ConfigErrors) {
  Fixture f;
  GcsConfig c = hmac_config();
  c.hmac_access_id.clear();
  c.hmac_secret.clear();
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "no credentials");
  c = hmac_config();
  c.service_account = account();
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "not both");
  c = hmac_config();
  c.hmac_secret.clear();
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "HMAC secret");
  c = hmac_config();
  c.part_size = kMiB;
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "invalid GCS setting part_size");
  c = hmac_config();
  c.endpoint = "ftp://x";
  expect_error([&] { f.open(c); }, ErrorKind::invalid_argument, "invalid GCS setting endpoint");
  EXPECT_EQ(f.fake.requests().size(), 0u);
}

TEST(GcsStorage, KeyFileIsReadAtOpenAndErrorsNameTheFileNotItsContent) {
  TempDir tmp;
  Fixture f;
  GcsConfig c = hmac_config();
  c.hmac_access_id.clear();
  c.hmac_secret.clear();

  c.key_file = (tmp.path() / "missing.json").string();
  expect_error([&] { f.open(c); }, ErrorKind::io, c.key_file);

  c.key_file = (tmp.path() / "user.json").string();
  std::ofstream(c.key_file) << R"({"type":"authorized_user","refresh_token":"TOPSECRET-REFRESH"})";
  std::string msg;
  try {
    f.open(c);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    msg = e.what();
  }
  EXPECT_NE(msg.find(c.key_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("service account"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("TOPSECRET"), std::string::npos) << msg;

  c.key_file = (tmp.path() / "sa.json").string();
  std::ofstream(c.key_file) << key_json().dump();
  auto s = f.open(c);
  EXPECT_EQ(s->url(), "gs://bkt/repo");
  f.expect_token("ya29.k");
  f.fake.expect("HEAD", kObj + "x", 404);
  EXPECT_FALSE(s->info("x"));
  EXPECT_EQ(f.fake.verify(), "");
}

TEST(GcsSettings, MappingAndWhichCredentialWins) {
  auto url = parse_repository_url("gs://my_bucket/pre/fix");
  GcsConfig c = gcs_config_from(url, {{"gcs_hmac_access_id", "GOOG1"}, {"gcs_hmac_secret", "S"}});
  EXPECT_EQ(c.bucket, "my_bucket");
  EXPECT_EQ(c.prefix, "pre/fix");
  EXPECT_EQ(c.endpoint, "");
  EXPECT_EQ(c.hmac_access_id, "GOOG1");
  EXPECT_EQ(c.hmac_secret, "S");
  EXPECT_EQ(c.key_file, "");

  c = gcs_config_from(
      url, {{"gcs_key_file", "/etc/pgvault/sa.json"}, {"gcs_endpoint", "http://127.0.0.1:4443"}});
  EXPECT_EQ(c.key_file, "/etc/pgvault/sa.json");
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:4443");
  EXPECT_TRUE(c.hmac_access_id.empty());

  // Both: the HMAC keys win (GOOGLE_APPLICATION_CREDENTIALS is often set
  // machine-wide), and the key file is not used.
  c = gcs_config_from(url, {{"gcs_hmac_access_id", "GOOG1"},
                            {"gcs_hmac_secret", "S"},
                            {"gcs_key_file", "/etc/pgvault/sa.json"}});
  EXPECT_EQ(c.hmac_access_id, "GOOG1");
  EXPECT_EQ(c.key_file, "");
}

TEST(GcsSettings, MissingOrIncompleteCredentialsNameSettingsAndVariables) {
  auto url = parse_repository_url("gs://bucket/p");
  std::string msg;
  try {
    gcs_config_from(url, {});
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    msg = e.what();
  }
  for (std::string needle :
       {"GCS repository gs://bucket/p has no credentials", "pgvault.gcs_key_file",
        "GOOGLE_APPLICATION_CREDENTIALS", "PGVAULT_GCS_KEY_FILE", "pgvault.gcs_hmac_access_id",
        "pgvault.gcs_hmac_secret", "PGVAULT_GCS_HMAC_SECRET"})
    EXPECT_NE(msg.find(needle), std::string::npos) << needle << " in " << msg;

  expect_error(
      [&] {
        gcs_config_from(url, {{"gcs_hmac_access_id", "GOOG1"}});
      },
      ErrorKind::invalid_argument,
      "incomplete HMAC key: set pgvault.gcs_hmac_secret (environment: "
      "PGVAULT_GCS_HMAC_SECRET)");
  std::string secret_msg;
  try {
    gcs_config_from(url, {{"gcs_hmac_secret", "VERYSECRET"}, {"gcs_key_file", "/k.json"}});
  } catch (const Error& e) {
    secret_msg = e.what();
  }
  EXPECT_NE(secret_msg.find("pgvault.gcs_hmac_access_id"), std::string::npos) << secret_msg;
  EXPECT_EQ(secret_msg.find("VERYSECRET"), std::string::npos) << secret_msg;

  expect_error(
      [&] {
        gcs_config_from(url, {{"gcs_key_fille", "/k.json"}});
      },
      ErrorKind::invalid_argument, "did you mean pgvault.gcs_key_file?");
  expect_error([&] { gcs_config_from(parse_repository_url("s3://bucket"), {}); },
               ErrorKind::invalid_argument, "not a GCS repository");
}

TEST(GcsSettings, GoogleApplicationCredentialsFillsTheKeyFile) {
  std::map<std::string, std::string> vars = {
      {"GOOGLE_APPLICATION_CREDENTIALS", "/var/lib/postgresql/sa.json"}};
  auto env = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  StorageSettings s;
  apply_environment(s, env);
  EXPECT_EQ(s["gcs_key_file"], "/var/lib/postgresql/sa.json");
  vars["PGVAULT_GCS_KEY_FILE"] = "/etc/pgvault/sa.json";  // PGVAULT_* wins
  StorageSettings s2;
  apply_environment(s2, env);
  EXPECT_EQ(s2["gcs_key_file"], "/etc/pgvault/sa.json");
}

TEST(GcsSettings, OpenStorageWithBuildsGcsWithoutNetwork) {
  TempDir tmp;
  // Port 1 on the loopback: any request would fail; opening sends none.
  auto hmac = open_repository("gs://bucket/pre", {{"gcs_hmac_access_id", "GOOG1"},
                                                  {"gcs_hmac_secret", "S"},
                                                  {"gcs_endpoint", "http://127.0.0.1:1"}});
  EXPECT_EQ(hmac->url(), "gs://bucket/pre");

  std::string key = (tmp.path() / "sa.json").string();
  std::ofstream(key) << key_json().dump();
  auto sa = open_repository("gs://bucket", {{"gcs_key_file", key}});
  EXPECT_EQ(sa->url(), "gs://bucket");

  std::string broken = (tmp.path() / "broken.json").string();
  std::ofstream(broken) << "{ not json, but -----BEGIN PRIVATE KEY----- SECRETBITS";
  std::string msg;
  try {
    open_repository("gs://bucket", {{"gcs_key_file", broken}});
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(broken), std::string::npos) << msg;
  EXPECT_EQ(msg.find("SECRETBITS"), std::string::npos) << msg;
  expect_error(
      [&] {
        open_repository("gs://bucket", {{"gcs_key_file", key + ".missing"}});
      },
      ErrorKind::io, key + ".missing");
}
