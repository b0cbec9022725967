// The object-store drivers' connections (src/core/storage/transport_pool.hpp):
// one storage object read from several threads at once (a chain restore)
// gives each request a transport no other thread is using, the requests run
// side by side, and sequential requests reuse one connection.
#include "transport_pool.hpp"

#include "doubles/scripted_transport.hpp"
#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/storage.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pgvault;
using namespace pgvault::http;
using namespace pgvault::test;
using pgvault::storage_internal::TransportPool;

namespace {

struct Counted : HttpTransport {
  explicit Counted(int id) : id(id) {}
  HttpResponse perform(const HttpRequest&) override { return ScriptedTransport::response(200); }
  int id;
};

TEST(TransportPool, ALeaseReturnsItsTransportForTheNextOne) {
  int created = 0;
  TransportPool pool([&] { return std::make_unique<Counted>(++created); }, "S3");
  for (int i = 0; i < 3; ++i) {
    TransportPool::Lease lease = pool.lease();
    EXPECT_EQ(dynamic_cast<Counted&>(*lease).id, 1);
  }
  EXPECT_EQ(created, 1);
}

TEST(TransportPool, LeasesHeldAtOnceEachGetTheirOwn) {
  int created = 0;
  TransportPool pool([&] { return std::make_unique<Counted>(++created); }, "S3");
  {
    TransportPool::Lease a = pool.lease();
    TransportPool::Lease b = pool.lease();
    EXPECT_NE(&*a, &*b);
  }
  EXPECT_EQ(created, 2);
  // Both came back: two more leases at once create nothing.
  TransportPool::Lease c = pool.lease();
  TransportPool::Lease d = pool.lease();
  EXPECT_EQ(created, 2);
}

TEST(TransportPool, KeepsAtMostMaxIdle) {
  std::atomic<int> alive{0};
  struct Tracked : HttpTransport {
    explicit Tracked(std::atomic<int>& n) : n(n) { ++n; }
    ~Tracked() override { --n; }
    HttpResponse perform(const HttpRequest&) override { return ScriptedTransport::response(200); }
    std::atomic<int>& n;
  };
  TransportPool pool([&] { return std::make_unique<Tracked>(alive); }, "Azure");
  {
    std::vector<TransportPool::Lease> many;
    for (std::size_t i = 0; i < TransportPool::kMaxIdle + 4; ++i) many.push_back(pool.lease());
    EXPECT_EQ(alive.load(), static_cast<int>(TransportPool::kMaxIdle + 4));
  }
  EXPECT_EQ(alive.load(), static_cast<int>(TransportPool::kMaxIdle));
}

TEST(TransportPool, AFactoryThatReturnsNothingIsAnErrorNamingTheStore) {
  TransportPool pool([] { return std::unique_ptr<HttpTransport>(); }, "GCS");
  expect_error([&] { (void)pool.lease(); }, ErrorKind::internal,
               "GCS: the transport factory returned nothing");
}

// A store whose every GET answers the whole object (206, as to a ranged
// GET), each request held by an OverlapGate; a transport entered by two
// threads at once is flagged.
struct OverlapStore {
  std::string content = std::string(3000, 'v');
  OverlapGate gate;
  std::atomic<int> created{0};
  std::atomic<bool> shared_use{false};

  class Transport : public HttpTransport {
   public:
    explicit Transport(OverlapStore& s) : s_(s) { ++s_.created; }
    HttpResponse perform(const HttpRequest& r) override {
      if (busy_.exchange(true)) s_.shared_use = true;
      s_.gate.enter();
      const std::string last = std::to_string(s_.content.size() - 1);
      HttpResponse resp = ScriptedTransport::response(
          206, s_.content,
          {{"Content-Range", "bytes 0-" + last + "/" + std::to_string(s_.content.size())},
           {"ETag", "\"e1\""}});
      if (r.body_sink) {
        r.body_sink(resp.body);
        resp.body.clear();
      }
      s_.gate.leave();
      busy_ = false;
      return resp;
    }

   private:
    OverlapStore& s_;
    std::atomic<bool> busy_{false};
  };

  TransportFactory factory() {
    return [this] { return std::make_unique<Transport>(*this); };
  }
};

RetryPolicy no_retry() {
  RetryPolicy p;
  p.max_attempts = 1;
  p.sleep = [](long) {};
  return p;
}

// Each store's driver over a test transport factory.
using OpenStorage = std::function<std::unique_ptr<Storage>(TransportFactory)>;

std::unique_ptr<Storage> open_s3(TransportFactory factory) {
  S3Config c;
  c.bucket = "b";
  c.region = "eu-west-1";
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "secret";
  return make_s3_storage(c, std::move(factory), no_retry());
}

std::unique_ptr<Storage> open_gcs(TransportFactory factory) {
  GcsConfig c;
  c.bucket = "bkt";
  c.hmac_access_id = "GOOG1EEXAMPLE";
  c.hmac_secret = "secret";
  return make_gcs_storage(c, std::move(factory), no_retry(), {});
}

std::unique_ptr<Storage> open_azure(TransportFactory factory) {
  AzureConfig c;
  c.account = "devstoreaccount1";
  c.container = "backups";
  c.endpoint = "http://127.0.0.1:10000/devstoreaccount1";
  c.sas_token = "sv=2020-10-02&sig=x";
  return make_azure_storage(c, std::move(factory), no_retry());
}

std::string store_name(const ::testing::TestParamInfo<OpenStorage>& info) {
  const char* const names[] = {"S3", "GCS", "Azure"};
  return names[info.index];
}

class ConcurrentReads : public ::testing::TestWithParam<OpenStorage> {};

TEST_P(ConcurrentReads, RunSideBySideOnTransportsOfTheirOwn) {
  OverlapStore store;
  const std::unique_ptr<Storage> storage = GetParam()(store.factory());
  std::string a, b;
  std::thread other([&] { a = storage->read_all("one/object"); });
  b = storage->read_all("another/object");
  other.join();
  EXPECT_EQ(a, store.content);
  EXPECT_EQ(b, store.content);
  EXPECT_EQ(store.gate.max_in_flight(), 2) << "the two reads did not overlap";
  EXPECT_FALSE(store.shared_use.load()) << "one transport carried two requests at once";

  // One thread after another: the idle connections are reused.
  const int created = store.created.load();
  store.gate.open();  // nothing to wait for
  for (int i = 0; i < 3; ++i) EXPECT_EQ(storage->read_all("one/object"), store.content);
  EXPECT_EQ(store.created.load(), created);
}

// A large object served range by range (206 with Content-Range and an
// ETag), as S3, GCS and Azure do; every request after the first (which finds
// the size) is held by an OverlapGate.
struct RangedStore {
  std::string content;
  OverlapGate gate;
  std::atomic<int> requests{0};
  std::atomic<int> if_match_missing{0};
  std::mutex mutex;
  std::vector<std::string> ranges;

