// The Azure Blob driver against the scripted fake transport (and, for the
// parallel block uploads, a thread-safe handler transport): signing headers,
// SAS, Put Blob / Put Block / Put Block List, block-size growth, bounded
// parallelism, List Blobs pagination, ranged reads, container creation,
// errors without secrets and retries.
#include "pgvault/error.hpp"
#include "doubles/scripted_transport.hpp"
#include "pgvault/http/signing.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/http/uri.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/storage.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::http;
using namespace pgvault::test;

namespace {

constexpr const char* kAzuriteKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const std::string kContainerUrl = "http://127.0.0.1:10000/devstoreaccount1/backups";
const std::string kBase = kContainerUrl + "/repo/";
constexpr const char* kSas = "sv=2020-10-02&ss=b&srt=sco&sp=rwdlac&sig=SeCrEtSiGnAtUrE%3D";

AzureConfig azurite_config() {
  AzureConfig c;
  c.account = "devstoreaccount1";
  c.container = "backups";
  c.prefix = "repo";
  c.endpoint = "http://127.0.0.1:10000/devstoreaccount1";
  c.key = kAzuriteKey;
  return c;
}

RetryPolicy no_sleep() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.sleep = [](long) {};
  p.random = [] { return 0.0; };
  return p;
}

// Every transport the driver creates forwards to one ScriptedTransport.
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

struct Scripted {
  ScriptedTransport transport;
  std::mutex mutex;
  int created = 0;
  std::unique_ptr<Storage> open(const AzureConfig& c = azurite_config()) {
    return make_azure_storage(
        c,
        [this] {
          ++created;
          return std::make_unique<Forward>(transport, mutex);
        },
        no_sleep());
  }
};

// Thread-safe: the handler runs outside the lock (so parallel requests
// really overlap); requests are recorded in arrival order.
struct Handled {
  std::mutex mutex;
  std::vector<RecordedRequest> requests;
  std::function<HttpResponse(const HttpRequest&)> handler;

  class T : public HttpTransport {
   public:
    explicit T(Handled& h) : h_(h) {}
    HttpResponse perform(const HttpRequest& r) override {
      {
        std::lock_guard lock(h_.mutex);
        h_.requests.push_back({r.method, r.url, r.headers, std::string(r.body)});
      }
      HttpResponse resp = h_.handler(r);
      if (r.body_sink && resp.status >= 200 && resp.status < 300) {
        r.body_sink(resp.body);
        resp.body.clear();
      }
      return resp;
    }

   private:
    Handled& h_;
  };

  std::atomic<int> created{0};  // transports (connections) the driver made

  std::unique_ptr<Storage> open(const AzureConfig& c) {
    return make_azure_storage(
        c,
        [this] {
          ++created;
          return std::make_unique<T>(*this);
        },
        no_sleep());
  }
  std::vector<RecordedRequest> snapshot() {
    std::lock_guard lock(mutex);
    return requests;
  }
};

std::string query_value(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return "";
  for (const auto& [k, v] : parse_query(url.substr(q + 1)))
    if (k == name) return v;
  return "";
}

bool has_query(const std::string& url, const std::string& fragment) {
  return url.find(fragment) != std::string::npos;
}

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string read_everything(ObjectReader& r, std::size_t bufsize = 1 << 20) {
  std::string out;
  std::vector<std::byte> buf(bufsize);
  while (true) {
    std::size_t n = r.read(buf);
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return out;
}

std::string error_xml(const std::string& code, const std::string& message,
                      const std::string& extra = "") {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code + "</Code><Message>" +
         message + "</Message>" + extra + "</Error>";
}

HttpResponse created() {
  return ScriptedTransport::response(201);
}

}  // namespace

// ---- signing and auth -----------------------------------------------------------

TEST(AzureStorage, SharedKeyHeadersAndInfo) {
  Scripted s;
  auto st = s.open();
  s.transport.expect(
      "HEAD", kBase + "dir/a%20b.txt",
      ScriptedTransport::response(
          200, "", {{"Content-Length", "42"}, {"Last-Modified", "Tue, 24 Nov 2026 07:02:12 GMT"}}));
  auto info = st->info("dir/a b.txt");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->path, "dir/a b.txt");
  EXPECT_EQ(info->size, 42u);
  EXPECT_EQ(info->mtime_unix, 1795503732);
  EXPECT_EQ(s.transport.verify(), "");

  const RecordedRequest& r = s.transport.requests().at(0);
  EXPECT_EQ(r.url, kBase + "dir/a%20b.txt");
  EXPECT_EQ(r.header("x-ms-version"), std::string(kAzureApiVersion));
  std::string date = r.header("x-ms-date");
  EXPECT_EQ(date.size(), 29u) << date;
  EXPECT_TRUE(date.ends_with(" GMT")) << date;
  std::string auth = r.header("Authorization");
  ASSERT_TRUE(auth.starts_with("SharedKey devstoreaccount1:")) << auth;
  std::string sig = auth.substr(std::string("SharedKey devstoreaccount1:").size());
  EXPECT_EQ(sig.size(), 44u);                 // base64 of 32 bytes
  EXPECT_EQ(base64_decode(sig).size(), 32u);  // well-formed
  EXPECT_EQ(auth.find(kAzuriteKey), std::string::npos);

  // The signature is the one azure_sharedkey_sign gives for the request as
  // sent: the Azurite path includes the account, so the canonicalized
  // resource names it twice.
  AzureSharedKeyRequest req;
  req.method = "HEAD";
  req.account = "devstoreaccount1";
  req.path = "/devstoreaccount1/backups/repo/dir/a%20b.txt";
  for (const auto& h : r.headers)
    if (h.first != "Authorization") req.headers.push_back(h);
  AzureSharedKeyResult expected = azure_sharedkey_sign(req, kAzuriteKey);
  EXPECT_EQ(auth, expected.authorization);
  EXPECT_NE(expected.string_to_sign.find("\n/devstoreaccount1/devstoreaccount1/backups/repo/dir/"
                                         "a%20b.txt"),
            std::string::npos)
      << expected.string_to_sign;
  EXPECT_NE(expected.string_to_sign.find("x-ms-version:" + std::string(kAzureApiVersion)),
            std::string::npos);
}

