// The S3 driver's reader (s3_core.hpp), for S3 and GCS.
//
// Readers: the shared ranged reader (ranged_reader.hpp): signed GETs of
// 8 MiB ranges into one buffer, the size from Content-Range, 416 on the first
// range = an empty object, the first answer's ETag pinned with If-Match (an
// object replaced while it is read fails with a clear error instead of
// mixing two objects), cut-off bodies resumed where they stopped.
#include "pgvault/http/transport.hpp"
#include "pgvault/text.hpp"
#include "ranged_reader.hpp"
#include "s3_core.hpp"

#include <memory>
#include <string>
#include <utility>

namespace pgvault::storage_internal {

// The shared ranged reader (ranged_reader.hpp); S3's part is one signed GET
// with range and if-match (both signed).
std::unique_ptr<ObjectReader> open_s3_reader(const std::shared_ptr<S3Core>& core,
                                             const std::string& path) {
  RangedReaderSettings settings;
  settings.service = core->service();
  settings.path = path;
  settings.repository_url = core->url();
  settings.failure = [core](const RangeExchange& ex) {
    return core->failure({ex.request, ex.response});
  };
  settings.not_found_detail = [core](const http::HttpResponse& resp) {
    return S3Core::no_such_bucket(resp)
               ? " (bucket " + quoted(core->config().bucket) + " does not exist)"
               : std::string();
  };
  auto fetch = [core, key = core->key_of(path)](const RangeGet& get) {
    S3Request r;
    r.method = "GET";
    r.key = key;
    r.headers.emplace_back("range", "bytes=" + std::to_string(get.offset) + "-" +
                                        std::to_string(get.offset + get.length - 1));
    if (!get.if_match.empty()) r.headers.emplace_back("if-match", get.if_match);
    r.body_sink = get.sink;
    r.expected_bytes = get.length;
    S3Exchange ex = core->send(r);
    return RangeExchange{std::move(ex.request), std::move(ex.response)};
  };
  return open_ranged_reader(std::move(settings), std::move(fetch));
}

}  // namespace pgvault::storage_internal
