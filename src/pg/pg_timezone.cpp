#include "pgvault/error.hpp"

#include "error_boundary.hpp"
#include "pg_timezone.hpp"

namespace pgvault::pg {

PgTimeZone::PgTimeZone(const std::string& name)
    : tz_(pg_guard([&] { return pg_tzset(name.c_str()); })) {
  if (tz_ == nullptr) {
    throw Error(ErrorKind::invalid_argument,
                "unknown time zone \"" + name +
                    "\"; use a name such as 'UTC', 'Europe/Berlin' or 'America/New_York' "
                    "(see pg_timezone_names)");
  }
}

int PgTimeZone::offset_at(std::int64_t unix_seconds) const {
  const pg_time_t t = static_cast<pg_time_t>(unix_seconds);
  const struct pg_tm* tm = pg_localtime(&t, tz_);
  return tm ? static_cast<int>(tm->tm_gmtoff) : 0;
}

}  // namespace pgvault::pg