TEST(AzureStorage, DefaultEndpointAndEmptyPrefix) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.account = "myaccount";
  c.endpoint.clear();
  c.prefix.clear();
  auto st = s.open(c);
  EXPECT_EQ(st->url(), "azure://backups");
  s.transport.expect("HEAD", "https://myaccount.blob.core.windows.net/backups/x", 404);
  EXPECT_FALSE(st->info("x").has_value());
  EXPECT_EQ(s.transport.verify(), "");
  EXPECT_EQ(s.transport.requests().at(0).url, "https://myaccount.blob.core.windows.net/backups/x");
  EXPECT_TRUE(
      s.transport.requests().at(0).header("Authorization").starts_with("SharedKey myaccount:"));
}

TEST(AzureStorage, SasTokenInQueryAndNoAuthorization) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.key.clear();
  c.sas_token = std::string("?") + kSas;
  auto st = s.open(c);
  EXPECT_EQ(st->url(), "azure://backups/repo");
  s.transport.expect("HEAD", kBase + "obj?" + kSas, 404);
  EXPECT_FALSE(st->info("obj").has_value());
  const RecordedRequest& r = s.transport.requests().at(0);
  EXPECT_EQ(r.url, kBase + "obj?" + kSas);
  EXPECT_EQ(r.header("Authorization"), "");
  EXPECT_EQ(r.header("x-ms-version"), std::string(kAzureApiVersion));
  EXPECT_FALSE(r.header("x-ms-date").empty());

  // With a query of its own the token is appended with '&'.
  c.block_size = 2;
  c.single_put_limit = 2;
  c.blocks_in_flight = 1;
  auto st2 = s.open(c);
  s.transport.expect("PUT", kBase + "obj?comp=block&blockid=", 201);
  s.transport.expect("PUT", kBase + "obj?comp=block&blockid=", 201);
  s.transport.expect("PUT", kBase + "obj?comp=blocklist&" + kSas, 201);
  auto w = st2->open_write("obj");
  w->write(bytes("abc"));
  w->commit();
  ASSERT_EQ(s.transport.verify(), "");
  const auto& reqs = s.transport.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE(reqs[i].url.ends_with("&" + std::string(kSas))) << reqs[i].url;
    EXPECT_EQ(reqs[i].header("Authorization"), "");
  }
}

TEST(AzureStorage, SasErrorsNeverShowTheSignature) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.key.clear();
  c.sas_token = kSas;
  auto st = s.open(c);
  s.transport.expect("DELETE", kBase + "x", 403,
                     error_xml("AuthorizationFailure", "This request is not authorized."),
                     {{"x-ms-error-code", "AuthorizationFailure"}});
  try {
    st->remove("x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_NE(msg.find("Azure"), std::string::npos) << msg;
    EXPECT_NE(msg.find("403"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AuthorizationFailure"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SeCrEt"), std::string::npos) << msg;
  }
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, AuthenticationFailedIsClearAndSecretFree) {
  Scripted s;
  auto st = s.open();
  s.transport.expect(
      "GET", kContainerUrl + "?restype=container&comp=list", 403,
      error_xml("AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization "
                "header is formed correctly including the signature.",
                "<AuthenticationErrorDetail>The MAC signature found in the HTTP request "
                "'c2VjcmV0c2lnbmF0dXJl' is not the same as any computed signature."
                "</AuthenticationErrorDetail>"));
  try {
    st->list("");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_NE(msg.find("Azure"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HTTP 403"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AuthenticationFailed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Server failed to authenticate"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("c2VjcmV0c2lnbmF0dXJl"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kAzuriteKey), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SharedKey"), std::string::npos) << msg;
  }
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, RejectsBadSettings) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.key.clear();
  expect_error([&] { s.open(c); }, ErrorKind::invalid_argument, "pgvault.azure_sas_token");
  c = azurite_config();
  c.sas_token = kSas;
  expect_error([&] { s.open(c); }, ErrorKind::invalid_argument, "only one");
  c = azurite_config();
  c.key = "not base64 at all!";
  try {
    s.open(c);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(std::string(e.what()).find("not base64 at all"), std::string::npos) << e.what();
  }
  c = azurite_config();
  c.container.clear();
  expect_error([&] { s.open(c); }, ErrorKind::invalid_argument, "container");
  c = azurite_config();
  c.prefix = "/repo";
  expect_error([&] { s.open(c); }, ErrorKind::invalid_argument, "prefix");
}

// ---- writes ---------------------------------------------------------------------

TEST(AzureStorage, SmallObjectIsOnePutBlob) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("PUT", kBase + "dir/small.json", created());
  auto w = st->open_write("dir/small.json");
  w->write(bytes("hello, "));
  w->write(bytes("azure"));
  EXPECT_EQ(s.transport.requests().size(), 0u);  // nothing before commit
  w->commit();
  EXPECT_EQ(s.transport.verify(), "");
  const RecordedRequest& r = s.transport.requests().at(0);
  EXPECT_EQ(r.url, kBase + "dir/small.json");
  EXPECT_EQ(r.body, "hello, azure");
  EXPECT_EQ(r.header("x-ms-blob-type"), "BlockBlob");
  EXPECT_EQ(r.header("Content-Length"), "12");
  EXPECT_TRUE(r.header("Authorization").starts_with("SharedKey devstoreaccount1:"));
  expect_error([&] { w->commit(); }, ErrorKind::internal, "committed twice");
}

