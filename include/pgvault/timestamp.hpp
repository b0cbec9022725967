// The time stamps pgvault writes and reads, all UTC: ISO 8601 in
// backup.json, the compact form in backup names and SigV4's x-amz-date, and
// RFC 1123 dates in HTTP headers. Locale-independent.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace pgvault {

// "2026-11-24T06:15:30.123Z" for the current time.
std::string utc_timestamp_now();
// The current time in unix seconds.
std::int64_t unix_now();
// Unix seconds of an ISO 8601 UTC timestamp as produced above
// ("YYYY-MM-DDTHH:MM:SS[.fff]Z"); throws Error(invalid_argument) on anything else.
std::int64_t parse_utc_timestamp(std::string_view iso_utc);

// "20261124T061530Z": the compact form of t (backup names, SigV4's x-amz-date).
std::string compact_timestamp(std::time_t t);
// The same from an ISO timestamp as produced by utc_timestamp_now() (its
// fraction dropped); throws like parse_utc_timestamp().
std::string compact_timestamp(std::string_view iso_utc);

// RFC 1123 date in GMT, "Tue, 24 Nov 2026 07:02:12 GMT" (x-ms-date, Date).
std::string http_date(std::time_t t);
// The inverse: "Tue, 24 Nov 2026 07:02:12 GMT" (the weekday optional) ->
// unix seconds; 0 when malformed.
std::int64_t parse_http_date(std::string_view s);

}  // namespace pgvault