  class Transport : public HttpTransport {
   public:
    explicit Transport(RangedStore& s) : s_(s) {}
    HttpResponse perform(const HttpRequest& r) override {
      std::string range, if_match;
      for (const auto& [k, v] : r.headers) {
        if (k == "range" || k == "x-ms-range") range = v;
        if (k == "if-match" || k == "If-Match") if_match = v;
      }
      std::size_t a = 0, b = 0;
      EXPECT_EQ(std::sscanf(range.c_str(), "bytes=%zu-%zu", &a, &b), 2) << range;
      b = std::min(b, s_.content.size() - 1);
      const bool gated = s_.requests++ > 0;
      if (gated && if_match != "\"e1\"") ++s_.if_match_missing;
      {
        std::lock_guard<std::mutex> lock(s_.mutex);
        s_.ranges.push_back(range);
      }
      if (gated) s_.gate.enter();
      HttpResponse resp = ScriptedTransport::response(
          206, "",
          {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                 std::to_string(s_.content.size())},
           {"ETag", "\"e1\""}});
      const std::string_view body = std::string_view(s_.content).substr(a, b - a + 1);
      if (r.body_sink) {
        r.body_sink(body);
      } else {
        resp.body = std::string(body);
      }
      if (gated) s_.gate.leave();
      return resp;
    }

   private:
    RangedStore& s_;
  };

  TransportFactory factory() {
    return [this] { return std::make_unique<Transport>(*this); };
  }
};

class LargeObjectReads : public ::testing::TestWithParam<OpenStorage> {};

// A large object's ranges after the first are fetched side by side (at most
// kDefaultRangesInFlight at once, each on its own connection), pinned to the
// first answer's ETag, and handed out in order.
TEST_P(LargeObjectReads, FetchTheirRangesSideBySideAndInOrder) {
  RangedStore store;
  store.content.resize(5 * (8u << 20) + 12345);
  for (std::size_t i = 0; i < store.content.size(); ++i)
    store.content[i] = static_cast<char>((i * 131 + i / 8191) & 0xff);
  const std::unique_ptr<Storage> storage = GetParam()(store.factory());
  EXPECT_TRUE(storage->read_all("big/object") == store.content) << "the bytes came back changed";
  EXPECT_GE(store.gate.max_in_flight(), 2) << "the ranges were fetched one after another";
  EXPECT_LE(store.gate.max_in_flight(), 3) << "more ranges in flight than allowed";
  EXPECT_EQ(store.requests.load(), 6);
  EXPECT_EQ(store.if_match_missing.load(), 0) << "a later range was not pinned to the ETag";
  std::vector<std::string> ranges = store.ranges;
  std::sort(ranges.begin(), ranges.end(), [](const std::string& x, const std::string& y) {
    return std::stoull(x.substr(6)) < std::stoull(y.substr(6));
  });
  EXPECT_EQ(ranges,
            (std::vector<std::string>{"bytes=0-8388607", "bytes=8388608-16777215",
                                      "bytes=16777216-25165823", "bytes=25165824-33554431",
                                      "bytes=33554432-41943039", "bytes=41943040-41955384"}));
}

// A reader given up midway (its caller failed) stops the ranges in flight
// and returns: nothing is left running against the store.
TEST_P(LargeObjectReads, AReaderGivenUpMidwayStopsItsRanges) {
  RangedStore store;
  store.content.assign(6 * (8u << 20), 'r');
  store.gate.open();
  const std::unique_ptr<Storage> storage = GetParam()(store.factory());
  {
    auto reader = storage->open_read("big/object");
    std::vector<std::byte> buf(1 << 20);
    ASSERT_EQ(reader->read(buf), buf.size());
  }
  const int after = store.requests.load();
  EXPECT_LE(after, 4) << "more than the first range and three ahead were asked for";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(store.requests.load(), after)
      << "ranges were still requested after the reader was gone";
}

INSTANTIATE_TEST_SUITE_P(Stores, LargeObjectReads,
                         ::testing::Values(OpenStorage(open_s3), OpenStorage(open_gcs),
                                           OpenStorage(open_azure)),
                         store_name);

INSTANTIATE_TEST_SUITE_P(Stores, ConcurrentReads,
                         ::testing::Values(OpenStorage(open_s3), OpenStorage(open_gcs),
                                           OpenStorage(open_azure)),
                         store_name);

}  // namespace