TEST(AzureStorage, EmptyObjectIsAPutBlob) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("PUT", kBase + "empty", created());
  st->write_all("empty", "");
  EXPECT_EQ(s.transport.verify(), "");
  EXPECT_EQ(s.transport.requests().at(0).body, "");
  EXPECT_EQ(s.transport.requests().at(0).header("Content-Length"), "0");
}

TEST(AzureStorage, BlockUploadSequencing) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.block_size = 4;
  c.single_put_limit = 6;
  c.blocks_in_flight = 1;
  auto st = s.open(c);
  for (int i = 0; i < 3; ++i) s.transport.expect("PUT", kBase + "big?comp=block&blockid=", 201);
  s.transport.expect("PUT", kBase + "big?comp=blocklist", 201);
  {
    auto w = st->open_write("big");
    w->write(bytes("0123"));
    w->write(bytes("45"));  // 6 bytes: still a single put candidate
    w->write(bytes("6789"));
    w->commit();
  }
  ASSERT_EQ(s.transport.verify(), "");
  const auto& reqs = s.transport.requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::vector<std::string> ids;
  const char* bodies[] = {"0123", "4567", "89"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reqs[i].method, "PUT");
    EXPECT_EQ(reqs[i].body, bodies[i]);
    EXPECT_EQ(reqs[i].header("Content-Length"), std::to_string(std::strlen(bodies[i])));
    EXPECT_EQ(query_value(reqs[i].url, "comp"), "block");
    std::string id = query_value(reqs[i].url, "blockid");
    ASSERT_FALSE(id.empty());
    EXPECT_NO_THROW(base64_decode(id));
    ids.push_back(id);
  }
  EXPECT_EQ(ids[0].size(), ids[1].size());
  EXPECT_EQ(ids[1].size(), ids[2].size());
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>" + ids[0] +
                    "</Latest><Latest>" + ids[1] + "</Latest><Latest>" + ids[2] +
                    "</Latest></BlockList>";
  EXPECT_EQ(reqs[3].body, xml);
  EXPECT_EQ(reqs[3].header("Content-Length"), std::to_string(xml.size()));
  EXPECT_TRUE(reqs[3].header("Authorization").starts_with("SharedKey devstoreaccount1:"));
}

TEST(AzureStorage, BlockSizeGrowthFormula) {
  constexpr std::uint64_t MiB = 1ull << 20;
  EXPECT_EQ(azure_block_size(8 * MiB, 0), 8 * MiB);
  EXPECT_EQ(azure_block_size(8 * MiB, 4999), 8 * MiB);
  EXPECT_EQ(azure_block_size(8 * MiB, 5000), 16 * MiB);
  EXPECT_EQ(azure_block_size(8 * MiB, 10000), 32 * MiB);
  EXPECT_EQ(azure_block_size(8 * MiB, 44999), 2048 * MiB);
  EXPECT_EQ(azure_block_size(8 * MiB, 45000), 4000 * MiB);  // capped at Azure's block limit
  EXPECT_EQ(azure_block_size(8 * MiB, 49999), 4000 * MiB);
  EXPECT_EQ(azure_block_size(1, 5000 * 3), 8u);
  // 5000 * (8 + 16 + ... + 2048 + 4000) MiB, about 38.5 TiB.
  EXPECT_EQ(azure_max_object_size(8 * MiB), 5000 * (4088 + 4000) * MiB);
  EXPECT_GT(azure_max_object_size(8 * MiB), 38ull << 40);
  // Below 39 GiB the blocks stay at 8 MiB (flat memory).
  EXPECT_GT(5000 * 8 * MiB, 39ull << 30);
}

TEST(AzureStorage, WriterGrowsTheBlockSize) {
  Handled h;
  h.handler = [](const HttpRequest&) { return ScriptedTransport::response(201); };
  AzureConfig c = azurite_config();
  c.block_size = 1;
  c.single_put_limit = 0;
  c.blocks_in_flight = 4;
  auto st = h.open(c);
  std::string data(5000 + 2 + 2 + 1, 'x');
  auto w = st->open_write("grow");
  w->write(bytes(data));
  w->commit();
  auto reqs = h.snapshot();
  std::map<std::string, std::string> blocks;  // id -> body
  std::string list;
  for (const auto& r : reqs) {
    if (has_query(r.url, "comp=blocklist"))
      list = r.body;
    else
      blocks[query_value(r.url, "blockid")] = r.body;
  }
  ASSERT_EQ(blocks.size(), 5003u);
  // The list names the blocks in order; blocks 0..4999 hold 1 byte, then 2.
  std::vector<std::string> order;
  for (std::size_t p = 0; (p = list.find("<Latest>", p)) != std::string::npos;) {
    p += 8;
    order.push_back(list.substr(p, list.find('<', p) - p));
  }
  ASSERT_EQ(order.size(), 5003u);
  EXPECT_EQ(blocks[order[0]].size(), 1u);
  EXPECT_EQ(blocks[order[4999]].size(), 1u);
  EXPECT_EQ(blocks[order[5000]].size(), 2u);
  EXPECT_EQ(blocks[order[5001]].size(), 2u);
  EXPECT_EQ(blocks[order[5002]].size(), 1u);
  for (const auto& id : order) EXPECT_EQ(id.size(), order[0].size());
}

TEST(AzureStorage, ParallelBlocksAreBounded) {
  Handled h;
  std::atomic<int> current{0}, peak{0};
  std::set<std::thread::id> threads;
  std::mutex tm;
  std::condition_variable two_in_flight;
  h.handler = [&](const HttpRequest& r) {
    if (has_query(r.url, "comp=block&")) {
      int now = ++current;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      {
        // The first block is held until a second one is in flight: parallel
        // uploads show, however slowly threads get scheduled (a minute is
        // the limit, when there is no parallelism at all).
        std::unique_lock lock(tm);
        threads.insert(std::this_thread::get_id());
        two_in_flight.notify_all();
        two_in_flight.wait_for(lock, std::chrono::seconds(60), [&] { return peak.load() >= 2; });
      }
      // Room for more to pile up, were the bound not kept.
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
      --current;
    }
    return ScriptedTransport::response(201);
  };
  AzureConfig c = azurite_config();
  c.block_size = 1000;
  c.single_put_limit = 1000;
  c.blocks_in_flight = 3;
  auto st = h.open(c);
  std::string data;
  for (int i = 0; i < 12; ++i) data += std::string(1000, static_cast<char>('a' + i));
  auto w = st->open_write("par");
  for (std::size_t off = 0; off < data.size(); off += 700)
    w->write(bytes(std::string_view(data).substr(off, 700)));
  w->commit();
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);
  EXPECT_LE(threads.size(), 3u);
  // Every block arrived once; the block list reassembles the data in order.
  auto reqs = h.snapshot();
  std::map<std::string, std::string> blocks;
  std::string list;
  for (const auto& r : reqs) {
    if (has_query(r.url, "comp=blocklist"))
      list = r.body;
    else
      blocks[query_value(r.url, "blockid")] = r.body;
  }
  ASSERT_EQ(blocks.size(), 12u);
  EXPECT_TRUE(reqs.back().url.starts_with(kBase + "par?comp=blocklist"));
  std::string joined;
  for (std::size_t p = 0; (p = list.find("<Latest>", p)) != std::string::npos;) {
    p += 8;
    joined += blocks[list.substr(p, list.find('<', p) - p)];
  }
  EXPECT_EQ(joined, data);

  // The next upload finds the writer's and its workers' connections in the pool.
  w.reset();
  const int connections = h.created.load();
  EXPECT_LE(connections, 4);  // the writer's own and one per block in flight
  auto again = st->open_write("par2");
  again->write(bytes(data));
  again->commit();
  again.reset();
  EXPECT_EQ(h.created.load(), connections) << "a second upload opened connections of its own";
}

TEST(AzureStorage, FailedBlockFailsCommitWithoutBlockList) {
  Handled h;
  std::atomic<int> n{0};
  h.handler = [&](const HttpRequest& r) {
    if (has_query(r.url, "comp=block&") && ++n == 2)
      return ScriptedTransport::response(
          400, error_xml("InvalidBlobOrBlock", "The specified blob or block content is invalid."),
          {{"x-ms-error-code", "InvalidBlobOrBlock"}});
    return ScriptedTransport::response(201);
  };
  AzureConfig c = azurite_config();
  c.block_size = 10;
  c.single_put_limit = 10;
  c.blocks_in_flight = 2;
  auto st = h.open(c);
  expect_error(
      [&] {
        auto w = st->open_write("fail");
        for (int i = 0; i < 8; ++i) w->write(bytes("0123456789"));
        w->commit();
      },
      ErrorKind::storage, "InvalidBlobOrBlock");
  for (const auto& r : h.snapshot()) EXPECT_FALSE(has_query(r.url, "comp=blocklist")) << r.url;
}

TEST(AzureStorage, AbandonedWriterSendsNoBlockList) {
  Handled h;
  h.handler = [](const HttpRequest&) { return ScriptedTransport::response(201); };
  AzureConfig c = azurite_config();
  c.block_size = 10;
  c.single_put_limit = 10;
  c.blocks_in_flight = 2;
  auto st = h.open(c);
  {
    auto w = st->open_write("abandoned");
    for (int i = 0; i < 5; ++i) w->write(bytes("0123456789"));
  }  // destroyed without commit: joins, does not throw
  auto reqs = h.snapshot();
  EXPECT_GE(reqs.size(), 1u);
  for (const auto& r : reqs) {
    EXPECT_TRUE(has_query(r.url, "comp=block&")) << r.url;
    EXPECT_FALSE(has_query(r.url, "comp=blocklist")) << r.url;
  }
}

TEST(AzureStorage, CreatesAMissingContainerOnce) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("PUT", kBase + "first", 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."),
                     {{"x-ms-error-code", "ContainerNotFound"}});
  s.transport.expect("PUT", kContainerUrl + "?restype=container", 201);
  s.transport.expect("PUT", kBase + "first", created());
  s.transport.expect("PUT", kBase + "second", created());
  st->write_all("first", "1");
  st->write_all("second", "2");
  EXPECT_EQ(s.transport.verify(), "");
  const auto& reqs = s.transport.requests();
  EXPECT_EQ(reqs[1].url, kContainerUrl + "?restype=container");
  EXPECT_EQ(reqs[1].header("Content-Length"), "0");
  EXPECT_TRUE(reqs[1].header("Authorization").starts_with("SharedKey devstoreaccount1:"));
  EXPECT_EQ(reqs[2].body, "1");
}

TEST(AzureStorage, MissingContainerThatCannotBeCreated) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.key.clear();
  c.sas_token = kSas;
  auto st = s.open(c);
  s.transport.expect("PUT", kBase + "first", 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."));
  s.transport.expect("PUT", kContainerUrl + "?restype=container&" + kSas, 403,
                     error_xml("AuthorizationPermissionMismatch",
                               "This request is not authorized to perform this operation using "
                               "this permission."));
  try {
    st->write_all("first", "1");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::storage);
    EXPECT_NE(msg.find("container \"backups\" does not exist"), std::string::npos) << msg;
    EXPECT_NE(msg.find("403"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AuthorizationPermissionMismatch"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SeCrEt"), std::string::npos) << msg;
  }
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, ContainerCreatedForBlocksToo) {
  Scripted s;
  AzureConfig c = azurite_config();
  c.block_size = 2;
  c.single_put_limit = 2;
  c.blocks_in_flight = 1;
  auto st = s.open(c);
  s.transport.expect("PUT", kBase + "b?comp=block&", 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."));
  s.transport.expect(
      "PUT", kContainerUrl + "?restype=container", 409,
      error_xml("ContainerAlreadyExists", "The specified container already exists."));
  s.transport.expect("PUT", kBase + "b?comp=block&", 201);
  s.transport.expect("PUT", kBase + "b?comp=block&", 201);
  s.transport.expect("PUT", kBase + "b?comp=blocklist", 201);
  st->write_all("b", "abcd");
  EXPECT_EQ(s.transport.verify(), "");
}

// ---- list, read, remove -----------------------------------------------------------

namespace {
std::string list_page(const std::vector<std::pair<std::string, std::uint64_t>>& blobs,
                      const std::string& next_marker) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
      "ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" ContainerName=\"backups\">"
      "<Prefix>repo/</Prefix><Blobs>";
  for (const auto& [name, size] : blobs)
    xml += "<Blob><Name>" + name +
           "</Name><Properties><Last-Modified>Tue, 24 Nov 2026 07:02:12 GMT</Last-Modified>"
           "<Content-Length>" +
           std::to_string(size) +
           "</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>";
  xml += "</Blobs><NextMarker>" + next_marker + "</NextMarker></EnumerationResults>";
  return xml;
}
}  // namespace

TEST(AzureStorage, ListFollowsNextMarkerAcrossPages) {
  Scripted s;
  auto st = s.open();
  const std::string q = kContainerUrl + "?restype=container&comp=list&prefix=repo%2Fb%2F";
  s.transport.expect("GET", q, 200, list_page({{"repo/b/2", 20}, {"repo/b/1", 10}}, "m1/x=="));
  s.transport.expect("GET", q + "&marker=m1%2Fx%3D%3D", 200, list_page({{"repo/b/3", 30}}, "m2"));
  s.transport.expect("GET", q + "&marker=m2", 200, list_page({{"repo/b/4/z", 40}}, ""));
  auto objs = st->list("b/");
  ASSERT_EQ(s.transport.verify(), "");
  ASSERT_EQ(objs.size(), 4u);
  EXPECT_EQ(objs[0].path, "b/1");
  EXPECT_EQ(objs[0].size, 10u);
  EXPECT_EQ(objs[0].mtime_unix, 1795503732);
  EXPECT_EQ(objs[1].path, "b/2");
  EXPECT_EQ(objs[2].path, "b/3");
  EXPECT_EQ(objs[3].path, "b/4/z");
  EXPECT_EQ(objs[3].size, 40u);
  EXPECT_EQ(query_value(s.transport.requests()[1].url, "marker"), "m1/x==");
  EXPECT_EQ(s.transport.requests()[2].url, q + "&marker=m2");
}

// A delimited List Blobs: one BlobPrefix a directory, the blobs beneath
// (a system's WAL archive) never paged through.
TEST(AzureStorage, ListDirectoriesAsksForBlobPrefixesAcrossPages) {
  Scripted s;
  auto st = s.open();
  const auto page = [](const std::vector<std::string>& prefixes, const std::string& next) {
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
        "ContainerName=\"backups\"><Prefix>repo/</Prefix><Delimiter>/</Delimiter><Blobs>"
        "<Blob><Name>repo/pgvault-repository.json</Name><Properties><Content-Length>13"
        "</Content-Length></Properties></Blob>";
    for (const auto& p : prefixes) xml += "<BlobPrefix><Name>" + p + "</Name></BlobPrefix>";
    return xml + "</Blobs><NextMarker>" + next + "</NextMarker></EnumerationResults>";
  };
  const std::string q = kContainerUrl + "?restype=container&comp=list&prefix=repo%2F&delimiter=%2F";
  s.transport.expect("GET", q, 200, page({"repo/7291/", "repo/7300/"}, "m1"));
  s.transport.expect("GET", q + "&marker=m1", 200, page({"repo/7123/", "repo/odd"}, ""));
  EXPECT_EQ(st->list_directories(""), (std::vector<std::string>{"7123", "7291", "7300"}));
  ASSERT_EQ(s.transport.verify(), "");
  s.transport.expect(
      "GET", kContainerUrl + "?restype=container&comp=list&prefix=repo%2F7291%2F&delimiter=%2F",
      200, page({"repo/7291/backups/", "repo/7291/wal/"}, ""));
  EXPECT_EQ(st->list_directories("7291/"), (std::vector<std::string>{"backups", "wal"}));
  ASSERT_EQ(s.transport.verify(), "");
  s.transport.expect("GET", q, 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."));
  EXPECT_TRUE(st->list_directories("").empty());
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, ListOfAMissingContainerIsEmpty) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("GET", kContainerUrl + "?restype=container&comp=list", 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."));
  EXPECT_TRUE(st->list("").empty());
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, RootExistsIsFalseOnlyForContainerNotFound) {
  Scripted s;
  auto st = s.open();
  const std::string probe =
      kContainerUrl + "?restype=container&comp=list&maxresults=1&prefix=repo%2F";
  s.transport.expect("GET", probe, 404,
                     error_xml("ContainerNotFound", "The specified container does not exist."),
                     {{"x-ms-error-code", "ContainerNotFound"}});
  s.transport.expect("GET", probe, 200,
                     "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs/>"
                     "</EnumerationResults>");
  s.transport.expect("GET", probe, 403,
                     error_xml("AuthorizationFailure", "This request is not authorized."));
  EXPECT_FALSE(st->root_exists());
  EXPECT_TRUE(st->root_exists());
  expect_error([&] { st->root_exists(); }, ErrorKind::storage, "403");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, RangedReadOfTwentyMiB) {
  Scripted s;
  auto st = s.open();
  const std::size_t size = 20u << 20;
  std::string blob(size, '\0');
  for (std::size_t i = 0; i < size; ++i) blob[i] = static_cast<char>((i * 7 + i / 4099) & 0xff);
  auto serve = [&](const HttpRequest& r) {
    std::string range;
    for (const auto& [k, v] : r.headers)
      if (k == "x-ms-range") range = v;
    unsigned long long a = 0, b = 0;
    EXPECT_EQ(std::sscanf(range.c_str(), "bytes=%llu-%llu", &a, &b), 2) << range;
    b = std::min<unsigned long long>(b, size - 1);
    return ScriptedTransport::response(
        206, blob.substr(a, b - a + 1),
        {{"Content-Range",
          "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(size)},
         {"ETag", "\"0x8DC1\""}});
  };
  for (int i = 0; i < 3; ++i) s.transport.expect_handler("GET", kBase + "big.tar", serve);
  auto reader = st->open_read("big.tar");
  std::string got = read_everything(*reader, 3u << 20);
  ASSERT_EQ(s.transport.verify(), "");
  EXPECT_EQ(got.size(), size);
  EXPECT_TRUE(got == blob);
  const auto& reqs = s.transport.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("x-ms-range"), "bytes=0-8388607");
  // The ranges after the first are asked for side by side, in any order.
  std::vector<std::string> later{reqs[1].header("x-ms-range"), reqs[2].header("x-ms-range")};
  std::sort(later.begin(), later.end());
  EXPECT_EQ(later, (std::vector<std::string>{"bytes=16777216-20971519", "bytes=8388608-16777215"}));
  EXPECT_EQ(reqs[0].header("If-Match"), "");
  EXPECT_EQ(reqs[1].header("If-Match"), "\"0x8DC1\"");
  EXPECT_EQ(reqs[2].header("If-Match"), "\"0x8DC1\"");
  std::byte extra[4];
  EXPECT_EQ(reader->read(extra), 0u);
}

TEST(AzureStorage, ReadOfAMissingObjectIsNotFound) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("GET", kBase + "nope/backup.json", 404,
                     error_xml("BlobNotFound", "The specified blob does not exist."),
                     {{"x-ms-error-code", "BlobNotFound"}});
  expect_error([&] { st->open_read("nope/backup.json"); }, ErrorKind::not_found,
               "\"nope/backup.json\"");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, ReadOfAnEmptyObject) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("GET", kBase + "empty", 416,
                     error_xml("InvalidRange", "The range specified is invalid."),
                     {{"Content-Range", "bytes */0"}});
  EXPECT_EQ(st->read_all("empty"), "");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, SmallReadAndRemove) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("GET", kBase + "a.json", 206, "{\"x\":1}", {{"Content-Range", "bytes 0-6/7"}});
  s.transport.expect("DELETE", kBase + "a.json", 202);
  s.transport.expect("DELETE", kBase + "gone", 404,
                     error_xml("BlobNotFound", "The specified blob does not exist."));
  EXPECT_EQ(st->read_all("a.json"), "{\"x\":1}");
  st->remove("a.json");
  st->remove("gone");  // not an error
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, RemovePrefixListsAndDeletesEach) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("GET", kContainerUrl + "?restype=container&comp=list&prefix=repo%2Fold%2F",
                     200, list_page({{"repo/old/a", 1}, {"repo/old/b", 2}}, ""));
  s.transport.expect("DELETE", kBase + "old/a", 202);
  s.transport.expect("DELETE", kBase + "old/b", 202);
  st->remove_prefix("old/");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, RetriesOn503) {
  Scripted s;
  auto st = s.open();
  s.transport.expect("HEAD", kBase + "x", 503, "", {{"x-ms-error-code", "ServerBusy"}});
  s.transport.expect_error("HEAD", kBase + "x", "connection reset", true);
  s.transport.expect("HEAD", kBase + "x", 200, "", {{"Content-Length", "5"}});
  auto info = st->info("x");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(s.transport.verify(), "");

  // Out of attempts: the last status is reported.
  for (int i = 0; i < 3; ++i)
    s.transport.expect("PUT", kBase + "y", 503, "", {{"x-ms-error-code", "ServerBusy"}});
  expect_error([&] { st->write_all("y", "data"); }, ErrorKind::storage, "HTTP 503");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, InvalidPathsAreRejected) {
  Scripted s;
  auto st = s.open();
  expect_error([&] { st->info("../x"); }, ErrorKind::invalid_argument);
  expect_error([&] { st->open_write("/abs"); }, ErrorKind::invalid_argument);
  EXPECT_EQ(s.transport.requests().size(), 0u);
}

// ---- a round trip against an in-memory Azure fake ---------------------------------

namespace {

// Just enough of the Blob service, checking every SharedKey signature by
// recomputing it from the request as received. List Blobs answers two blobs
// a page.
class FakeAzure {
 public:
  HttpResponse handle(const HttpRequest& r) {
    std::lock_guard lock(mutex_);
    if (!r.url.starts_with(kContainerUrl))
      return ScriptedTransport::response(400, error_xml("InvalidUri", "bad url"));
    std::string rest = r.url.substr(kContainerUrl.size());
    std::string query;
    if (auto q = rest.find('?'); q != std::string::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    QueryParams params = parse_query(query);
    auto param = [&](const std::string& n) {
      for (const auto& [k, v] : params)
        if (k == n) return v;
      return std::string();
    };
    auto header = [&](const std::string& n) {
      RecordedRequest rr{r.method, r.url, r.headers, ""};
      return rr.header(n);
    };
    // Authentication.
    AzureSharedKeyRequest sk;
    sk.method = r.method;
    sk.account = "devstoreaccount1";
    sk.path = parse_url(r.url).path;
    sk.query = params;
    for (const auto& h : r.headers)
      if (h.first != "Authorization") sk.headers.push_back(h);
    if (header("Authorization") != azure_sharedkey_sign(sk, kAzuriteKey).authorization)
      return ScriptedTransport::response(403, error_xml("AuthenticationFailed", "bad signature"));
    if (header("x-ms-version") != kAzureApiVersion || header("x-ms-date").empty())
      return ScriptedTransport::response(400, error_xml("MissingRequiredHeader", "x-ms"));
    ++requests;

    if (rest.empty()) {  // container operations
      if (r.method == "PUT" && param("restype") == "container") {
        if (container_)
          return ScriptedTransport::response(409, error_xml("ContainerAlreadyExists", "x"));
        container_ = true;
        return ScriptedTransport::response(201);
      }
      if (r.method == "GET" && param("comp") == "list") {
        if (!container_) return missing_container();
        std::string prefix = param("prefix"), marker = param("marker");
        std::string xml = "<EnumerationResults><Blobs>";
        int n = 0;
        std::string next;
        for (auto it = blobs_.lower_bound(marker); it != blobs_.end(); ++it) {
          if (!it->first.starts_with(prefix)) continue;
          if (n == 2) {
            next = it->first;
            break;
          }
          ++n;
          xml += "<Blob><Name>" + it->first + "</Name><Properties><Content-Length>" +
                 std::to_string(it->second.size()) +
                 "</Content-Length><Last-Modified>Tue, 24 Nov 2026 07:02:12 GMT</Last-Modified>"
                 "</Properties></Blob>";
        }
        ++list_pages;
        return ScriptedTransport::response(
            200, xml + "</Blobs><NextMarker>" + next + "</NextMarker></EnumerationResults>");
      }
      return ScriptedTransport::response(400, error_xml("UnsupportedQuery", "x"));
    }
    std::string blob = uri_decode(rest.substr(1));
    if (!container_) return missing_container();
    if (r.method == "PUT") {
      if (header("Content-Length") != std::to_string(r.body.size()))
        return ScriptedTransport::response(400, error_xml("InvalidHeaderValue", "length"));
      if (param("comp") == "block") {
        std::string id = param("blockid");
        if (!block_id_length_.contains(blob)) block_id_length_[blob] = id.size();
        if (block_id_length_[blob] != id.size())
          return ScriptedTransport::response(400, error_xml("InvalidBlobOrBlock", "id length"));
        uncommitted_[blob][id] = std::string(r.body);
        return ScriptedTransport::response(201);
      }
      if (param("comp") == "blocklist") {
        std::string data, body(r.body);
        for (std::size_t p = 0; (p = body.find("<Latest>", p)) != std::string::npos;) {
          p += 8;
          std::string id = body.substr(p, body.find('<', p) - p);
          auto it = uncommitted_[blob].find(id);
          if (it == uncommitted_[blob].end())
            return ScriptedTransport::response(400, error_xml("InvalidBlockList", "x"));
          data += it->second;
        }
        blobs_[blob] = data;
        uncommitted_.erase(blob);
        block_id_length_.erase(blob);
        return ScriptedTransport::response(201);
      }
      if (header("x-ms-blob-type") != "BlockBlob")
        return ScriptedTransport::response(400, error_xml("MissingRequiredHeader", "type"));
      blobs_[blob] = std::string(r.body);
      return ScriptedTransport::response(201);
    }
    auto it = blobs_.find(blob);
    if (it == blobs_.end())
      return ScriptedTransport::response(404,
                                         r.method == "HEAD" ? "" : error_xml("BlobNotFound", "x"),
                                         {{"x-ms-error-code", "BlobNotFound"}});
    if (r.method == "HEAD")
      return ScriptedTransport::response(200, "",
                                         {{"Content-Length", std::to_string(it->second.size())}});
    if (r.method == "DELETE") {
      blobs_.erase(it);
      return ScriptedTransport::response(202);
    }
    if (r.method == "GET") {
      unsigned long long a = 0, b = 0;
      if (std::sscanf(header("x-ms-range").c_str(), "bytes=%llu-%llu", &a, &b) != 2)
        return ScriptedTransport::response(200, it->second);
      const std::string& d = it->second;
      if (a >= d.size())
        return ScriptedTransport::response(
            416, error_xml("InvalidRange", "x"),
            {{"Content-Range", "bytes */" + std::to_string(d.size())}});
      b = std::min<unsigned long long>(b, d.size() - 1);
      return ScriptedTransport::response(
          206, d.substr(a, b - a + 1),
          {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                 std::to_string(d.size())}});
    }
    return ScriptedTransport::response(405);
  }

  std::map<std::string, std::string> blobs() {
    std::lock_guard lock(mutex_);
    return blobs_;
  }
  std::size_t uncommitted() {
    std::lock_guard lock(mutex_);
    return uncommitted_.size();
  }

  int requests = 0;
  int list_pages = 0;

 private:
  static HttpResponse missing_container() {
    return ScriptedTransport::response(
        404, error_xml("ContainerNotFound", "The specified container does not exist."),
        {{"x-ms-error-code", "ContainerNotFound"}});
  }

  std::mutex mutex_;
  bool container_ = false;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::map<std::string, std::string>> uncommitted_;
  std::map<std::string, std::size_t> block_id_length_;
};

}  // namespace

TEST(AzureStorage, RoundTripAgainstAFakeService) {
  FakeAzure fake;
  Handled h;
  h.handler = [&](const HttpRequest& r) { return fake.handle(r); };
  AzureConfig c = azurite_config();
  c.block_size = 1000;
  c.single_put_limit = 1500;
  c.blocks_in_flight = 3;
  auto st = h.open(c);

  EXPECT_TRUE(st->list("").empty());  // no container yet
  std::string big;
  for (int i = 0; i < 10500; ++i) big.push_back(static_cast<char>((i * 131 + i / 97) & 0xff));
  {
    auto w = st->open_write("b1/data file.tar");
    for (std::size_t off = 0; off < big.size(); off += 333)
      w->write(bytes(std::string_view(big).substr(off, 333)));
    w->commit();
  }
  st->write_all("b1/backup.json", "{\"ok\":true}");
  st->write_all("b2/backup.json", "{}");
  st->write_all("b2/empty", "");
  {
    auto w = st->open_write("b3/abandoned");
    w->write(bytes(big));
  }
  auto all = st->list("");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].path, "b1/backup.json");
  EXPECT_EQ(all[1].path, "b1/data file.tar");
  EXPECT_EQ(all[1].size, big.size());
  EXPECT_EQ(all[3].path, "b2/empty");
  EXPECT_EQ(fake.list_pages, 2);  // two blobs a page, followed by NextMarker
  EXPECT_EQ(fake.blobs().count("repo/b1/data file.tar"), 1u);
  EXPECT_EQ(fake.uncommitted(), 1u);  // the abandoned writer: invisible blocks only

  auto reader = st->open_read("b1/data file.tar");
  EXPECT_EQ(read_everything(*reader, 77), big);
  EXPECT_EQ(st->read_all("b1/backup.json"), "{\"ok\":true}");
  EXPECT_EQ(st->read_all("b2/empty"), "");
  EXPECT_EQ(st->info("b1/data file.tar")->size, big.size());
  expect_error([&] { st->open_read("b3/abandoned"); }, ErrorKind::not_found, "b3/abandoned");

  st->remove_prefix("b1/");
  auto left = st->list("");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].path, "b2/backup.json");
  EXPECT_FALSE(st->info("b1/backup.json").has_value());
}

TEST(AzureStorage, ShortRangeIsResumedAndEmptyOneIsAnError) {
  Scripted s;
  auto st = s.open();
  // 10 bytes: the first answer stops after 4, the rest is asked for again.
  s.transport.expect("GET", kBase + "obj", 206, "0123", {{"Content-Range", "bytes 0-3/10"}});
  s.transport.expect("GET", kBase + "obj", 206, "456789", {{"Content-Range", "bytes 4-9/10"}});
  EXPECT_EQ(st->read_all("obj"), "0123456789");
  ASSERT_EQ(s.transport.verify(), "");
  EXPECT_EQ(s.transport.requests()[1].header("x-ms-range"), "bytes=4-8388607");
  // An empty 206 for bytes that exist is an error, not the end of the object.
  s.transport.expect("GET", kBase + "obj", 206, "0123", {{"Content-Range", "bytes 0-3/10"}});
  s.transport.expect("GET", kBase + "obj", 206, "", {{"Content-Range", "bytes 4-9/10"}});
  expect_error([&] { st->read_all("obj"); }, ErrorKind::storage, "fewer bytes");
  EXPECT_EQ(s.transport.verify(), "");
}

TEST(AzureStorage, TransportFailureNamesTheStore) {
  Scripted s;
  auto st = s.open();
  for (int i = 0; i < 3; ++i)
    s.transport.expect_error("HEAD", kBase + "x", "Couldn't connect to server", true);
  try {
    st->info("x");
    FAIL() << "expected an error";
  } catch (const TransportError& e) {
    std::string msg = e.what();
    EXPECT_TRUE(msg.starts_with("Azure: ")) << msg;
    EXPECT_NE(msg.find("Couldn't connect"), std::string::npos) << msg;
    EXPECT_TRUE(e.retryable());
  }
  EXPECT_EQ(s.transport.verify(), "");
}
